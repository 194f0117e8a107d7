"""``iriis data prepare``: check every photo of the bank, find duplicates, write the split.

Outputs (all deterministic: a rerun on the same bank gives byte-identical files):

- ``data/splits.csv``: every usable photo with its ``split`` (train, val, test, or ``unknown``
  for the out-of-scope photos kept apart), content hash and duplicate group;
- ``data/review/near_duplicates.csv`` and ``data/review/label_conflicts.csv``: pairs to look at,
  the second being duplicates filed under two different labels (possible label errors);
- ``data/prepare_report.md`` and ``metrics/prepare.json``: the per-label report and its figures.
"""

import hashlib
import io
import json
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from model.imaging import ImageError, decode_image
from model.manifest import read_manifest, write_manifest
from training.dedup import UnionFind, near_duplicate_pairs, perceptual_hash
from training.params import PrepareParams
from training.splits import SPLITS, Item, Move, assign_splits

log = logging.getLogger(__name__)

SPLIT_COLUMNS = ("file", "label", "category", "host", "setting", "split", "sha256", "group")
PAIR_COLUMNS = ("kind", "distance", "file_a", "label_a", "file_b", "label_b")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ImageCheck:
    """What checking one file found: its hashes, or the problem that makes it unusable."""

    sha256: str = ""
    phash: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    problem: str = ""


def check_image(path: Path, min_side: int) -> ImageCheck:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ImageCheck(problem="file not found")
    except OSError as exc:
        return ImageCheck(problem=f"cannot read file: {exc.strerror}")
    sha = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as raw:
            mode = raw.mode
        image = decode_image(data)
    except (ImageError, OSError) as exc:
        message = str(exc) if isinstance(exc, ImageError) else "not an image file"
        return ImageCheck(sha256=sha, problem=message)
    width, height = image.size
    if min(width, height) < min_side:
        return ImageCheck(
            sha256=sha, problem=f"too small: {width}x{height}, shorter side under {min_side} px"
        )
    return ImageCheck(sha, perceptual_hash(image), width, height, mode)


@dataclass
class PrepareResult:
    rows: list[dict[str, str]]
    problems: list[tuple[str, str]]
    pairs: list[dict[str, str]]
    moved: list[tuple[str, Move]]
    modes: Counter[str] = field(default_factory=Counter)

    @property
    def conflicts(self) -> list[dict[str, str]]:
        return [pair for pair in self.pairs if pair["label_a"] != pair["label_b"]]

    @property
    def exact_duplicates(self) -> int:
        """Rows whose bytes are identical to an earlier row's."""
        return len(self.rows) - len({row["sha256"] for row in self.rows})


def prepare(
    bank_dir: Path,
    params: PrepareParams,
    previous: dict[str, str] | None = None,
    workers: int | None = None,
) -> PrepareResult:
    """Check the bank at ``bank_dir`` and split it; ``previous`` maps content hashes to the
    splits of an earlier run, which are kept (see :mod:`training.splits`)."""
    manifest = read_manifest(bank_dir / "manifest.csv", required=("file", "label"))
    checks = _check_all([bank_dir / row["file"] for row in manifest], params.min_side, workers)

    rows: list[dict[str, str]] = []
    problems: list[tuple[str, str]] = []
    modes: Counter[str] = Counter()
    phash_by_key: dict[str, str] = {}
    for row, check in zip(manifest, checks, strict=True):
        if check.problem:
            problems.append((row["file"], check.problem))
            continue
        modes[check.mode] += 1
        phash_by_key.setdefault(check.sha256, check.phash)
        rows.append({**row, "sha256": check.sha256})

    rows_by_key: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        rows_by_key[row["sha256"]].append(row)
    keys = sorted(rows_by_key)
    log.info("comparing %d distinct photos for near-duplicates", len(keys))
    near = near_duplicate_pairs([phash_by_key[k] for k in keys], params.near_duplicate_max_distance)
    pair_rows = _pair_rows(keys, near, rows_by_key)

    # Groups: exact duplicates are one key already; near-duplicates join keys.
    known = [k for k in keys if not _is_unknown(rows_by_key[k][0])]
    index = {k: i for i, k in enumerate(known)}
    union = UnionFind(len(known))
    for i, j, _ in near:
        if keys[i] in index and keys[j] in index:
            union.union(index[keys[i]], index[keys[j]])
    groups = [
        [Item(known[m], _stratum(rows_by_key[known[m]][0])) for m in members]
        for members in union.groups()
    ]
    plan = assign_splits(groups, previous or {}, params.ratios)
    group_of = {
        known[m]: min(known[n] for n in members)[:12]
        for members in union.groups()
        if len(members) > 1
        for m in members
    }
    for row in rows:
        key = row["sha256"]
        row["split"] = UNKNOWN if _is_unknown(row) else plan.assignment[key]
        row["group"] = group_of.get(key, "")
    rows.sort(key=lambda row: row["file"])
    moved = [(rows_by_key[move.key][0]["file"], move) for move in plan.moved]
    return PrepareResult(rows, problems, pair_rows, moved, modes)


def _check_all(paths: list[Path], min_side: int, workers: int | None) -> list[ImageCheck]:
    check: Callable[[Path], ImageCheck] = partial(check_image, min_side=min_side)
    workers = workers or os.cpu_count() or 1
    progress = partial(tqdm, total=len(paths), desc="checking photos", unit="photo")
    if workers == 1:
        return list(progress(map(check, paths)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(progress(pool.map(check, paths, chunksize=64)))


def _pair_rows(
    keys: list[str],
    near: Iterable[tuple[int, int, int]],
    rows_by_key: dict[str, list[dict[str, str]]],
) -> list[dict[str, str]]:
    """Every duplicate pair as rows: exact copies (distance 0) and near-duplicates."""
    pairs: list[tuple[str, dict[str, str], dict[str, str], int]] = []
    for copies in rows_by_key.values():
        pairs += [("exact", copies[0], other, 0) for other in copies[1:]]
    for i, j, distance in near:
        pairs.append(("near", rows_by_key[keys[i]][0], rows_by_key[keys[j]][0], distance))
    result = []
    for kind, a, b, distance in pairs:
        first, second = (a, b) if a["file"] < b["file"] else (b, a)
        result.append(
            {
                "kind": kind,
                "distance": str(distance),
                "file_a": first["file"],
                "label_a": first["label"],
                "file_b": second["file"],
                "label_b": second["label"],
            }
        )
    return sorted(result, key=lambda p: (p["kind"], int(p["distance"]), p["file_a"], p["file_b"]))


def _is_unknown(row: dict[str, str]) -> bool:
    return row["label"] == UNKNOWN or row.get("category") == UNKNOWN


def _stratum(row: dict[str, str]) -> tuple[str, str]:
    return row["label"], row.get("setting", "")


def read_previous(splits_path: Path) -> dict[str, str]:
    """Content hash -> split of an earlier run, or nothing when there was none."""
    if not splits_path.exists():
        return {}
    return {
        row["sha256"]: row["split"]
        for row in read_manifest(splits_path, required=("sha256", "split"))
        if row["split"] in SPLITS
    }


def write_outputs(
    result: PrepareResult, params: PrepareParams, data_dir: Path, metrics_dir: Path
) -> str:
    """Write every output file and return the report's text."""
    write_manifest(data_dir / "splits.csv", result.rows, SPLIT_COLUMNS)
    write_manifest(data_dir / "review" / "near_duplicates.csv", result.pairs, PAIR_COLUMNS)
    write_manifest(data_dir / "review" / "label_conflicts.csv", result.conflicts, PAIR_COLUMNS)
    report = render_report(result, params)
    (data_dir / "prepare_report.md").write_text(report, encoding="utf-8")
    metrics_dir.mkdir(parents=True, exist_ok=True)
    figures = summary(result)
    (metrics_dir / "prepare.json").write_text(json.dumps(figures, indent=2) + "\n", "utf-8")
    return report


def summary(result: PrepareResult) -> dict[str, int]:
    splits = Counter(row["split"] for row in result.rows)
    return {
        "photos": len(result.rows),
        "skipped": len(result.problems),
        **{split: splits[split] for split in (*SPLITS, UNKNOWN)},
        "exact_duplicates": result.exact_duplicates,
        "near_duplicate_pairs": sum(1 for p in result.pairs if p["kind"] == "near"),
        "label_conflicts": len(result.conflicts),
        "moved": len(result.moved),
    }


def render_report(result: PrepareResult, params: PrepareParams) -> str:
    figures = summary(result)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in result.rows:
        counts[row["label"] if row["split"] != UNKNOWN else f"unknown ({row['host']})"][
            row["split"]
        ] += 1
    lines = [
        "# Bank preparation report",
        "",
        f"{figures['photos']} usable photos, {figures['skipped']} skipped; "
        f"train {figures['train']}, val {figures['val']}, test {figures['test']}, "
        f"kept apart as unknown {figures['unknown']}.",
        f"Exact duplicates: {figures['exact_duplicates']}; near-duplicate pairs: "
        f"{figures['near_duplicate_pairs']} (at most {params.near_duplicate_max_distance} bits "
        f"apart); pairs under different labels: {figures['label_conflicts']} "
        "(see data/review/label_conflicts.csv).",
        f"Colour modes: {', '.join(f'{m} {n}' for m, n in sorted(result.modes.items()))}.",
        "",
        "| label | train | val | test | total | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label in sorted(counts):
        c = counts[label]
        total = sum(c.values())
        note = ""
        if not label.startswith(UNKNOWN) and total < params.small_label:
            note = f"under {params.small_label} photos"
        lines.append(
            f"| {label} | {c['train']} | {c['val']} | {c['test']} | {total or c[UNKNOWN]} "
            f"| {note} |"
        )
    if result.problems:
        lines += ["", "## Skipped photos", ""]
        lines += [f"- `{file}`: {problem}" for file, problem in result.problems]
    if result.moved:
        lines += ["", "## Photos moved (a new photo joined groups of different splits)", ""]
        lines += [f"- `{file}`: {m.old} -> {m.new}" for file, m in result.moved]
    return "\n".join(lines) + "\n"
