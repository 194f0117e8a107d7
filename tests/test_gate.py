"""The publication gate on synthetic test splits: each rule of training/gate.py does what it says.

A "model" here is its per-photo correctness and confidence on a fixed test split with labels of
very different sizes (40 photos down to 3); a candidate is the current model with given photos
of given labels lost or gained, so each scenario states exactly what changed.
"""

import json

import numpy as np
import pytest

from model.result import Decision
from training.gate import GateParams, align, decide, write_report
from training.metrics import Scored
from training.params import load_params

LABELS = [
    "apple.scab",
    "apple.fire_blight",
    "corn.common_rust",
    "insect.japanese_beetle",
    "weed.common_ragweed",
    "apple.healthy",
]
SUPPORT = [40, 8, 40, 3, 30, 30]
TARGETS = np.repeat(np.arange(len(LABELS)), SUPPORT)
# The current model's right answers per label (the 8-photo label: 7, the 3-photo label: all).
CURRENT_RIGHT = [33, 7, 34, 3, 25, 28]
PARAMS = GateParams()


def _scored(targets: np.ndarray, correct: np.ndarray, confidence: np.ndarray) -> Scored:
    """Calibrated probabilities with ``confidence`` on the predicted label (the target when
    ``correct``, else a fixed other label) and the rest spread evenly; accepted at 0.9."""
    classes = len(LABELS)
    wrong = (targets + 1 + np.arange(len(targets)) % (classes - 1)) % classes
    predictions = np.where(correct, targets, wrong)
    probabilities = np.repeat(((1 - confidence) / (classes - 1))[:, None], classes, axis=1)
    probabilities[np.arange(len(targets)), predictions] = confidence
    decisions = [
        Decision.ACCEPTED if p >= 0.9 else Decision.NEEDS_SPECIALIST
        for p in probabilities.max(axis=1)
    ]
    return Scored(probabilities, targets.copy(), decisions)


def _current() -> tuple[np.ndarray, np.ndarray]:
    """Correctness and confidence: right answers mostly sure, wrong ones mostly unsure, with
    the overlap a calibrated model has."""
    rng = np.random.default_rng(0)
    correct = np.concatenate(
        [np.arange(n) < right for n, right in zip(SUPPORT, CURRENT_RIGHT, strict=True)]
    )
    confidence = np.where(
        correct, rng.uniform(0.6, 1.0, len(correct)), rng.uniform(0.35, 0.89, len(correct))
    )
    return correct, confidence


def _candidate(lose: dict[str, int], gain: dict[str, int], seed: int = 1) -> Scored:
    """The current model with ``lose[label]`` right photos turned wrong (unsure) and
    ``gain[label]`` wrong photos turned right (sure); every other photo unchanged."""
    rng = np.random.default_rng(seed)
    correct, confidence = _current()
    correct, confidence = correct.copy(), confidence.copy()
    for label, count in lose.items():
        mine = np.equal(TARGETS, LABELS.index(label))
        right = np.flatnonzero(mine & correct)[:count]
        assert len(right) == count
        correct[right] = False
        confidence[right] = rng.uniform(0.35, 0.6, count)
    for label, count in gain.items():
        mine = np.equal(TARGETS, LABELS.index(label))
        wrong = np.flatnonzero(mine & ~correct)[:count]
        assert len(wrong) == count
        correct[wrong] = True
        confidence[wrong] = rng.uniform(0.9, 1.0, count)
    return _scored(TARGETS, correct, confidence)


def _current_scored() -> Scored:
    return _scored(TARGETS, *_current())


def test_a_better_candidate_with_no_label_worse_is_published() -> None:
    candidate = _candidate(lose={}, gain={"apple.scab": 4, "corn.common_rust": 3})
    report = decide(current=_current_scored(), candidate=candidate, labels=LABELS, params=PARAMS)

    assert report.published
    assert report.reasons == ()
    assert report.after.top1 > report.before.top1
    assert report.after.coverage_at_target >= report.before.coverage_at_target
    assert report.improved_labels == ("apple.scab", "corn.common_rust")
    assert report.failing_labels == report.worse_labels == ()
    scab = next(row for row in report.labels if row.label == "apple.scab")
    assert (scab.support, scab.before_hits, scab.after_hits, scab.lost, scab.gained) == (
        40,
        33,
        37,
        0,
        4,
    )


def test_a_candidate_better_overall_that_loses_one_label_beyond_the_rule_is_rejected() -> None:
    # 6 of the 8 fire blight photos lost (p = 1/64), 10 photos gained on other labels.
    candidate = _candidate(
        lose={"apple.fire_blight": 6},
        gain={"apple.scab": 5, "corn.common_rust": 3, "weed.common_ragweed": 2},
    )
    report = decide(current=_current_scored(), candidate=candidate, labels=LABELS, params=PARAMS)

    assert report.after.top1 > report.before.top1
    assert report.after.coverage_at_target >= report.before.coverage_at_target
    assert not report.published
    assert report.failing_labels == ("apple.fire_blight",)
    assert len(report.reasons) == 1
    assert "apple.fire_blight" in report.reasons[0]
    assert "6 of its 8" in report.reasons[0]
    blight = next(row for row in report.labels if row.label == "apple.fire_blight")
    assert blight.p == pytest.approx(1 / 64)


def test_a_label_losing_two_of_three_photos_by_chance_does_not_fail() -> None:
    candidate = _candidate(lose={"insect.japanese_beetle": 2}, gain={"apple.scab": 4})
    report = decide(current=_current_scored(), candidate=candidate, labels=LABELS, params=PARAMS)

    beetle = next(row for row in report.labels if row.label == "insect.japanese_beetle")
    assert (beetle.support, beetle.lost, beetle.gained) == (3, 2, 0)
    assert beetle.p == pytest.approx(0.25)
    assert report.worse_labels == ("insect.japanese_beetle",)
    assert report.failing_labels == ()
    assert report.published, report.reasons


def test_overall_top1_fails_on_a_significant_loss_not_on_one_photo() -> None:
    """151 test photos and a tolerance (5 points) wider than either loss: one photo lost is not
    worse; six lost over six labels fail no label, but the paired test over all photos."""
    wide = GateParams(overall_tolerance=0.05)
    one = _candidate({"apple.scab": 1}, {})
    assert decide(current=_current_scored(), candidate=one, labels=LABELS, params=wide).published
    spread = {label: 1 for label in LABELS}
    report = decide(
        current=_current_scored(), candidate=_candidate(spread, {}), labels=LABELS, params=wide
    )
    assert not report.published and not report.failing_labels
    assert report.reasons[0].startswith("top-1 fell") and "paired test: 6 lost" in report.reasons[0]


def test_a_candidate_on_shuffled_labels_is_rejected() -> None:
    current = _current_scored()
    order = np.random.default_rng(2).permutation(len(TARGETS))
    shuffled = Scored(
        current.probabilities[order], TARGETS.copy(), [current.decisions[i] for i in order]
    )
    report = decide(current=current, candidate=shuffled, labels=LABELS, params=PARAMS)

    assert not report.published
    assert report.after.top1 < 0.5 < report.before.top1
    assert any(reason.startswith("top-1 fell") for reason in report.reasons)
    assert any(reason.startswith("coverage at 98% precision fell") for reason in report.reasons)
    assert report.failing_labels


def _cases(photos: int, *, candidate_wrong: int) -> tuple[Scored, Scored]:
    """Confirmed cases: the current model accepts 12 of 20, all right; the candidate accepts
    14, ``candidate_wrong`` of them wrong."""
    targets = np.arange(20) % len(LABELS)
    sure = np.where(np.arange(20) < 12, 0.95, 0.7)
    current = _scored(targets, np.ones(20, dtype=bool), sure)
    correct = np.arange(20) >= candidate_wrong
    candidate = _scored(targets, correct, np.where(np.arange(20) < 14, 0.95, 0.7))
    keep = np.arange(20) < photos
    return current.subset(keep), candidate.subset(keep)


def test_a_candidate_less_precise_on_the_confirmed_cases_is_rejected() -> None:
    current = _current_scored()

    report = decide(
        current=current,
        candidate=current,
        labels=LABELS,
        params=PARAMS,
        cases=_cases(20, candidate_wrong=2),
    )
    assert not report.published
    assert report.cases.checked and not report.cases.passed
    assert report.cases.before is not None and report.cases.after is not None
    assert report.cases.before.accepted_precision == 1.0
    assert report.cases.after.accepted_precision == pytest.approx(12 / 14)
    assert report.reasons == (f"less precise on the confirmed cases: {report.cases.note}",)

    as_precise = _cases(20, candidate_wrong=0)
    report = decide(
        current=current, candidate=current, labels=LABELS, params=PARAMS, cases=as_precise
    )
    assert report.published and report.cases.checked and report.cases.passed


def test_too_few_confirmed_case_photos_are_not_checked_and_the_report_says_so() -> None:
    current = _current_scored()
    few = _cases(6, candidate_wrong=2)
    report = decide(current=current, candidate=current, labels=LABELS, params=PARAMS, cases=few)

    assert report.published
    assert not report.cases.checked
    assert report.cases.note == "too few confirmed-case test photos (6 < 10): not checked"
    assert report.cases.note in report.markdown()

    none = decide(current=current, candidate=current, labels=LABELS, params=PARAMS)
    assert none.cases.note == "too few confirmed-case test photos (0 < 10): not checked"


def test_the_report_is_json_and_markdown_names_the_decision(tmp_path) -> None:
    candidate = _candidate(
        lose={"apple.fire_blight": 6},
        gain={"apple.scab": 5, "corn.common_rust": 3, "weed.common_ragweed": 2},
    )
    report = decide(current=_current_scored(), candidate=candidate, labels=LABELS, params=PARAMS)

    data = json.loads(json.dumps(report.to_dict()))
    assert data["published"] is False
    assert data["failing_labels"] == ["apple.fire_blight"]
    assert data["params"]["label_p"] == 0.05
    text = report.markdown()
    assert "**Decision: rejected.**" in text
    assert "Labels failing the rule: apple.fire_blight." in text
    assert "Labels improved: apple.scab, corn.common_rust, weed.common_ragweed." in text
    assert report.reasons[0] in text

    write_report(report, tmp_path)
    assert json.loads((tmp_path / "gate.json").read_text(encoding="utf-8")) == data
    assert (tmp_path / "GATE.md").read_text(encoding="utf-8") == text


def test_align_reorders_a_candidate_onto_the_current_labels() -> None:
    current = _current_scored()
    reversed_labels = LABELS[::-1]
    columns = [LABELS.index(label) for label in reversed_labels]
    inverse = np.array([reversed_labels.index(label) for label in LABELS])
    other_order = Scored(
        current.probabilities[:, columns], inverse[current.targets], list(current.decisions)
    )

    aligned = align(other_order, from_labels=reversed_labels, to_labels=LABELS)
    np.testing.assert_array_equal(aligned.probabilities, current.probabilities)
    np.testing.assert_array_equal(aligned.targets, current.targets)
    with pytest.raises(ValueError, match=r"weed\.new"):
        align(current, from_labels=[*LABELS[:-1], "weed.new"], to_labels=LABELS)


def test_gate_params_are_read_from_their_section(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("gate:\n  label_min_lost: 3\n", encoding="utf-8")
    assert load_params("gate", GateParams, path) == GateParams(label_min_lost=3)
    path.write_text("gate:\n  label_min_lots: 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="label_min_lots"):
        load_params("gate", GateParams, path)
