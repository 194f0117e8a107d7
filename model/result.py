"""What an identification returns: the typed result shared by the CLI, the API and the app.

Inference (``model.identifier``) fills it; formatting for a user (catalog names, advice in a
language) happens elsewhere, from these fields. ``to_dict`` is the JSON contract documented in
``docs/architecture.md``.
"""

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Decision(StrEnum):
    ACCEPTED = "accepted"
    NEEDS_SPECIALIST = "needs_specialist"
    OUT_OF_SCOPE = "out_of_scope"


class Reason(StrEnum):
    """Why an answer was not accepted."""

    LOW_CONFIDENCE = "low_confidence"  # the best label is not sure enough
    AMBIGUOUS = "ambiguous"  # two labels too close to call
    UNFAMILIAR = "unfamiliar"  # confident, but unlike the photos the label was trained on
    TOO_DARK = "too_dark"
    TOO_BLURRY = "too_blurry"
    TOO_SMALL = "too_small"
    UNKNOWN_SUBJECT = "unknown_subject"  # not something the model knows (out of scope)
    CROP_NOT_COVERED = "crop_not_covered"  # the crop named is none of the bank's
    ASKED = "asked"  # the user asked a specialist, whatever the confidence


@dataclass(frozen=True)
class LabelScore:
    label: str
    probability: float


@dataclass(frozen=True)
class GroupAnswer:
    """A coarser answer when the label is uncertain but its catalog group is not."""

    group: str
    probability: float


@dataclass(frozen=True)
class Neighbour:
    """A similar photo of the reference bank."""

    label: str
    similarity: float
    photo_id: str
    source: str = ""


@dataclass(frozen=True)
class Identification:
    top_k: list[LabelScore]
    decision: Decision
    reason: Reason | None = None
    group: GroupAnswer | None = None
    out_of_scope_score: float = 0.0
    quality: dict[str, float] = field(default_factory=dict)
    neighbours: list[Neighbour] = field(default_factory=list)
    model_version: str = ""
    photos: int = 1
    # The crop the user named, as the policy read it (None: not named); see model.policy.
    crop: str | None = None

    @property
    def label(self) -> str:
        """The top label, whatever the decision."""
        return self.top_k[0].label

    @property
    def probability(self) -> float:
        """The top label's calibrated probability, whatever the decision."""
        return self.top_k[0].probability

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decision"] = self.decision.value
        data["reason"] = self.reason.value if self.reason else None
        return {"label": self.label, "probability": self.probability, **data}
