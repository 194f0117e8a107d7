"""Which score tells a right answer from a wrong one on field photos of a crop known only from
lab photos (issue 14, point 2): compared on the field proxy network's held-back apple photos.

For each photo, with the bundle's own policy (temperature, Mahalanobis statistics):

- ``max_probability``, ``energy`` and ``class_mahalanobis`` (the scores the policy can use);
- ``flip_disagreement``: how much the probabilities move when the photo is mirrored (total
  variation between the two views; a network that has learnt the lesion, not the framing,
  agrees with itself);
- ``label_neighbour``: cosine similarity to the nearest *training* photo of the predicted label
  (a distance to the predicted label's own photos, as the gallery measures it);
- ``field_score``: rule F's lab-or-field score (``model.policy.FieldCheck``), when the policy
  has one.

Each score's AUROC for telling wrong answers from right ones (oriented so that 0.5 is chance and
1 is perfect) is given for the held-back photos of the train split (``choice``, the only ones a
choice may look at) and of the val and test splits (``reported``). Usage::

    python -m training.shift_scores BUNDLE   # metrics/shift_scores.json
"""

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.bundle import held_out_photos
from model.identifier import Identifier, open_identifier
from model.log import setup_logging
from model.policy import ood_scores
from model.settings import get_settings
from training.calibrate import Outputs, auroc
from training.data import Record, read_records, readable
from training.holdout import CHOICE_SPLITS, FIELD_PROXY, IN_SCOPE, REPORTED_SPLITS, read_holdout
from training.outputs import collect

log = logging.getLogger(__name__)


def _flipped(identifier: Identifier, records: Sequence[Record], bank_dir: Path) -> np.ndarray:
    """Logits of the mirrored photos, in the order ``collect`` read them."""
    logits = []
    for start in range(0, len(records), 32):
        tensors = [
            identifier.prepare((bank_dir / r.file).read_bytes()).tensor[:, :, ::-1]
            for r in records[start : start + 32]
        ]
        logits.append(identifier.infer(np.ascontiguousarray(np.stack(tensors)))[0])
    return np.concatenate(logits)


def _unit(vectors: np.ndarray) -> np.ndarray:
    result: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
    return result


def scores(
    identifier: Identifier,
    outputs: Outputs,
    flipped: np.ndarray,
    train: Outputs,
) -> dict[str, np.ndarray]:
    """Every compared score, oriented so that higher means "more likely wrong"."""
    policy = identifier.policy
    probabilities = policy.probabilities(outputs.logits)
    predicted = probabilities.argmax(1)
    mirrored = policy.probabilities(flipped)
    train_unit, unit = _unit(train.embeddings), _unit(outputs.embeddings)
    similarity = unit @ train_unit.T
    same_label = train.targets[None, :] == predicted[:, None]
    neighbour = np.where(same_label, similarity, -1.0).max(axis=1)
    result = {
        "max_probability": -probabilities.max(1),
        "energy": ood_scores("energy", outputs.logits, outputs.embeddings, policy.temperature),
        "flip_disagreement": 0.5 * np.abs(probabilities - mirrored).sum(1),
        "label_neighbour": -neighbour,
    }
    if policy.mahalanobis is not None:
        result["class_mahalanobis"] = policy.mahalanobis.score(outputs.logits, outputs.embeddings)
    if policy.field_check is not None:
        result["field_score"] = policy.field_check.score(outputs.embeddings)
    return result


def compare(folder: Path) -> dict[str, Any]:
    settings = get_settings()
    identifier = open_identifier(folder, check=False, threads=2)
    records = readable(read_records(settings.splits_path), settings.bank_dir)
    rows = read_holdout(FIELD_PROXY)
    split_of = {row["photo_id"]: row["split"] for row in rows if row["role"] == IN_SCOPE}
    held_out = held_out_photos(folder)
    train_records = [r for r in records if r.split == "train" and r.photo_id not in held_out]
    train, _ = collect(identifier, train_records, settings.bank_dir, "train (neighbours)")
    report: dict[str, Any] = {"bundle": folder.name}
    for name, splits in (("choice", CHOICE_SPLITS), ("reported", REPORTED_SPLITS)):
        chosen = [r for r in records if split_of.get(r.photo_id) in splits]
        outputs, kept = collect(identifier, chosen, settings.bank_dir, name)
        flipped = _flipped(identifier, kept, settings.bank_dir)
        wrong = outputs.logits.argmax(1) != outputs.targets
        report[name] = {
            "photos": len(kept),
            "wrong": round(float(wrong.mean()), 4),
            "auroc_wrong_vs_right": {
                score: round(auroc(values[~wrong], values[wrong]), 4)
                for score, values in scores(identifier, outputs, flipped, train).items()
            },
        }
        log.info("%s: %s", name, report[name])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="scores for wrong answers under shift")
    parser.add_argument("bundle", type=Path)
    args = parser.parse_args()
    setup_logging()
    report = compare(args.bundle)
    path = get_settings().metrics_dir / "shift_scores.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
