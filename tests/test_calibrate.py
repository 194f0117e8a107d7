"""Calibration and metrics on controlled data: each rule does what its docstring says."""

import numpy as np
import pytest

from model.policy import Policy, decide, softmax
from model.result import Decision, Reason
from model.wording import reason_words
from training.calibrate import (
    CalibrateParams,
    Outputs,
    accept_gate,
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
    assert policy.accept_ood_threshold <= policy.ood_threshold
    assert report["blueberry_accepted"] <= params.unknown_accepted_max


def test_a_sure_answer_on_a_photo_unlike_its_label_goes_to_a_specialist() -> None:
    policy = Policy(accept_threshold=0.9, ood_threshold=2.0, accept_ood_threshold=1.0)
    sure = np.array([0.95, 0.04, 0.01])
    assert policy.decide(sure, 0.5) == (Decision.ACCEPTED, None)
    assert policy.decide(sure, 1.5) == (Decision.NEEDS_SPECIALIST, Reason.UNFAMILIAR)
    assert policy.decide(sure, 2.5) == (Decision.OUT_OF_SCOPE, Reason.UNKNOWN_SUBJECT)
    assert policy.decide(np.array([0.6, 0.1, 0.3]), 1.5)[1] is Reason.LOW_CONFIDENCE
    # the gate travels in calibration.json; a calibration without one has no extra gate
    assert Policy.from_dict(policy.to_dict()).accept_ood_threshold == 1.0
    assert Policy.from_dict({"ood_threshold": 2.0}).decide(sure, 1.5)[0] is Decision.ACCEPTED
    # nor a group answer: the photo is unlike what the whole group was trained on, whereas
    # an unsure label within a sure group gets one
    gated = Policy(
        accept_threshold=0.9, ood_method="max_logit", ood_threshold=9.0, accept_ood_threshold=-9.0
    )
    labels, groups = ["a", "b", "c"], {"a": "spots", "b": "spots"}
    sure_logits = np.log(np.array([[0.95, 0.04, 0.01]]))
    unfamiliar = decide(gated, labels, groups, sure_logits, np.zeros((1, 4)))
    assert (unfamiliar.reason, unfamiliar.group) == (Reason.UNFAMILIAR, None)
    unsure = decide(gated, labels, groups, np.log(np.array([[0.5, 0.48, 0.02]])), np.zeros((1, 4)))
    assert unsure.reason is Reason.AMBIGUOUS and unsure.group is not None
    for lang in ("fr", "en"):
        assert reason_words(Reason.UNFAMILIAR, lang)  # the words every face shows


def test_the_acceptance_gate_is_the_loosest_that_keeps_unknowns_out() -> None:
    rng = np.random.default_rng(4)
    val_ood = rng.uniform(0, 1, 400)
    val_confidence = rng.uniform(0.5, 1, 400)
    val_correct = rng.uniform(0, 1, 400) < val_confidence  # calibrated
    unknown_ood = rng.uniform(0.3, 1.2, 100)
    unknown_confidence = rng.uniform(0.8, 1, 100)  # sure of themselves
    gate, threshold = accept_gate(
        val_confidence, val_correct, val_ood, unknown_confidence, unknown_ood, 1.0, 0.9, 0.1
    )

    def unknown_accepted(g: float) -> float:
        within = val_ood <= g
        t = accept_threshold(val_confidence[within], val_correct[within], 0.9)
        return float(np.mean((unknown_confidence >= t) & (unknown_ood <= g)))

    assert unknown_accepted(gate) <= 0.1
    assert threshold == accept_threshold(
        val_confidence[val_ood <= gate], val_correct[val_ood <= gate], 0.9
    )
    looser = np.unique(np.concatenate([val_ood, unknown_ood]))
    assert all(unknown_accepted(g) > 0.1 for g in looser[(looser > gate) & (looser <= 1.0)])
    # with unknowns that are never sure, no gate is needed beyond the out-of-scope threshold
    gate, _ = accept_gate(
        val_confidence, val_correct, val_ood, unknown_confidence * 0, unknown_ood, 1.0, 0.9, 0.1
    )
    assert gate == 1.0


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
