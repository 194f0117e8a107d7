"""The short list (model/short_list.py): calibrated per catalog category, never empty, kept
out of retakes and out-of-scope answers, stored with the answer and read back unchanged."""

import numpy as np
import pytest

from model.answer import first_choices
from model.policy import Policy, decide, softmax
from model.result import Decision, Identification, LabelScore, PredictionSet, Reason
from model.short_list import ShortLists
from training.calibrate import CalibrateParams, Outputs, conformal_quantile, fit_short_lists

LABELS = ["a", "b", "c", "d", "e", "f"]
# two categories: a to c are easy (sharp logits), d to f are hard (flat logits)
CATEGORIES = ["disease", "disease", "disease", "insect", "insect", "insect"]


def _photos(n: int, seed: int) -> Outputs:
    """Logits whose labels are drawn from their own softmax: the disease labels confidently
    told apart, the insect labels barely."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 6, size=n)
    logits = rng.normal(0, 0.3, size=(n, 6))
    sharp = np.where(targets < 3, 6.0, 1.2)
    logits[np.arange(n), targets] += sharp * rng.uniform(0.2, 1.0, size=n)
    drawn = np.array([rng.choice(6, p=p) for p in softmax(logits)])
    return Outputs(logits, np.zeros((n, 4)), drawn)


def test_the_conformal_quantile_is_the_finite_sample_rank() -> None:
    scores = np.arange(1, 10, dtype=float)  # n = 9: rank ceil(10 * 0.9) = 9
    assert conformal_quantile(scores, 0.9) == 9.0
    assert conformal_quantile(scores, 0.8) == 8.0
    assert conformal_quantile(scores, 0.95) == float("inf")  # too few photos to promise it


def test_the_sets_reach_their_coverage_in_each_category_and_are_never_empty() -> None:
    val, test = _photos(3000, seed=0), _photos(3000, seed=1)
    lists = fit_short_lists(val, 1.0, CATEGORIES, CalibrateParams())
    probabilities = softmax(test.logits)
    rows = np.arange(len(test.targets))
    for level in (0.9, 0.95):
        sets = lists.masks(probabilities, level)
        assert sets.sum(axis=1).min() >= 1
        for category in ("disease", "insect"):
            mine = np.isin(test.targets, [i for i, c in enumerate(CATEGORIES) if c == category])
            assert sets[rows[mine], test.targets[mine]].mean() == pytest.approx(level, abs=0.03)
    # the hard category gets the larger sets: one threshold for all would under-cover it
    sets = lists.masks(probabilities, 0.9)
    assert sets[test.targets >= 3].sum(axis=1).mean() > sets[test.targets < 3].sum(axis=1).mean()


def test_a_set_lists_its_labels_best_first_with_the_top_label_always_in() -> None:
    lists = ShortLists(0.9, {0.9: np.array([0.2, 0.2, 0.2, 0.9, 0.9, 0.9])})
    assert lists.indices(np.array([0.1, 0.3, 0.05, 0.5, 0.03, 0.02])) == [3, 1]
    # nothing reaches its threshold: the top label alone
    assert lists.indices(np.array([0.15, 0.1, 0.1, 0.25, 0.2, 0.2])) == [3]
    back = ShortLists.from_dict(lists.to_dict())
    assert back.coverage == 0.9 and np.array_equal(back.levels[0.9], lists.levels[0.9])
    with pytest.raises(ValueError, match=r"no thresholds for the coverage 0\.95"):
        ShortLists.from_dict({**lists.to_dict(), "coverage": 0.95})


def _policy(**overrides: object) -> Policy:
    lists = ShortLists(0.9, {0.9: np.full(6, 0.2)})
    return Policy.from_dict(
        {
            **Policy(accept_threshold=0.9, ood_threshold=5.0, short_lists=lists).to_dict(),
            "ood_method": "max_logit",
            **overrides,
        }
    )


@pytest.mark.parametrize(
    ("logits", "quality", "decision", "expected"),
    [
        ([4.0, 3.5, 0, 0, 0, 0], {}, Decision.NEEDS_SPECIALIST, ["a", "b"]),
        ([9.0, 0, 0, 0, 0, 0], {}, Decision.ACCEPTED, ["a"]),
        ([4.0, 3.5, 0, 0, 0, 0], {"brightness": 0.0}, Decision.NEEDS_SPECIALIST, None),
        ([-9.0, -9.5, -10, -10, -10, -10], {}, Decision.OUT_OF_SCOPE, None),
        ([7.5, 0, 0, 0, 0, 0], {}, Decision.NEEDS_SPECIALIST, None),  # sure, but unfamiliar
    ],
    ids=["unsure", "accepted", "retake", "out-of-scope", "unfamiliar"],
)
def test_decide_carries_the_short_list_except_for_a_retake_out_of_scope_or_unfamiliar(
    logits: list[float], quality: dict[str, float], decision: Decision, expected: list[str] | None
) -> None:
    policy = _policy(quality={"brightness": 0.5}, accept_ood_threshold=-8.0)
    result = decide(
        policy,
        LABELS,
        {},
        np.array([logits]),
        np.zeros((1, 4)),
        qualities=[{"brightness": 1.0, **quality}],
    )
    assert result.decision is decision
    assert (result.prediction_set.labels if result.prediction_set else None) == expected
    # stored and read back, the user is told the same list
    assert Identification.from_dict(result.to_dict()).prediction_set == result.prediction_set


def test_a_policy_without_short_lists_answers_without_one() -> None:
    policy = Policy.from_dict({**_policy().to_dict(), "short_lists": None})
    result = decide(policy, LABELS, {}, np.array([[4.0, 3.5, 0, 0, 0, 0]]), np.zeros((1, 4)))
    assert result.prediction_set is None and "prediction_set" in result.to_dict()


def test_a_specialist_is_offered_the_short_list_first_or_else_the_top_labels() -> None:
    top = [LabelScore("a", 0.6), LabelScore("b", 0.395), LabelScore("c", 0.005)]
    older = Identification(top_k=top, decision=Decision.NEEDS_SPECIALIST, reason=Reason.AMBIGUOUS)
    assert first_choices(older) == ("a", "b")  # c is noise, as the reading says
    told = Identification(
        top_k=top,
        decision=Decision.NEEDS_SPECIALIST,
        prediction_set=PredictionSet(["b", "a", "c"], 0.9),
    )
    assert first_choices(told) == ("b", "a", "c")
