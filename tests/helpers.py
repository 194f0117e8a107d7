"""Building blocks for tests: synthetic photos and miniature banks in the bank's format."""

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.manifest import BANK_COLUMNS
from model.paths import REPO_ROOT


def run_iriis(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """The ``iriis`` command in a child process, as a user runs it from the repository; its
    output captured as text, its exit status for the test to check."""
    return subprocess.run(
        [sys.executable, "-m", "model.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


def textured_image(seed: int, size: tuple[int, int] = (160, 120)) -> Image.Image:
    """A distinct, natural-looking photo: smooth random blobs, different for every seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)
    noise = rng.normal(0, 6, size=(size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_bank(root: Path, entries: list[dict[str, object]]) -> Path:
    """Write a bank: each entry has ``file``, ``label`` and ``data`` (bytes, or None for a row
    whose file is missing), optionally ``setting``, ``category`` and ``source``."""
    rows = []
    for entry in entries:
        path = root / str(entry["file"])
        data = entry.get("data")
        if isinstance(data, bytes):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        label = str(entry["label"])
        rows.append(
            {
                "file": entry["file"],
                "label": label,
                "category": entry.get("category", "unknown" if label == "unknown" else "disease"),
                "host": entry.get("host", ""),
                "setting": entry.get("setting", "lab"),
                "source": entry.get("source", "test"),
                "license": "CC0",
                "origin_sha256": "",
            }
        )
    with open(root / "manifest.csv", "a+", newline="", encoding="utf-8") as handle:
        handle.seek(0)
        new_file = not handle.read(1)
        writer = csv.DictWriter(handle, fieldnames=list(BANK_COLUMNS), lineterminator="\n")
        if new_file:
            writer.writeheader()
        writer.writerows(rows)
    return root


def write_tiny_splits(
    splits_path: Path, folder: Path, labels: int, missing_file: bool = False
) -> Path:
    """A split file of the bank's first ``labels`` labels, two training and one validation
    photo each (and a row whose file is gone, with ``missing_file``): training in seconds."""
    from model.manifest import read_manifest, write_manifest
    from training.prepare import SPLIT_COLUMNS

    rows = read_manifest(splits_path)
    chosen = []
    for label in sorted({r["label"] for r in rows if r["split"] == "train"})[:labels]:
        chosen += [r for r in rows if r["label"] == label and r["split"] == "train"][:2]
        chosen += [r for r in rows if r["label"] == label and r["split"] == "val"][:1]
    if missing_file:
        chosen.append({**chosen[0], "file": "images/gone/missing.jpg", "sha256": "0" * 64})
    path = folder / "splits.csv"
    write_manifest(path, chosen, SPLIT_COLUMNS)
    return path


def miniature_rows(
    splits_path: Path, per_split: dict[str, int], unknown_per_host: int
) -> list[dict[str, str]]:
    """Rows of a split file, at most ``per_split[split]`` per label and split and
    ``unknown_per_host`` unknown photos per host: every label of the bank in a few photos."""
    from collections import defaultdict

    from model.manifest import read_manifest

    taken: dict[tuple[str, str], int] = defaultdict(int)
    chosen = []
    for row in read_manifest(splits_path):
        key = (row["split"], row["host"] if row["split"] == "unknown" else row["label"])
        limit = unknown_per_host if row["split"] == "unknown" else per_split.get(row["split"], 0)
        if taken[key] < limit:
            taken[key] += 1
            chosen.append(row)
    return chosen
