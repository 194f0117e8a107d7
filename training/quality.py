"""Thresholds of the "too dark / too blurry / too small to judge" checks.

Validation photos are degraded step by step (darkened, blurred, shrunk), encoded as JPEG and
identified like any upload; for each quality measure (``model.quality``), the threshold is the
highest value under which the model gets at most ``max_accuracy`` of the degraded photos right
(in bins of photos sorted by the measure): below it, an answer is mostly a guess and the user
is better served by "retake the photo" or a specialist. The cost is reported as the share of
clean validation photos the checks would flag.
"""

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter
from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from model.identifier import Identifier
from model.imaging import load_image
from training.data import Record

log = logging.getLogger(__name__)

DEGRADATIONS = {
    "brightness": [("darken", f) for f in (1.0, 0.5, 0.3, 0.2, 0.12, 0.07, 0.04)],
    "sharpness": [("blur", r) for r in (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)],
    "min_side": [("shrink", s) for s in (256, 128, 96, 64, 48, 32)],
}


class QualityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Photos of a measure's lowest range are flagged while the model gets at most this share
    # of them right.
    max_accuracy: float = 0.5
    # Validation photos degraded (a stratified sample keeps the run short).
    photos: int = 300
    seed: int = 0


def degrade(image: Image.Image, kind: str, amount: float) -> bytes:
    if kind == "darken":
        image = ImageEnhance.Brightness(image).enhance(amount)
    elif kind == "blur" and amount:
        image = image.filter(ImageFilter.GaussianBlur(amount))
    elif kind == "shrink":
        scale = amount / min(image.size)
        if scale < 1:
            image = image.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                Image.Resampling.BILINEAR,
            )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def threshold(
    values: np.ndarray, correct: np.ndarray, max_accuracy: float, bin_size: int = 100
) -> float | None:
    """Where answers stop being guesses: photos are sorted by the measure and taken in bins of
    ``bin_size``; from the lowest bin up, bins the model gets at most ``max_accuracy`` right are
    "too poor", and the threshold is the lowest value of the first bin above them (None when the
    lowest bin is already judged well enough)."""
    order = np.argsort(values, kind="stable")
    for start in range(0, len(order), bin_size):
        members = order[start : start + bin_size]
        if correct[members].mean() > max_accuracy:
            return float(values[members[0]]) if start else None
    return float("inf")


def calibrate_quality(
    identifier: Identifier,
    records: Sequence[Record],
    bank_dir: Path,
    params: QualityParams,
) -> tuple[dict[str, float], dict[str, object]]:
    rng = np.random.default_rng(params.seed)
    chosen = [records[i] for i in sorted(rng.permutation(len(records))[: params.photos])]
    index = {label: i for i, label in enumerate(identifier.labels)}
    thresholds: dict[str, float] = {}
    report: dict[str, object] = {}
    clean_measures: dict[str, list[float]] = {m: [] for m in DEGRADATIONS}
    for measure, steps in DEGRADATIONS.items():
        values, correct = [], []
        for record in tqdm(chosen, desc=f"degrading ({measure})", unit="photo"):
            image = load_image(bank_dir / record.file)
            prepared = [identifier.prepare(degrade(image, kind, amount)) for kind, amount in steps]
            logits, _ = identifier.infer(np.stack([p.tensor for p in prepared]))
            values += [p.quality[measure] for p in prepared]
            correct += list(logits.argmax(axis=1) == index[record.label])
            clean_measures[measure].append(prepared[0].quality[measure])
        found = threshold(np.array(values), np.array(correct), params.max_accuracy)
        if found is not None:
            thresholds[measure] = found
        report[measure] = {
            "threshold": found,
            "clean_photos_flagged": float(np.mean(np.array(clean_measures[measure]) < found))
            if found is not None
            else 0.0,
        }
    log.info("quality thresholds: %s", report)
    return thresholds, report
