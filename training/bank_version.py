"""A bank version for retraining: the shared reference bank plus the specialists' confirmed cases.

Why a version folder, and not cases added to the bank: the shared bank is read-only (it is the
lab's reference, read in place by other tools and never written by this project), and a
retraining needs a fixed, whole training set that it can name, repeat and compare. A version is
a folder under ``IRIIS_HOME`` (``banks/<version>/``) that the training code reads exactly as it
reads the bank, given the folder as ``bank_dir`` and its ``splits.csv``::

    <version>/
      images -> <shared bank>/images    a symlink: the bank's photos, read in place, never copied
      cases/<label>/<sha256>.jpg         the confirmed cases' photos, copied from the export
      manifest.csv                       the bank's rows, then one row per case photo
      corrections.csv                    the specialists' bank review decisions it applied
      references.csv                     the rows a gallery may show: the bank's, and the case
                                         photos made shareable references (with consent)
      splits.csv                         ``iriis data prepare``'s split of all of them
      review/, prepare_report.md, metrics/prepare.json   the rest of ``prepare``'s outputs

The cases come from the researchers' export (``api.services.export.export_confirmed``): every
case answered with a label, confirmed or corrected. A case photo's row carries the specialist's
label, ``setting`` = field (growers photograph in the field) and the case id (``case_id``, empty
for the bank's rows), so that training can tell the cases apart and weight them. A case
corrected to ``unknown`` keeps that label: ``prepare`` keeps unknown photos apart, never trained
on as a label.

Splits stay stable across versions because ``prepare`` starts from the previous version's split
file (the committed ``data/splits.csv`` for the first version): the bank's photos and the cases
seen before keep their split, a new case takes one by the same stable rule (``training.splits``),
and a case whose photo is a near-duplicate of a bank photo joins that photo's group and split,
so no case can leak a test photo into training.

The specialists' bank review (``api.services.bank_review``) corrects the bank's own mistakes
without writing the shared bank: its decisions (``model.manifest.CORRECTION_COLUMNS``, matched
by the bank manifest's ``file``: the shared bank's files never change) are applied to the
version's bank rows, a relabelled photo taking its new label and category (its split kept, as
any photo's), a removed one left out of the manifest, the split, training and the gallery.

A version is built in a temporary sibling folder and renamed into place at the end: a build
that fails or is killed leaves no half-written version (the next build removes its leftover).
"""

import hashlib
import logging
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from model.manifest import BANK_COLUMNS, CORRECTION_COLUMNS, read_manifest, write_manifest
from training.data import CASES
from training.params import PrepareParams
from training.prepare import prepare, read_previous, write_outputs
from training.splits import Move

log = logging.getLogger(__name__)

VERSION_COLUMNS = (*BANK_COLUMNS, "case_id", "reference")
# The photos a gallery others see may show: the bank's, and the case photos a specialist made
# shareable references with their owner's consent (api.services.references); never the others.
REFERENCES = "references.csv"
CORRECTIONS = "corrections.csv"
BANK_IMAGES = "images"
CASE_SETTING = "field"
# A label becomes a folder name: the catalog's ids (``apple.scab``), never a path.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class BankVersionError(ValueError):
    """A version that cannot be built at all; nothing is written."""


@dataclass(frozen=True)
class CaseConflict:
    """One photo that specialists answered with different labels: a disagreement to settle, so
    neither label is trained on (training on both would teach the network a contradiction)."""

    sha256: str
    labels: tuple[str, ...]
    case_ids: tuple[str, ...]


@dataclass(frozen=True)
class MissingPhoto:
    """A case photo the export lists but that cannot be read (gone from the store or the export
    folder): left out, so that one lost file never stops a retraining."""

    file: str
    case_id: str
    reason: str


@dataclass(frozen=True)
class BankVersion:
    """What a build made: where the version is and what it holds; ``photos`` and
    ``case_photos`` count the photos ``prepare`` kept (in ``splits.csv``), ``skipped`` lists
    the photos it refused (unreadable, too small), ``moved`` the photos whose split changed
    because a new photo joined groups of different splits (see ``training.splits``)."""

    folder: Path
    splits_path: Path
    photos: int
    case_photos: int
    conflicts: tuple[CaseConflict, ...]
    missing: tuple[MissingPhoto, ...]
    moved: tuple[tuple[str, Move], ...]
    skipped: tuple[tuple[str, str], ...] = ()
    relabelled: int = 0  # bank photos the specialists' review gave another label
    removed: int = 0  # bank photos it left out


@dataclass(frozen=True)
class _CasePhoto:
    row: dict[str, str]
    source: Path
    sha256: str


def build_bank_version(
    *,
    bank_dir: Path,
    cases_dir: Path,
    previous_splits: Path,
    out_dir: Path,
    params: PrepareParams,
    corrections: Path | None = None,
    workers: int | None = None,
) -> BankVersion:
    """Build the version ``out_dir`` from the bank at ``bank_dir`` (only read) and the export
    folder ``cases_dir``, its split continuing ``previous_splits`` (the previous version's
    ``splits.csv``, or the committed one for the first version), with the bank review's
    ``corrections`` (a ``CORRECTION_COLUMNS`` file) applied to the bank's rows."""
    bank_dir = bank_dir.resolve()  # the symlink must not depend on the working directory
    if out_dir.exists() or out_dir.is_symlink():
        raise BankVersionError(f"bank version {out_dir} exists already: a version is never rebuilt")
    if not previous_splits.is_file():
        # read_previous would read a missing file as "no previous split" and reshuffle every
        # photo: for a version, that is a mistake in the path, never the intent.
        raise BankVersionError(f"previous split file not found: {previous_splits}")
    fixes = read_manifest(corrections, required=CORRECTION_COLUMNS) if corrections else []
    bank_rows, applied = _corrected(_bank_rows(bank_dir), fixes)
    export = read_manifest(cases_dir / "manifest.csv", required=("file", "label"))
    photos, conflicts, missing = _select_cases(export, cases_dir)

    building = out_dir.parent / f".{out_dir.name}.partial"
    _remove(building)
    try:
        building.mkdir(parents=True)
        (building / BANK_IMAGES).symlink_to(bank_dir / BANK_IMAGES, target_is_directory=True)
        case_rows = [_copy_case(photo, building) for photo in photos]
        write_manifest(building / "manifest.csv", [*bank_rows, *case_rows], VERSION_COLUMNS)
        write_manifest(building / CORRECTIONS, applied, CORRECTION_COLUMNS)
        references = [*bank_rows, *(row for row in case_rows if row["reference"] == "1")]
        write_manifest(building / REFERENCES, references, VERSION_COLUMNS)
        result = prepare(building, params, previous=read_previous(previous_splits), workers=workers)
        write_outputs(result, params, building, building / "metrics")
        building.rename(out_dir)
    except BaseException:
        _remove(building)
        raise

    case_photos = sum(1 for row in result.rows if row["file"].startswith(f"{CASES}/"))
    removed = sum(1 for fix in applied if not fix["label"])
    log.info(
        "bank version %s: %d photos, %d of them confirmed cases; %d case photo(s) left out as "
        "conflicts, %d missing, %d skipped by the checks, %d moved; bank review: %d relabelled, "
        "%d removed",
        out_dir,
        len(result.rows),
        case_photos,
        sum(len(c.case_ids) for c in conflicts),
        len(missing),
        len(result.problems),
        len(result.moved),
        len(applied) - removed,
        removed,
    )
    return BankVersion(
        folder=out_dir,
        splits_path=out_dir / "splits.csv",
        photos=len(result.rows),
        case_photos=case_photos,
        conflicts=tuple(conflicts),
        missing=tuple(missing),
        moved=tuple(result.moved),
        skipped=tuple(result.problems),
        relabelled=len(applied) - removed,
        removed=removed,
    )


def _bank_rows(bank_dir: Path) -> list[dict[str, str]]:
    """The bank's manifest rows, checked to lie under ``images/``: the one folder the version
    links to, so a row elsewhere would silently drop out of training."""
    rows = read_manifest(bank_dir / "manifest.csv", required=("file", "label"))
    outside = [row["file"] for row in rows if not row["file"].startswith(f"{BANK_IMAGES}/")]
    if outside:
        raise BankVersionError(
            f"{bank_dir}: {len(outside)} manifest row(s) outside {BANK_IMAGES}/ "
            f"(first: {outside[0]}); a bank version links only that folder"
        )
    return [{**row, "case_id": ""} for row in rows]


def _corrected(
    rows: list[dict[str, str]], fixes: list[dict[str, str]]
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The bank's rows with the review's decisions applied, and the decisions applied; a
    decision on a photo gone from the bank is logged and skipped."""
    by_file = {fix["file"]: fix for fix in fixes}
    kept: list[dict[str, str]] = []
    for row in rows:
        fix = by_file.get(row["file"])
        if fix is None:
            kept.append(row)
        elif fix["label"]:
            if not _LABEL.fullmatch(fix["label"]):
                raise BankVersionError(
                    f"bank review: {row['file']} relabelled {fix['label']!r}, which is not a "
                    "catalog label id"
                )
            kept.append({**row, "label": fix["label"], "category": fix["category"]})
    files = {row["file"] for row in rows}
    for fix in fixes:
        if fix["file"] not in files:
            log.warning("bank review: %s is not in the bank; its decision is skipped", fix["file"])
    return kept, [fix for fix in fixes if fix["file"] in files]


def _select_cases(
    export: list[dict[str, str]], cases_dir: Path
) -> tuple[list[_CasePhoto], list[CaseConflict], list[MissingPhoto]]:
    """The export's photos to add, one per distinct photo (by content), in a stable order; the
    photos answered with different labels and the photos that cannot be read, left out."""
    root = cases_dir.resolve()
    by_sha: dict[str, list[_CasePhoto]] = defaultdict(list)
    missing: list[MissingPhoto] = []
    for row in export:
        case_id = row.get("case_id", "")
        label = row["label"]
        if not _LABEL.fullmatch(label):
            raise BankVersionError(
                f"{cases_dir / 'manifest.csv'}: case {case_id or '?'} has label {label!r}, "
                "which is not a catalog label id"
            )
        source = (cases_dir / row["file"]).resolve()
        reason = ""
        if not source.is_relative_to(root):
            reason = "outside the export folder"
        elif not source.is_file():
            reason = "file not found"
        if not reason:
            try:
                with open(source, "rb") as handle:
                    sha = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError as exc:
                reason = f"cannot read file: {exc.strerror}"
        if reason:
            log.warning(
                "case %s: photo %s %s in %s; left out of the bank version (gone from the photo "
                "store?)",
                case_id or "?",
                row["file"],
                reason,
                cases_dir,
            )
            missing.append(MissingPhoto(row["file"], case_id, reason))
            continue
        by_sha[sha].append(_CasePhoto(row, source, sha))

    photos: list[_CasePhoto] = []
    conflicts: list[CaseConflict] = []
    for sha, copies in sorted(by_sha.items()):
        labels = sorted({copy.row["label"] for copy in copies})
        if len(labels) > 1:
            case_ids = tuple(sorted({copy.row.get("case_id", "") for copy in copies}))
            log.warning(
                "photo %s was answered with different labels (%s) in cases %s: left out of the "
                "bank version until a specialist settles it",
                sha[:12],
                ", ".join(labels),
                ", ".join(case_ids),
            )
            conflicts.append(CaseConflict(sha, tuple(labels), case_ids))
            continue
        photos.append(copies[0])  # the same photo confirmed again: the first case names it
    photos.sort(key=lambda photo: (photo.row["label"], photo.sha256))
    return photos, conflicts, missing


def _copy_case(photo: _CasePhoto, building: Path) -> dict[str, str]:
    """Copy one case photo into the version and return its manifest row."""
    file = f"{CASES}/{photo.row['label']}/{photo.sha256}.jpg"
    target = building / file
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(photo.source, target)
    return {
        "file": file,
        "label": photo.row["label"],
        "category": photo.row.get("category", ""),
        "host": photo.row.get("host", ""),
        "setting": CASE_SETTING,
        "source": photo.row.get("source", ""),
        "license": photo.row.get("license", ""),
        "origin_sha256": photo.row.get("origin_sha256", ""),
        "case_id": photo.row.get("case_id", ""),
        "reference": photo.row.get("reference", ""),
    }


def _remove(folder: Path) -> None:
    """Remove a half-built version. Its ``images`` link is unlinked first, on its own: whatever
    happens, nothing is ever deleted through it in the shared bank."""
    link = folder / BANK_IMAGES
    if link.is_symlink():
        link.unlink()
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        log.info("removing the leftover of an unfinished build: %s", folder)
        shutil.rmtree(folder)
