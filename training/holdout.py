"""Photos held back from a network: the field proxy's measure of the lab-to-field gap.

The bank's test split cannot show how a network fares on field photos of a crop it knows only
from lab photos: every crop with field photos in the test split has field photos in training.
The field proxy makes such a crop on purpose. Apple is the one crop of the bank with both lab
and field photos (150 orchard photos a label, from one data set, Plant Pathology 2021), so a
network trained and calibrated without any of the apple field photos sees apple as a lab-only
crop, as the deployed model sees most crops, and its answers on those photos measure the gap.
A second role holds back every photo of one field label (``weed.lantana``, DeepWeeds): for that
network they are out-of-scope *field* photos (a plant it was never taught, on natural
backgrounds), which the bank's lab-photo ``unknown`` crops cannot stand in for.

The held-back photos are listed by photo id (``data/field_proxy/holdout.csv``), written once
from the bank (``python -m training.holdout``) and read from then on: a later photo of apple
(a confirmed case typed "apple") is not held back by accident. Of the listed photos, those of
the *train* split are the only ones any choice may look at (selection, tuning); those of the
val and test splits are the only ones reported.

A run with ``train.holdout`` set records the ids in its final weights and in the bundle's
``training.json`` (``held_out``), so that export (int8 calibration photos), calibration
(thresholds, Mahalanobis statistics), evaluation and the gallery leave them out too.
"""

import argparse
import logging
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from model.manifest import read_manifest, write_manifest
from model.paths import REPO_ROOT
from model.settings import get_settings
from training.data import Record, read_records

log = logging.getLogger(__name__)

FIELD_PROXY = REPO_ROOT / "data" / "field_proxy" / "holdout.csv"
# The proxy network's bundles (``make field-proxy``): committed, so later work reuses them.
PROXY_BUNDLES = REPO_ROOT / "data" / "field_proxy" / "bundles"
COLUMNS = ("photo_id", "file", "label", "split", "role")
# The crop whose field photos are held back, and the label held back whole.
PROXY_CROP = "apple"
OUT_OF_SCOPE_LABEL = "weed.lantana"
IN_SCOPE, OUT_OF_SCOPE = "field", "out_of_scope"
# Splits whose held-back photos may be looked at by a choice, and those that are reported.
CHOICE_SPLITS = ("train",)
REPORTED_SPLITS = ("val", "test")


def role(record: Record) -> str | None:
    """Why a photo of the bank is held back by the field proxy, or None."""
    if record.setting == "field" and record.label.startswith(f"{PROXY_CROP}."):
        return IN_SCOPE
    if record.label == OUT_OF_SCOPE_LABEL:
        return OUT_OF_SCOPE
    return None


def define(records: Iterable[Record]) -> list[dict[str, str]]:
    """The field proxy's held-back photos, one row each, in file order."""
    rows = []
    for record in sorted(records, key=lambda r: r.file):
        why = role(record)
        if why is None:
            continue
        if not record.sha256:
            raise ValueError(f"{record.file}: no sha256 in the split file; run iriis data prepare")
        rows.append(
            {
                "photo_id": record.photo_id,
                "file": record.file,
                "label": record.label,
                "split": record.split,
                "role": why,
            }
        )
    return rows


def read_holdout(path: Path) -> list[dict[str, str]]:
    return read_manifest(path, required=COLUMNS)


def held_out_ids(path: Path) -> frozenset[str]:
    return frozenset(row["photo_id"] for row in read_holdout(path))


def without(records: Sequence[Record], held_out: Collection[str]) -> list[Record]:
    """``records`` less the held-back photos."""
    if not held_out:
        return list(records)
    return [r for r in records if r.photo_id not in held_out]


def main() -> None:
    parser = argparse.ArgumentParser(description="write the field proxy's held-back photos")
    parser.add_argument("--out", type=Path, default=FIELD_PROXY)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    rows = define(read_records(get_settings().splits_path))
    write_manifest(args.out, rows, COLUMNS)
    log.info("%d photos held back, written to %s", len(rows), args.out)


if __name__ == "__main__":
    main()
