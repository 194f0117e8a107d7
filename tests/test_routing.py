"""The case rule (``model.routing``) as a table: decision x reason x profile, asked or not."""

import pytest

from model.i18n import PROFILES
from model.result import Decision, Identification, LabelScore, Reason
from model.routing import AGRICULTURAL_PROFILES, Routing, opens_case, route

AGRICULTURAL = ("grower", "advisor")
OTHERS = ("citizen", "researcher")

# (decision, reason, routing for the agricultural profiles, routing for the others)
TABLE = [
    (Decision.ACCEPTED, None, Routing.SETTLED, Routing.SETTLED),
    (Decision.NEEDS_SPECIALIST, Reason.TOO_DARK, Routing.RETAKE, Routing.RETAKE),
    (Decision.NEEDS_SPECIALIST, Reason.TOO_BLURRY, Routing.RETAKE, Routing.RETAKE),
    (Decision.NEEDS_SPECIALIST, Reason.TOO_SMALL, Routing.RETAKE, Routing.RETAKE),
    (Decision.OUT_OF_SCOPE, Reason.UNKNOWN_SUBJECT, Routing.OFFER, Routing.OFFER),
    (Decision.OUT_OF_SCOPE, Reason.CROP_NOT_COVERED, Routing.OFFER, Routing.OFFER),
    (Decision.NEEDS_SPECIALIST, Reason.LOW_CONFIDENCE, Routing.CASE, Routing.OFFER),
    (Decision.NEEDS_SPECIALIST, Reason.AMBIGUOUS, Routing.CASE, Routing.OFFER),
    (Decision.NEEDS_SPECIALIST, Reason.UNFAMILIAR, Routing.CASE, Routing.OFFER),
    (Decision.NEEDS_SPECIALIST, Reason.LAB_REFERENCES_ONLY, Routing.CASE, Routing.OFFER),
    (Decision.NEEDS_SPECIALIST, None, Routing.CASE, Routing.OFFER),  # a reason not known here
]


def _result(decision: Decision, reason: Reason | None) -> Identification:
    return Identification(
        top_k=[LabelScore("apple.scab", 0.6), LabelScore("apple.black_rot", 0.3)],
        decision=decision,
        reason=reason,
    )


def test_the_agricultural_profiles_are_the_farms() -> None:
    assert frozenset(AGRICULTURAL) == AGRICULTURAL_PROFILES
    assert set(AGRICULTURAL) | set(OTHERS) == set(PROFILES)


@pytest.mark.parametrize(("decision", "reason", "farms", "others"), TABLE)
def test_the_case_rule(
    decision: Decision, reason: Reason | None, farms: Routing, others: Routing
) -> None:
    result = _result(decision, reason)
    for profile in AGRICULTURAL:
        assert route(result, profile) is farms
        assert opens_case(result, profile, asked=False) is (farms is Routing.CASE)
    for profile in OTHERS:
        assert route(result, profile) is others
        assert opens_case(result, profile, asked=False) is (others is Routing.CASE)
    for profile in PROFILES:  # asking always opens a case
        assert opens_case(result, profile, asked=True)
