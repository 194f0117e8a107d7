"""What an identification returns: the typed result shared by the CLI, the API and the app.

Inference (``model.identifier``) fills it; what it means to a person is read from these fields
by ``model.answer``. ``to_dict`` is the JSON contract documented in ``docs/architecture.md``, and
``from_dict`` the one way back from a stored copy, whoever wrote it.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

_Code = TypeVar("_Code", bound=StrEnum)


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
    # a field photo judged against a label the bank knows from lab photos only (policy rule F)
    LAB_REFERENCES_ONLY = "lab_references_only"
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
class PredictionSet:
    """The short list (``model.short_list``): labels best first, containing the right one with
    probability ``coverage`` for photos like the bank's."""

    labels: list[str]
    coverage: float


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
    # The short list as the user was told it (None: a retake, out of scope, or an older model).
    prediction_set: PredictionSet | None = None
    # A stored decision or reason this code does not know (a newer server's or model's), by
    # field, as it was stored: ``decision`` then reads as needs_specialist (a person decides
    # what it means) and ``reason`` as None. Written back unchanged by to_dict.
    unread: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The top label, whatever the decision."""
        return self.top_k[0].label

    @property
    def probability(self) -> float:
        """The top label's calibrated probability, whatever the decision."""
        return self.top_k[0].probability

    @property
    def reason_code(self) -> str | None:
        """The reason as stored: this code's, or a newer model's id it does not know."""
        return self.unread.get("reason") or (self.reason.value if self.reason else None)

    @property
    def suggestion(self) -> str | None:
        """The label a specialist reviewing the answer checks first: the model's top label,
        whatever the person was told (a retake's or an unsure answer's included), unless the
        photo is out of scope (nothing of the bank to check against)."""
        return None if self.decision is Decision.OUT_OF_SCOPE else self.label

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["unread"]
        data["decision"] = self.decision.value
        data["reason"] = self.reason.value if self.reason else None
        data.update(self.unread)
        return {"label": self.label, "probability": self.probability, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Identification":
        """A stored ``to_dict()`` as the typed result, whichever version wrote it: keys it lacks
        take their defaults (an old row without ``top_k`` keeps its top label), and a decision
        or reason this code does not know is kept in :attr:`unread` rather than refused."""
        top_k = [
            LabelScore(str(s["label"]), float(s["probability"])) for s in data.get("top_k") or ()
        ]
        if not top_k:
            top_k = [LabelScore(str(data.get("label", "")), float(data.get("probability", 0.0)))]
        group = data.get("group")
        unread: dict[str, str] = {}
        decision = _code(Decision, data.get("decision"), "decision", unread)
        reason = _code(Reason, data.get("reason"), "reason", unread)
        return cls(
            top_k=top_k,
            decision=decision or Decision.NEEDS_SPECIALIST,
            reason=reason,
            group=GroupAnswer(str(group["group"]), float(group["probability"])) if group else None,
            out_of_scope_score=float(data.get("out_of_scope_score", 0.0)),
            quality={str(k): float(v) for k, v in (data.get("quality") or {}).items()},
            neighbours=[
                Neighbour(
                    str(n["label"]), float(n["similarity"]), str(n["photo_id"]), n.get("source", "")
                )
                for n in data.get("neighbours") or ()
            ],
            model_version=str(data.get("model_version", "")),
            photos=int(data.get("photos", 1)),
            crop=data.get("crop"),
            prediction_set=_prediction_set(data.get("prediction_set")),
            unread=unread,
        )


def _prediction_set(data: object) -> PredictionSet | None:
    if not isinstance(data, Mapping) or not data.get("labels"):
        return None
    return PredictionSet([str(label) for label in data["labels"]], float(data["coverage"]))


def _code(kind: type[_Code], value: object, name: str, unread: dict[str, str]) -> _Code | None:
    """``value`` as a member of ``kind``; None when absent, or unknown (then kept in ``unread``)."""
    if value is None or value == "":
        return None
    member = next((m for m in kind if m == value), None)
    if member is None:
        unread[name] = str(value)
    return member
