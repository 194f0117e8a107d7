"""The identifier: one photo, or up to five photos of one specimen, to a calibrated decision.

Used as it is by the CLI, the API and the field app: decode (``model.imaging``), measure
quality (``model.quality``), preprocess (``model.preprocess``), run the ONNX graph (ONNX
Runtime, fp32 or int8), then decide (``model.policy``). Formatting for a user (names, advice,
language) is done by the callers from the returned :class:`~model.result.Identification`.
"""

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from model.bundle import Bundle, load_bundle
from model.gallery import Gallery
from model.imaging import decode_image
from model.policy import Policy
from model.preprocess import preprocess
from model.quality import measure
from model.result import Decision, GroupAnswer, Identification, LabelScore, Reason

log = logging.getLogger(__name__)

MAX_PHOTOS = 5
TOP_K = 5
NEIGHBOURS = 6
Photo = bytes | Image.Image


@dataclass(frozen=True)
class Prepared:
    """A photo ready for the network, with its quality measures."""

    tensor: np.ndarray
    quality: dict[str, float]


class Identifier:
    """A loaded bundle with its ONNX Runtime session and decision policy."""

    def __init__(
        self,
        bundle: Bundle,
        session: ort.InferenceSession,
        groups: Mapping[str, str] | None = None,
        gallery: Gallery | None = None,
    ) -> None:
        self.bundle = bundle
        self.session = session
        self.policy = Policy.from_dict(bundle.calibration)
        self.groups = dict(groups or {})
        self.gallery = gallery

    @classmethod
    def from_bundle(
        cls,
        folder: Path,
        variant: str = "fp32",
        threads: int = 1,
        groups: Mapping[str, str] | None = None,
        check: bool = True,
        gallery: Gallery | None = None,
    ) -> "Identifier":
        """Load and verify a bundle; ``groups`` maps labels to catalog groups, for the coarser
        answer given when a label is uncertain but its group is not; ``gallery`` (of this
        bundle's model version) adds similar reference photos to every answer."""
        bundle = load_bundle(folder, check=check)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(
            str(bundle.model_path(variant)), options, providers=["CPUExecutionProvider"]
        )
        return cls(bundle, session, groups, gallery)

    def with_gallery(self, gallery: Gallery | None) -> "Identifier":
        """The same model (and ONNX session) answering with ``gallery``'s similar photos."""
        return type(self)(self.bundle, self.session, self.groups, gallery)

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def labels(self) -> tuple[str, ...]:
        return self.bundle.labels

    def prepare(self, photo: Photo) -> Prepared:
        image = (
            decode_image(photo, min_side=self.bundle.preprocess.size)
            if isinstance(photo, bytes)
            else photo
        )
        return Prepared(preprocess(image, self.bundle.preprocess), measure(image))

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and embeddings of a batch of preprocessed photos."""
        logits, embeddings = self.session.run(None, {"image": batch.astype(np.float32)})
        return logits, embeddings

    def identify(self, photos: Sequence[Photo]) -> Identification:
        """Identify one specimen from 1 to 5 photos; raises ``ImageError`` on an unusable one."""
        if not 1 <= len(photos) <= MAX_PHOTOS:
            raise ValueError(
                f"between 1 and {MAX_PHOTOS} photos of one specimen, not {len(photos)}"
            )
        prepared = [self.prepare(photo) for photo in photos]
        logits, embeddings = self.infer(np.stack([p.tensor for p in prepared]))
        result = self.decide(logits, embeddings, [p.quality for p in prepared])
        if self.gallery is None:
            return result
        # The specimen's photos together: their mean embedding, back on the unit sphere.
        mean = embeddings.mean(axis=0)
        neighbours = self.gallery.query(mean / (np.linalg.norm(mean) or 1.0), k=NEIGHBOURS)
        return dataclasses.replace(result, neighbours=neighbours)

    def decide(
        self,
        logits: np.ndarray,
        embeddings: np.ndarray,
        qualities: Sequence[dict[str, float]] = (),
    ) -> Identification:
        """The decision for the photos of one specimen, from the network's outputs."""
        return decide(
            self.policy, self.labels, self.groups, logits, embeddings, qualities, self.version
        )


def decide(
    policy: Policy,
    labels: Sequence[str],
    groups: Mapping[str, str],
    logits: np.ndarray,
    embeddings: np.ndarray,
    qualities: Sequence[dict[str, float]] = (),
    version: str = "",
) -> Identification:
    """The decision for the photos of one specimen: the one place where the outputs of the
    network for 1 to 5 photos become an answer (evaluation calls it too). The rules, in order,
    are those of ``model.policy``."""
    problems = [policy.quality_problem(q) for q in qualities] or [None] * len(logits)
    usable = np.array([problem is None for problem in problems])
    if not usable.any():
        usable[:] = True  # judge anyway, for the top labels shown; a specialist decides
    combined = logits[usable].mean(axis=0, keepdims=True)
    probabilities = policy.probabilities(combined)[0]
    ood = float(policy.ood(logits[usable], embeddings[usable]).mean())
    decision, reason = policy.decide(probabilities, ood)
    if all(problem is not None for problem in problems):
        decision, reason = Decision.NEEDS_SPECIALIST, problems[0]
    order = np.argsort(-probabilities)[:TOP_K]
    top_k = [LabelScore(labels[i], round(float(probabilities[i]), 6)) for i in order]
    group = None
    # A group answer for an unsure label, not for a photo unlike everything trained on.
    if decision is not Decision.ACCEPTED and reason not in (
        Reason.UNKNOWN_SUBJECT,
        Reason.UNFAMILIAR,
    ):
        group = _group_answer(policy, labels, groups, probabilities)
    return Identification(
        top_k=top_k,
        decision=decision,
        reason=reason,
        group=group,
        out_of_scope_score=round(ood, 6),
        quality=_best(qualities),
        model_version=version,
        photos=len(logits),
    )


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
