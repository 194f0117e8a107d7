"""Calibration and metrics on controlled data: each rule does what its docstring says."""

import numpy as np
import pytest

from model.policy import Policy, softmax
from model.result import Decision, Reason
from training.calibrate import (
    CalibrateParams,
    Outputs,
    accept_threshold,
    auroc,
    calibrate,
    fit_temperature,
)
from training.metrics import coverage_at, expected_calibration_error, macro_f1
from training.quality import threshold


def _sampled(temperature: float, n: int = 4000, classes: int = 5, seed: int = 0):
    """Logits whose labels are drawn from softmax(logits / temperature)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, size=(n, classes))
    probabilities = softmax(logits, temperature)
    targets = np.array([rng.choice(classes, p=p) for p in probabilities])
    return logits, targets


def test_temperature_scaling_recovers_the_true_temperature() -> None:
    logits, targets = _sampled(temperature=2.0)
    assert fit_temperature(logits, targets) == pytest.approx(2.0, rel=0.1)


def test_calibrated_probabilities_have_a_small_calibration_error() -> None:
    logits, targets = _sampled(temperature=2.0, seed=1)
    raw = softmax(logits)
    scaled = softmax(logits, fit_temperature(logits, targets))
    error_raw = expected_calibration_error(raw.max(1), raw.argmax(1) == targets)
    error_scaled = expected_calibration_error(scaled.max(1), scaled.argmax(1) == targets)
    assert error_scaled < 0.03 < error_raw


def test_the_accept_threshold_reaches_the_target_precision_with_the_most_coverage() -> None:
    confidence = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.9, 0.8, 0.7])
    correct = np.array([1, 1, 0, 1, 1, 1, 0, 1], dtype=bool)
    # the five most confident are 80% right, the six most 83%; the seven most fall to 71%
    assert accept_threshold(confidence, correct, 0.8) == pytest.approx(0.9)
    assert coverage_at(confidence, correct, 0.8) == pytest.approx(6 / 8)
    assert accept_threshold(confidence, correct, 1.0) == pytest.approx(0.98)
    assert accept_threshold(np.array([0.9]), np.array([False]), 0.98) == 1.0


def test_auroc_matches_its_definition() -> None:
    rng = np.random.default_rng(2)
    inside, outside = rng.normal(0, 1, 200), rng.normal(1, 1, 150)
    brute = np.mean([[o > i for i in inside] for o in outside])
    assert auroc(inside, outside) == pytest.approx(brute, abs=1e-9)


def test_macro_f1_weighs_rare_labels_like_common_ones() -> None:
    targets = np.array([0] * 98 + [1] * 2)
    predictions = np.zeros(100, dtype=int)  # never predicts the rare label
    assert macro_f1(predictions, targets, np.array([0, 1])) == pytest.approx((0.9899 + 0) / 2, 1e-3)


def test_calibration_ships_the_out_of_scope_score_that_catches_unknowns_best() -> None:
    rng = np.random.default_rng(3)
    centers = rng.normal(0, 1, size=(4, 16))

    def photos(n: int, label: int | None, shift: float = 0.0) -> Outputs:
        base = centers[label] if label is not None else rng.normal(0, 1, 16) * 0 + shift
        embeddings = base + rng.normal(0, 0.15, size=(n, 16))
        logits = embeddings @ centers.T * 4
        return Outputs(logits, embeddings, np.full(n, -1 if label is None else label))

    def mixed(n: int) -> Outputs:
        parts = [photos(n, label) for label in range(4)]
        return Outputs(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Outputs.__annotations__)
        )

    train, val = mixed(200), mixed(60)
    unknown = photos(80, None, shift=0.9)
    params = CalibrateParams(mahalanobis_dims=[4, 8])
    policy, report = calibrate(train, val, unknown, params)
    scores = policy.ood(unknown.logits, unknown.embeddings)
    assert np.mean(scores > policy.ood_threshold) >= 0.9
    assert np.mean(policy.ood(val.logits, val.embeddings) > policy.ood_threshold) <= 0.05
    assert report["ood_method"] in report["ood_candidates_val_vs_blueberry"]


def test_quality_threshold_sits_where_answers_become_guesses() -> None:
    brightness = np.array([2, 4, 6, 8, 10, 12, 40, 60, 80, 100, 120, 140], dtype=float)
    correct = np.array([0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1], dtype=bool)
    # right 1 in 3, then 1 in 3, then 3 in 3: photos darker than 40 are guesses
    assert threshold(brightness, correct, 0.5, bin_size=3) == 40
    assert threshold(brightness, np.ones(12, dtype=bool), 0.5, bin_size=3) is None


def test_a_photo_failing_a_quality_check_gets_that_reason() -> None:
    policy = Policy(quality={"brightness": 20.0, "sharpness": 5.0})
    assert policy.quality_problem({"brightness": 10.0, "sharpness": 50.0}) is Reason.TOO_DARK
    assert policy.quality_problem({"brightness": 90.0, "sharpness": 1.0}) is Reason.TOO_BLURRY
    assert policy.quality_problem({"brightness": 90.0, "sharpness": 50.0}) is None
    decision, reason = Policy(ood_threshold=1.0).decide(np.array([0.5, 0.45, 0.05]), 0.2)
    assert (decision, reason) == (Decision.NEEDS_SPECIALIST, Reason.AMBIGUOUS)
