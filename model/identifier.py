"""The identifier: one photo, or up to five photos of one specimen, to a calibrated decision.

Used as it is by the CLI, the API and the field app: decode (``model.imaging``), measure
quality (``model.quality``), preprocess (``model.preprocess``), run the ONNX graph (ONNX
Runtime, fp32 or int8), then decide (``model.policy``). Formatting for a user (names, advice,
language) is done by the callers from the returned :class:`~model.result.Identification`.
"""

import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from model.bundle import Bundle, BundleError, load_bundle
from model.catalog import Catalog
from model.gallery import Gallery
from model.imaging import decode_image
from model.policy import Policy, crop_context, decide
from model.preprocess import preprocess
from model.quality import measure
from model.result import Identification

log = logging.getLogger(__name__)

MAX_PHOTOS = 5
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
        policy: Policy,
        *,
        groups: Mapping[str, str] | None = None,
        hosts: Mapping[str, Sequence[str]] | None = None,
        gallery: Gallery | None = None,
    ) -> None:
        self.bundle = bundle
        self.session = session
        self.policy = policy  # parsed once, when the bundle is opened
        self.groups = dict(groups or {})
        self.hosts = {label: tuple(crops) for label, crops in (hosts or {}).items()}
        self.gallery = gallery

    def with_gallery(self, gallery: Gallery | None) -> "Identifier":
        """The same model (and ONNX session) answering with ``gallery``'s similar photos."""
        return type(self)(
            self.bundle,
            self.session,
            self.policy,
            groups=self.groups,
            hosts=self.hosts,
            gallery=gallery,
        )

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

    def identify(
        self, photos: Sequence[Photo], crop: str | None = None, hidden: Collection[str] = ()
    ) -> Identification:
        """Identify one specimen from 1 to 5 photos, on ``crop`` when the user named it (a
        catalog crop id, ``Catalog.crop_id``); raises ``ImageError`` on an unusable photo.
        ``hidden``: gallery photo ids not to show among the similar photos (a user's photo
        that its owner withdrew after the gallery was built)."""
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
        neighbours = self.gallery.query(
            mean / (np.linalg.norm(mean) or 1.0), k=NEIGHBOURS, exclude=hidden
        )
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


def open_identifier(
    folder: Path,
    *,
    catalog: Catalog | None = None,
    variant: str = "fp32",
    threads: int = 1,
    check: bool = True,
    gallery: Gallery | None = None,
) -> Identifier:
    """The one way to build an identifier: load and verify the bundle at ``folder``, parse its
    policy and open its ONNX session once. The ``catalog`` gives each label's group (the coarser
    answer when a label is uncertain but its group is not) and hosts (the crop a user names,
    ``model.policy`` rule C); ``gallery`` (of this bundle's model version) adds similar
    reference photos to every answer; ``check=False`` reads a bundle still being released.

    The identifier is returned only once it works: a broken ``calibration.json`` or ONNX
    graph, or outputs that disagree with the bundle (:func:`check_identifier`'s trial
    identification), raise ``BundleError`` like a corrupt file does."""
    bundle = load_bundle(folder, check=check)
    try:
        policy = Policy.from_dict(bundle.calibration)
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
    identifier = Identifier(
        bundle,
        session,
        policy,
        groups=catalog.groups_by_label() if catalog else None,
        hosts=catalog.hosts_by_label() if catalog else None,
        gallery=gallery,
    )
    check_identifier(identifier)
    return identifier


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
    check = policy.field_check
    if check is not None and (
        check.weights.shape != (embeddings.shape[1],)
        or not np.isfinite(check.weights).all()
        or not check.lab_only <= set(identifier.labels)
    ):
        raise BundleError(
            f"{calibration}: field_check weights have shape {check.weights.shape}, not "
            f"({embeddings.shape[1]},), or name labels the bundle lacks"
        )
    try:
        result = identifier.decide(logits, embeddings, [prepared.quality])
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{calibration} is not a usable decision policy: {exc!r}") from None
    if not result.top_k or not np.isfinite([result.probability, result.out_of_scope_score]).all():
        raise BundleError(f"{calibration}: the trial gives no finite probability or score")
    return result
