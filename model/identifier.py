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

from model.bundle import Bundle, BundleError, load_bundle
from model.gallery import Gallery
from model.imaging import decode_image
from model.policy import CropContext, Policy, crop_context
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
        hosts: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.bundle = bundle
        self.session = session
        self.policy = Policy.from_dict(bundle.calibration)
        self.groups = dict(groups or {})
        self.gallery = gallery
        self.hosts = {label: tuple(crops) for label, crops in (hosts or {}).items()}

    @classmethod
    def from_bundle(
        cls,
        folder: Path,
        variant: str = "fp32",
        threads: int = 1,
        groups: Mapping[str, str] | None = None,
        check: bool = True,
        gallery: Gallery | None = None,
        hosts: Mapping[str, Sequence[str]] | None = None,
    ) -> "Identifier":
        """Load and verify a bundle; ``groups`` maps labels to catalog groups, for the coarser
        answer given when a label is uncertain but its group is not; ``hosts`` maps labels to
        their catalog hosts, for the crop a user names (``model.policy`` rule C); ``gallery``
        (of this bundle's model version) adds similar reference photos to every answer.

        The identifier is returned only once it works: a broken ``calibration.json`` or ONNX
        graph, or outputs that disagree with the bundle (:func:`check_identifier`'s trial
        identification), raise ``BundleError`` like a corrupt file does."""
        bundle = load_bundle(folder, check=check)
        try:
            Policy.from_dict(bundle.calibration)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(
                f"{folder}/calibration.json is not a usable decision policy: {exc!r}"
            ) from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = bundle.model_path(variant)
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime's own exception types derive from Exception
            raise BundleError(f"{path} cannot be opened by ONNX Runtime: {exc}") from None
        identifier = cls(bundle, session, groups, gallery, hosts)
        check_identifier(identifier)
        return identifier

    def with_gallery(self, gallery: Gallery | None) -> "Identifier":
        """The same model (and ONNX session) answering with ``gallery``'s similar photos."""
        return type(self)(self.bundle, self.session, self.groups, gallery, self.hosts)

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

    def identify(self, photos: Sequence[Photo], crop: str | None = None) -> Identification:
        """Identify one specimen from 1 to 5 photos, on ``crop`` when the user named it (a
        catalog crop id, ``Catalog.crop_id``); raises ``ImageError`` on an unusable photo."""
        if not 1 <= len(photos) <= MAX_PHOTOS:
            raise ValueError(
                f"between 1 and {MAX_PHOTOS} photos of one specimen, not {len(photos)}"
            )
        prepared = [self.prepare(photo) for photo in photos]
        logits, embeddings = self.infer(np.stack([p.tensor for p in prepared]))
        result = self.decide(logits, embeddings, [p.quality for p in prepared], crop)
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
        crop: str | None = None,
    ) -> Identification:
        """The decision for the photos of one specimen, from the network's outputs."""
        return decide(
            self.policy,
            self.labels,
            self.groups,
            logits,
            embeddings,
            qualities,
            self.version,
            crop_context(self.labels, self.hosts, crop),
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
        crop=crop.crop if crop is not None else None,
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


def check_identifier(identifier: Identifier) -> Identification:
    """One trial identification, on a synthetic photo (a fixed gradient with noise), that the
    model must pass before anyone relies on it: the graph runs and gives one logit per label
    and a finite embedding, the decision policy's values are numbers that make sense with them
    (the Mahalanobis statistics' shapes included), and a decision comes out. Returns the
    trial's answer; raises ``BundleError``, saying what is wrong, otherwise."""
    where = identifier.bundle.folder
    policy = identifier.policy
    calibration = f"{where}/calibration.json"
    if not isinstance(policy.quality, dict):
        raise BundleError(f"{calibration}: quality is not an object: {policy.quality!r}")
    numbers = {
        "temperature": policy.temperature,
        "accept_threshold": policy.accept_threshold,
        "ambiguity_margin": policy.ambiguity_margin,
        "ood_threshold": policy.ood_threshold,
        "accept_ood_threshold": policy.accept_ood_threshold,
        **{f"quality.{k}": v for k, v in policy.quality.items()},
    }
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or np.isnan(value):
            raise BundleError(f"{calibration}: {name} is not a number: {value!r}")
    if not 0 < policy.temperature < float("inf"):
        raise BundleError(f"{calibration}: temperature {policy.temperature!r} is not positive")
    rows, columns = np.mgrid[0:320, 0:320].astype(np.float64) * (255 / 319)
    noise = np.random.default_rng(0).normal(0.0, 12.0, size=(320, 320, 3))
    pixels = np.stack([rows, columns, (rows + columns) / 2], axis=-1) + noise
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    try:
        prepared = identifier.prepare(image)
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise BundleError(f"{where}/preprocess.json is not usable: {exc!r}") from None
    try:
        logits, embeddings = identifier.infer(prepared.tensor[None])
    except Exception as exc:  # ONNX Runtime's own exception types derive from Exception
        raise BundleError(f"{where}: the ONNX graph does not run: {exc}") from None
    labels = len(identifier.labels)
    logits, embeddings = np.asarray(logits), np.asarray(embeddings)
    if logits.shape != (1, labels):
        raise BundleError(
            f"{where}: the graph gives logits of shape {logits.shape[1:]} for {labels} labels"
        )
    if embeddings.ndim != 2 or len(embeddings) != 1:
        raise BundleError(f"{where}: the graph gives embeddings of shape {embeddings.shape[1:]}")
    if not (np.isfinite(logits).all() and np.isfinite(embeddings).all()):
        raise BundleError(f"{where}: the graph gives non-finite logits or embeddings")
    stats = policy.mahalanobis
    if stats is not None:
        dims = embeddings.shape[1]
        reduced = stats.projection.shape[-1] if stats.projection.ndim == 2 else -1
        expected = {
            "projection": (stats.projection, (dims, reduced)),
            "center": (stats.center, (dims,)),
            "means": (stats.means, (labels, reduced)),
            "precision": (stats.precision, (reduced, reduced)),
        }
        if stats.class_scale is not None:
            expected["class_scale"] = (stats.class_scale, (labels,))
        for name, (array, shape) in expected.items():
            if array.shape != shape or not np.isfinite(array).all():
                raise BundleError(
                    f"{calibration}: mahalanobis {name} has shape {array.shape}, not {shape} "
                    f"(embeddings of {dims} dimensions, {labels} labels), or non-finite values"
                )
    try:
        result = identifier.decide(logits, embeddings, [prepared.quality])
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{calibration} is not a usable decision policy: {exc!r}") from None
    if not result.top_k or not np.isfinite([result.probability, result.out_of_scope_score]).all():
        raise BundleError(f"{calibration}: the trial gives no finite probability or score")
    return result
