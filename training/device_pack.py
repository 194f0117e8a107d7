"""Packing the training photos for a lent GPU machine, whose transfers are capped per call.

The device tool copies at most 64 MiB a call, and the bank's training split is about 105 MB;
the photos therefore travel in parts (one call each, beside whatever else that call carries),
unchanged, with a split file that lists only them. ``training/device_job.sh`` then trains
there. Usage::

    python -m training.device_pack OUT_DIR --part-mb 58 36 58
"""

import argparse
import logging
import shutil
from pathlib import Path

from model.manifest import read_manifest, write_manifest
from model.settings import get_settings
from training.prepare import SPLIT_COLUMNS

log = logging.getLogger(__name__)


def pack(bank_dir: Path, splits_path: Path, out_dir: Path, capacities: list[int]) -> list[Path]:
    """Copy the training photos into ``part1``, ``part2``... of at most the given sizes in
    bytes (the last capacity repeats)."""
    rows = [row for row in read_manifest(splits_path) if row["split"] == "train"]
    out_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(out_dir / "splits.csv", rows, SPLIT_COLUMNS)
    parts: list[Path] = []
    capacity = used = 0
    for row in rows:
        source = bank_dir / row["file"]
        size = source.stat().st_size
        if used + size > capacity:
            capacity = capacities[min(len(parts), len(capacities) - 1)]
            parts.append(out_dir / f"part{len(parts) + 1}")
            used = 0
        target = parts[-1] / row["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        used += size
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--part-mb", type=float, nargs="+", default=[58.0])
    args = parser.parse_args()
    settings = get_settings()
    logging.basicConfig(level=logging.INFO)
    capacities = [int(mb * 1e6) for mb in args.part_mb]
    parts = pack(settings.bank_dir, settings.splits_path, args.out_dir, capacities)
    log.info("packed into %s", ", ".join(str(p) for p in parts))


if __name__ == "__main__":
    main()
