"""Running a bundle over a set of bank photos, through the shipped identifier."""

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.identifier import Identifier
from model.imaging import ImageError
from training.calibrate import Outputs
from training.data import Record

log = logging.getLogger(__name__)


def collect(
    identifier: Identifier,
    records: Sequence[Record],
    bank_dir: Path,
    description: str,
    labels: Sequence[str] | None = None,
    batch_size: int = 32,
) -> tuple[Outputs, list[Record]]:
    """Logits and embeddings of every readable photo, and the records that were read; targets
    index ``labels`` (default: the bundle's)."""
    index = {label: i for i, label in enumerate(labels or identifier.labels)}
    logits, embeddings, targets, kept = [], [], [], []
    for start in tqdm(range(0, len(records), batch_size), desc=description, unit="batch"):
        tensors = []
        for record in records[start : start + batch_size]:
            try:
                tensors.append(identifier.prepare((bank_dir / record.file).read_bytes()).tensor)
            except (ImageError, OSError) as exc:
                log.warning("skipping %s: %s", record.file, exc)
                continue
            kept.append(record)
            targets.append(index.get(record.label, -1))
        if tensors:
            batch_logits, batch_embeddings = identifier.infer(np.stack(tensors))
            logits.append(batch_logits)
            embeddings.append(batch_embeddings)
    return (
        Outputs(np.concatenate(logits), np.concatenate(embeddings), np.asarray(targets)),
        kept,
    )
