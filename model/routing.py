"""Which answers become a specialist's case by themselves: the one rule, for every face.

The specialists are few and their time is the lab's scarcest resource (issue 16): a case opens
by itself only where a specialist adds what the user cannot get otherwise, and first for the
farms, the lab's priority clientele. Asking explicitly always opens a case (or adds to the open
one), whatever the answer, so that a person can always be reached. In order:

1. An accepted answer stands: nothing opens (asking is offered, as after every answer).
2. A photo set aside for its quality (too dark, blurry, small: ``model.answer.RETAKE_REASONS``)
   asks for a retake: a better photo is the user's to take, not a specialist's to guess.
3. An out-of-scope answer (not a subject the bank covers, or a crop it does not) names nothing
   and offers a specialist: a cat or a coffee cup is not a case until someone asks.
4. A doubtful in-scope answer (low confidence, ambiguous, unfamiliar, known from lab photos
   only, or a reason this code does not know) opens a case for the agricultural profiles
   (:data:`AGRICULTURAL_PROFILES`) and offers one to the others.

The profile is the one the user's account implies (``api.services.identifications``), not the
one a request names: a request's profile changes the words of the answer, never the queue. The
rule reads the answer only, never the queue: the same photo gets the same decision and the same
routing with an empty or a full queue.
"""

from enum import StrEnum

from model.answer import RETAKE_REASONS
from model.i18n import Profile
from model.result import Decision, Identification

# The lab's priority clientele: their doubtful answers go to a specialist by themselves.
AGRICULTURAL_PROFILES: frozenset[Profile] = frozenset({"grower", "advisor"})


class Routing(StrEnum):
    SETTLED = "settled"  # accepted: the answer stands
    RETAKE = "retake"  # a retake is asked; nothing opens unless asked
    OFFER = "offer"  # asking a specialist is offered; nothing opens unless asked
    CASE = "case"  # a case opens by itself


def route(result: Identification, profile: Profile) -> Routing:
    """The routing of ``result`` for a user of ``profile`` who did not ask (rules above)."""
    if result.decision is Decision.ACCEPTED:
        return Routing.SETTLED
    if result.reason in RETAKE_REASONS:
        return Routing.RETAKE
    if result.decision is Decision.OUT_OF_SCOPE:
        return Routing.OFFER
    return Routing.CASE if profile in AGRICULTURAL_PROFILES else Routing.OFFER


def opens_case(result: Identification, profile: Profile, *, asked: bool) -> bool:
    """Whether a case opens: the user asked, or the rule opens one by itself."""
    return asked or route(result, profile) is Routing.CASE
