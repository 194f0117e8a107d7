"""The decision policy: when to answer, when to ask a specialist, when to say "out of scope".

This is the one documented place where scores are combined into a decision: :func:`decide`
applies the rules below to the network's outputs for the photos of one specimen, for the
identifier, calibration and evaluation alike. Every threshold
comes from ``calibration.json`` in the bundle, chosen on the validation split by
``training/calibrate.py`` (evaluation runs this same code, so the figures in the model card are
those of what ships):

0. A photo too dark, too blurry or too small to judge (``quality`` thresholds on
   ``model.quality`` measures, set where the model's accuracy on degraded validation photos
   collapses) needs a specialist, or a better photo; with several photos of one specimen, the
   photos that pass are used and the others set aside.
1. Probabilities are the softmax of ``logits / temperature`` (temperature scaling); several
   photos of one specimen are combined by averaging their logits (the geometric mean of their
   probabilities), which measured better than averaging probabilities or keeping the most
   confident photo (``training/specimens.py``, ``metrics/specimens.json``).
2. Out of scope when the out-of-scope score (higher = less like the training photos) is above
   ``ood_threshold``. The score's method is chosen at calibration among energy, maximum logit,
   maximum probability and two Mahalanobis distances of the embedding (to the nearest label,
   or to the predicted label relative to that label's spread).
3. Otherwise accepted when the top probability reaches ``accept_threshold`` and the
   out-of-scope score is at most ``accept_ood_threshold`` (stricter than ``ood_threshold``):
   a photo unlike its label's training photos is not accepted however sure the classifier is
   (a healthy raspberry leaf taken for a healthy strawberry one). Both are set on the validation
   split: the gate is the loosest that lets at most ``unknown_accepted_max`` of the blueberry
   photos be accepted, then the probability threshold the one that brings accepted answers to
   the target precision (98% by default).
4. Otherwise a specialist is needed: "unfamiliar" when only the gate of rule 3 failed,
   "ambiguous" when the two best labels are within ``ambiguity_margin`` of each other, "low
   confidence" otherwise.

Before rules 2 to 4, the crop the user names, when named (growers know their crop; a network
that has seen a crop only on lab photos easily takes its field photos for another crop's
disease), is context (:func:`crop_context`):

C. Labels whose catalog hosts exclude the named crop are ruled out: their logits are set to
   minus infinity, so the probabilities are renormalised over the labels that remain and none
   of them is ever proposed. Labels without hosts (most insects and weeds, ``weed.none``) stay.
   A crop that no label of the bank covers (``other``, a crop typed that the catalog does not
   know) rules out every crop-specific label; if the network's best label was one of them, the
   photo is out of scope with the reason "crop_not_covered" ("this crop is not in the bank")
   instead of naming another crop's disease.

After rules 2 to 4 and C, what the bank cannot know (:class:`FieldCheck`):

F. A photo that looks like a field photo (a linear lab-or-field score of its embedding above
   the threshold that flags at most 1% of the validation split's lab photos) judged against a
   label whose training photos are all lab photos (``lab_only``, e.g. every corn disease of
   the bank) is not accepted: a network taught on detached leaves on a plain sheet is wrong
   about most field photos of that crop and sure of itself too often (``metrics/
   field_proxy.json``) and, measured there, takes 8 in 10 of them for out of scope. It needs
   a specialist instead, with the reason "lab_references_only" and a hint to retake the leaf as
   the bank's photos show it: a sick leaf of a real crop must reach a person. Quality reasons
   stay first; a crop the bank does not cover (rule C) stays out of scope.

Last, the short list (``model.short_list``): every answer that names labels (not a retake, not
out of scope, not unfamiliar nor rule F's) carries the set of labels that contains the right
one with the policy's stated coverage (9 times in 10 for photos like the bank's), from the
same probabilities.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.result import (
    Decision,
    GroupAnswer,
    Identification,
    LabelScore,
    PredictionSet,
    Reason,
)
from model.short_list import ShortLists

# Quality measure -> the reason given when a photo falls below its threshold.
QUALITY_REASONS = {
    "brightness": Reason.TOO_DARK,
    "sharpness": Reason.TOO_BLURRY,
    "min_side": Reason.TOO_SMALL,
}

TOP_K = 5  # labels listed in an answer
# Answers that carry no short list besides out-of-scope ones: photos to retake, and photos the
# policy finds unlike the bank's (the short list's guarantee is about photos like the bank's).
_NO_SHORT_LIST = frozenset(
    {*QUALITY_REASONS.values(), Reason.UNFAMILIAR, Reason.LAB_REFERENCES_ONLY}
)

OOD_METHODS = ("energy", "max_logit", "max_probability", "mahalanobis", "class_mahalanobis")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    result: np.ndarray = exp / exp.sum(axis=-1, keepdims=True)
    return result


@dataclass(frozen=True)
class Mahalanobis:
    """Class-conditional Gaussians with a shared covariance, in a reduced embedding space
    (``projection``: a PCA of the training embeddings, which keeps the stored statistics small
    and the covariance well conditioned).

    ``class_scale``, when present, holds for each label the distance that 97% (say) of its
    validation photos stay within: the score is then the distance to the *predicted* label's
    mean divided by that label's scale, so that a tight label (lab photos of healthy
    strawberry leaves) rejects look-alikes (raspberry leaves) that a loose one would keep.
    """

    projection: np.ndarray  # (D, d)
    center: np.ndarray  # (D,)
    means: np.ndarray  # (C, d)
    precision: np.ndarray  # (d, d)
    class_scale: np.ndarray | None = None  # (C,)

    def distances(self, embeddings: np.ndarray) -> np.ndarray:
        """Squared distance of each row of ``embeddings`` to each class mean: (N, C)."""
        reduced = (np.atleast_2d(embeddings) - self.center) @ self.projection
        offsets = reduced[:, None, :] - self.means[None, :, :]
        result: np.ndarray = np.einsum("ncd,de,nce->nc", offsets, self.precision, offsets)
        return result

    def score(self, logits: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        distances = self.distances(embeddings)
        if self.class_scale is None:
            result: np.ndarray = distances.min(axis=1)
            return result
        predicted = np.atleast_2d(logits).argmax(axis=1)
        rows = np.arange(len(predicted))
        return distances[rows, predicted] / self.class_scale[predicted]

    def to_dict(self) -> dict[str, Any]:
        return {k: None if v is None else np.round(v, 6).tolist() for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Mahalanobis":
        def array(key: str) -> np.ndarray:
            return np.asarray(data[key], dtype=np.float64)

        scale = data.get("class_scale")
        return cls(
            projection=array("projection"),
            center=array("center"),
            means=array("means"),
            precision=array("precision"),
            class_scale=None if scale is None else np.asarray(scale, dtype=np.float64),
        )


def ood_scores(
    method: str,
    logits: np.ndarray,
    embeddings: np.ndarray,
    temperature: float,
    mahalanobis: Mahalanobis | None = None,
) -> np.ndarray:
    """Out-of-scope score of each row: higher means less like the training photos."""
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    if method == "energy":
        scaled = logits / temperature
        top = scaled.max(axis=1)
        return -temperature * (top + np.log(np.exp(scaled - top[:, None]).sum(axis=1)))
    if method == "max_logit":
        return -logits.max(axis=1)
    if method == "max_probability":
        return -softmax(logits, temperature).max(axis=1)
    if method in ("mahalanobis", "class_mahalanobis"):
        if mahalanobis is None:
            raise ValueError(f"the {method} score needs its statistics")
        return mahalanobis.score(logits, embeddings)
    raise ValueError(f"unknown out-of-scope method {method!r}; known: {OOD_METHODS}")


@dataclass(frozen=True)
class CropContext:
    """What rule C makes of the crop a user named, for one bundle's labels."""

    crop: str
    allowed: np.ndarray  # (C,) bool: the labels that stay
    specific: np.ndarray  # (C,) bool: the labels found on some crops only
    covered: bool  # some label of the bank is found on this crop

    def restrict(self, logits: np.ndarray) -> np.ndarray:
        """Logits with the ruled-out labels at minus infinity (all kept if none would stay)."""
        logits = np.asarray(logits, dtype=np.float64)
        return np.where(self.allowed, logits, -np.inf) if self.allowed.any() else logits

    def not_covered(self, best: int) -> bool:
        """True when the crop is none of the bank's and the best label is crop-specific."""
        return not self.covered and bool(self.specific[best])


def crop_context(
    labels: Sequence[str], hosts: Mapping[str, Sequence[str]], crop: str | None
) -> CropContext | None:
    """Rule C's context for ``crop`` (a catalog crop id, or any other word for a crop the bank
    does not cover), or None when no crop is named. ``hosts`` maps labels to their catalog
    hosts (``Catalog.hosts_by_label``); a label it does not list is crop-agnostic."""
    crop = (crop or "").strip().lower()
    if not crop:
        return None
    specific = np.array([bool(hosts.get(label)) for label in labels])
    found_on = np.array([crop in hosts.get(label, ()) for label in labels])
    return CropContext(crop, ~specific | found_on, specific, bool(found_on.any()))


@dataclass(frozen=True)
class FieldCheck:
    """Rule F's statistics: ``weights`` and ``bias`` give a photo's lab-or-field score from its
    embedding (higher: more like the field photos of training; a linear discriminant fitted by
    ``training/calibrate.py``), ``threshold`` the score from which a photo is taken for a field
    photo, and ``lab_only`` the labels whose training photos are all lab photos."""

    weights: np.ndarray  # (D,)
    bias: float
    threshold: float
    lab_only: frozenset[str]

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        result: np.ndarray = np.atleast_2d(embeddings) @ self.weights + self.bias
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": np.round(self.weights, 6).tolist(),
            "bias": round(self.bias, 6),
            "threshold": round(self.threshold, 6),
            "lab_only": sorted(self.lab_only),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FieldCheck":
        return cls(
            weights=np.asarray(data["weights"], dtype=np.float64),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            lab_only=frozenset(data["lab_only"]),
        )


@dataclass(frozen=True)
class Policy:
    temperature: float = 1.0
    accept_threshold: float = 0.9
    ambiguity_margin: float = 0.15
    ood_method: str = "max_probability"
    ood_threshold: float = float("inf")
    # No gate stricter than ``ood_threshold`` unless calibration sets one.
    accept_ood_threshold: float = float("inf")
    mahalanobis: Mahalanobis | None = None
    # Rule F's lab-or-field check (None: a bundle calibrated before it, rule F off).
    field_check: FieldCheck | None = None
    # Minimum of each quality measure (model.quality); a missing one is not checked.
    quality: dict[str, float] = field(default_factory=dict)
    # The short list's thresholds (None: a bundle calibrated before it, no short list).
    short_lists: ShortLists | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return softmax(logits, self.temperature)

    def ood(self, logits: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        return ood_scores(self.ood_method, logits, embeddings, self.temperature, self.mahalanobis)

    def quality_problem(self, quality: dict[str, float]) -> Reason | None:
        """Why a photo is too poor to judge, or None when it is fine."""
        for measure, reason in QUALITY_REASONS.items():
            minimum = self.quality.get(measure)
            if minimum is not None and quality.get(measure, float("inf")) < minimum:
                return reason
        return None

    def decide(self, probabilities: np.ndarray, ood_score: float) -> tuple[Decision, Reason | None]:
        """The decision for one photo (or one combined specimen) from its probabilities."""
        if ood_score > self.ood_threshold:
            return Decision.OUT_OF_SCOPE, Reason.UNKNOWN_SUBJECT
        first, second = np.sort(probabilities)[::-1][:2]
        if first >= self.accept_threshold:
            if ood_score <= self.accept_ood_threshold:
                return Decision.ACCEPTED, None
            return Decision.NEEDS_SPECIALIST, Reason.UNFAMILIAR
        if first - second < self.ambiguity_margin:
            return Decision.NEEDS_SPECIALIST, Reason.AMBIGUOUS
        return Decision.NEEDS_SPECIALIST, Reason.LOW_CONFIDENCE

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "accept_threshold": self.accept_threshold,
            "ambiguity_margin": self.ambiguity_margin,
            "ood_method": self.ood_method,
            "ood_threshold": self.ood_threshold,
            "accept_ood_threshold": self.accept_ood_threshold,
            "mahalanobis": self.mahalanobis.to_dict() if self.mahalanobis else None,
            **({"field_check": self.field_check.to_dict()} if self.field_check else {}),
            **({"short_lists": self.short_lists.to_dict()} if self.short_lists else {}),
            "quality": self.quality,
            **self.extras,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Policy":
        known = {"temperature", "accept_threshold", "ambiguity_margin", "ood_method", "quality"}
        stats, check = data.get("mahalanobis"), data.get("field_check")
        short_lists = data.get("short_lists")
        return cls(
            **{k: data[k] for k in known if k in data},
            ood_threshold=float(data.get("ood_threshold", float("inf"))),
            accept_ood_threshold=float(data.get("accept_ood_threshold", float("inf"))),
            mahalanobis=Mahalanobis.from_dict(stats) if stats else None,
            field_check=FieldCheck.from_dict(check) if check else None,
            short_lists=ShortLists.from_dict(short_lists) if short_lists else None,
            extras={
                k: v
                for k, v in data.items()
                if k
                not in known
                | {
                    "ood_threshold",
                    "accept_ood_threshold",
                    "mahalanobis",
                    "field_check",
                    "short_lists",
                }
            },
        )


def decide(
    policy: Policy,
    labels: Sequence[str],
    groups: Mapping[str, str],
    logits: np.ndarray,
    embeddings: np.ndarray,
    qualities: Sequence[dict[str, float]] = (),
    version: str = "",
    crop: CropContext | None = None,
) -> Identification:
    """The decision for the photos of one specimen: the one place where the outputs of the
    network for 1 to 5 photos become an answer (evaluation calls it too). The rules, in order,
    are those of ``model.policy``."""
    problems = [policy.quality_problem(q) for q in qualities] or [None] * len(logits)
    usable = np.array([problem is None for problem in problems])
    if not usable.any():
        usable[:] = True  # judge anyway, for the top labels shown; a specialist decides
    combined = logits[usable].mean(axis=0, keepdims=True)
    best = int(combined[0].argmax())
    if crop is not None:  # rule C: the labels the named crop rules out are never proposed
        logits, combined = crop.restrict(logits), crop.restrict(combined)
    probabilities = policy.probabilities(combined)[0]
    ood = float(policy.ood(logits[usable], embeddings[usable]).mean())
    decision, reason = policy.decide(probabilities, ood)
    if crop is not None and crop.not_covered(best):
        decision, reason = Decision.OUT_OF_SCOPE, Reason.CROP_NOT_COVERED
    if reason is not Reason.CROP_NOT_COVERED and _lab_references_only(
        policy, labels[int(probabilities.argmax())], embeddings[usable]
    ):
        decision, reason = Decision.NEEDS_SPECIALIST, Reason.LAB_REFERENCES_ONLY
    if all(problem is not None for problem in problems):
        decision, reason = Decision.NEEDS_SPECIALIST, problems[0]
    order = [i for i in np.argsort(-probabilities)[:TOP_K] if probabilities[i] > 0]
    top_k = [LabelScore(labels[i], round(float(probabilities[i]), 6)) for i in order]
    group = None
    # A group answer for an unsure label, not for a photo unlike everything trained on.
    if decision is not Decision.ACCEPTED and reason not in (
        Reason.UNKNOWN_SUBJECT,
        Reason.UNFAMILIAR,
        Reason.CROP_NOT_COVERED,
        Reason.LAB_REFERENCES_ONLY,
    ):
        group = _group_answer(policy, labels, groups, probabilities)
    return Identification(
        prediction_set=_prediction_set(policy, labels, probabilities, decision, reason),
        top_k=top_k,
        decision=decision,
        reason=reason,
        group=group,
        out_of_scope_score=round(ood, 6),
        quality=_best(qualities),
        model_version=version,
        photos=len(logits),
        crop=crop.crop if crop is not None else None,
    )


def _prediction_set(
    policy: Policy,
    labels: Sequence[str],
    probabilities: np.ndarray,
    decision: Decision,
    reason: Reason | None,
) -> PredictionSet | None:
    """The short list, for an answer that names labels: none for a photo to retake or out of
    scope, nor for one the policy finds unlike the bank's photos (``unfamiliar``, rule F's
    ``lab_references_only``): the set's coverage holds for photos like the bank's, and on the
    field proxy's orchard photos it held for 0.20 of them, no better than the top label."""
    lists = policy.short_lists
    if lists is None or decision is Decision.OUT_OF_SCOPE or reason in _NO_SHORT_LIST:
        return None
    return PredictionSet([labels[i] for i in lists.indices(probabilities)], lists.coverage)


def _lab_references_only(policy: Policy, label: str, embeddings: np.ndarray) -> bool:
    """Rule F: the photos look like field photos and ``label`` is known from lab photos only."""
    check = policy.field_check
    if check is None or label not in check.lab_only:
        return False
    return float(check.score(embeddings).mean()) > check.threshold


def _group_answer(
    policy: Policy, labels: Sequence[str], groups: Mapping[str, str], probabilities: np.ndarray
) -> GroupAnswer | None:
    totals: dict[str, float] = {}
    for label, probability in zip(labels, probabilities, strict=True):
        group = groups.get(label)
        if group:
            totals[group] = totals.get(group, 0.0) + float(probability)
    if not totals:
        return None
    best = max(totals, key=lambda g: totals[g])
    if totals[best] >= policy.accept_threshold:
        return GroupAnswer(best, round(totals[best], 6))
    return None


def _best(qualities: Sequence[dict[str, float]]) -> dict[str, Any]:
    """The quality of a specimen's photos is that of its best photo on each measure."""
    if not qualities:
        return {}
    return {key: max(q[key] for q in qualities) for key in qualities[0]}
