"""Model bundles: the unit a training run releases and every identifier loads.

A bundle is a folder ``model/bundles/<version>/`` (versions compare as numbers, newest last:
:func:`version_key`)::

    model.onnx        fp32 graph: input ``image`` (N, 3, S, S) float32; outputs ``logits``
                      (N, C) and ``embedding`` (N, D), L2-normalised
    model.int8.onnx   the same graph statically quantised (QDQ), for phones and small servers
    labels.json       {"labels": [...]}: the label of each logit, in order
    preprocess.json   model.preprocess.PreprocessConfig
    calibration.json  temperature, decision thresholds, out-of-scope score (model.policy)
    training.json     the run behind the weights (parameters, hardware, epochs): provenance
    MODEL_CARD.md     data, training, metrics, known limits
    catalog.yaml      the label catalog the release was made with (optional; older releases
                      lack it): the names and advice of every label it answers, for the phones
    weights.pt        the trained torch weights (optional; ``SERVER_ONLY``: never distributed)
    manifest.json     {"format": 1, "version": ..., "files": {name: {"sha256": ..., "size": ...}}}

Loading checks every file against the manifest, so a corrupt copy or partial download is
refused rather than answering with a damaged model; and it checks the manifest's ``format``
(absent: format 1), so that software meeting a bundle laid out in a way it does not know (a
newer release) refuses it with a clear message instead of misreading it.
"""

import hashlib
import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.preprocess import PreprocessConfig

MANIFEST = "manifest.json"
# The bundle layout this software writes and reads; a manifest without ``format`` is format 1.
FORMAT_VERSION = 1
KNOWN_FORMATS = frozenset({1})
BUNDLE_FILES = (
    "model.onnx",
    "model.int8.onnx",
    "labels.json",
    "preprocess.json",
    "calibration.json",
    "MODEL_CARD.md",
)
CATALOG = "catalog.yaml"  # model.catalog.write_catalog; read with load_catalog(folder)
# Files a release may hold (listed in its manifest, for integrity) that only the training side
# reads: the model distribution never lists them and phones never download or need them.
SERVER_ONLY = ("weights.pt",)


class BundleError(RuntimeError):
    """A bundle that is missing, incomplete or does not match its manifest."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, version: str) -> dict[str, Any]:
    """Record the sha256 and size of every bundle file present in ``folder``."""
    files = {
        name: {"sha256": sha256_file(folder / name), "size": (folder / name).stat().st_size}
        for name in sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)
    }
    manifest = {"format": FORMAT_VERSION, "version": version, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def check_format(manifest: dict[str, Any], where: Path) -> int:
    """The manifest's bundle format (1 when absent), or ``BundleError`` for one this software
    does not read."""
    found = manifest.get("format", 1)
    if isinstance(found, int) and not isinstance(found, bool) and found in KNOWN_FORMATS:
        return found
    if isinstance(found, int) and not isinstance(found, bool) and found > FORMAT_VERSION:
        raise BundleError(
            f"{where}: bundle format {found} is newer than this software reads "
            f"({FORMAT_VERSION}): update the app/server"
        )
    raise BundleError(f"{where}: unknown bundle format {found!r} (this software reads 1)")


def verify(folder: Path, skip: Collection[str] = ()) -> dict[str, Any]:
    """Check the manifest's format and every file it lists; return the manifest. ``skip``
    names files the reader never opens and need not keep (the field app runs int8 only and
    leaves the fp32 graph and ``SERVER_ONLY`` files on the server): they must still be listed,
    but may be absent."""
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{folder}: no {MANIFEST}: not a model bundle") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{folder}/{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{folder}/{MANIFEST} is not a bundle manifest (no files listed)")
    check_format(manifest, folder)
    for name in BUNDLE_FILES:
        if name not in manifest["files"]:
            raise BundleError(f"{folder}: the manifest does not list {name}")
    for name, expected in manifest["files"].items():
        if name in skip:
            continue
        path = folder / name
        if not path.is_file():
            raise BundleError(f"{folder}: {name} is missing")
        try:
            size, digest = int(expected["size"]), str(expected["sha256"])
        except (KeyError, TypeError, ValueError):
            raise BundleError(f"{folder}/{MANIFEST}: no sha256 and size for {name}") from None
        if path.stat().st_size != size or sha256_file(path) != digest:
            raise BundleError(f"{folder}: {name} does not match its manifest (corrupt or partial)")
    return manifest


@dataclass(frozen=True)
class Bundle:
    """A verified bundle's metadata; the ONNX files are opened by the identifier."""

    folder: Path
    version: str
    labels: tuple[str, ...]
    preprocess: PreprocessConfig
    calibration: dict[str, Any]

    def model_path(self, variant: str = "fp32") -> Path:
        return self.folder / ("model.int8.onnx" if variant == "int8" else "model.onnx")


def _unverified_version(folder: Path) -> str:
    """The version a manifest names, read without checking the files (the caller verified
    them, or is still writing them); the folder's name before there is a manifest. A folder
    may be named otherwise than its version: the phone's staging folder is."""
    try:
        return str(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["version"])
    except FileNotFoundError:
        return folder.name
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{folder}/{MANIFEST} names no version: {exc!r}") from None


def load_bundle(folder: Path, check: bool = True) -> Bundle:
    """A verified bundle; ``check=False`` is for the release itself, which reads a bundle
    still being written (no manifest or calibration yet) to calibrate and evaluate it."""
    version = str(verify(folder)["version"]) if check else _unverified_version(folder)

    def read(name: str) -> Any:
        path = folder / name
        try:
            return json.loads(path.read_text(encoding="utf-8")) if check or path.exists() else {}
        except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
            raise BundleError(f"{folder}/{name} cannot be read: {exc}") from None

    try:
        labels = tuple(str(label) for label in read("labels.json")["labels"])
    except (KeyError, TypeError) as exc:
        raise BundleError(f"{folder}/labels.json has no list of labels: {exc!r}") from None
    try:
        preprocess = PreprocessConfig.from_dict(read("preprocess.json"))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{folder}/preprocess.json is not usable: {exc!r}") from None
    calibration = read("calibration.json")
    if not isinstance(calibration, dict):
        raise BundleError(f"{folder}/calibration.json is not a JSON object")
    return Bundle(
        folder=folder,
        version=version,
        labels=labels,
        preprocess=preprocess,
        calibration=calibration,
    )


def held_out_photos(folder: Path) -> frozenset[str]:
    """The photo ids the bundle's network was kept from (``training.json``'s ``held_out``:
    the field proxy's, ``training/holdout.py``): its calibration, evaluation and gallery leave
    them out too, so that the figures reported on them stay honest."""
    path = folder / "training.json"
    if not path.is_file():
        return frozenset()
    return frozenset(json.loads(path.read_text(encoding="utf-8")).get("held_out", []))


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A release version as it compares: its runs of digits as numbers, so that
    ``2026.11.26.10`` comes after ``2026.11.26.2`` (as strings it came before, and a phone
    would never have taken the tenth release of a day); other characters compare as text,
    after numbers."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|\D+", version)
    )


def by_version(folders: Iterable[Path]) -> list[Path]:
    """Bundle folders oldest first, by their names' versions."""
    return sorted(folders, key=lambda folder: (version_key(folder.name), folder.name))


def latest_bundle(bundles_dir: Path, complete: bool = True) -> Path:
    """The newest bundle folder (:func:`version_key`); ``complete=False`` also considers
    a bundle still being released (no manifest yet)."""
    marker = MANIFEST if complete else "model.onnx"
    candidates = by_version(p for p in bundles_dir.iterdir() if (p / marker).exists())
    if not candidates:
        raise BundleError(f"no model bundle in {bundles_dir}")
    return candidates[-1]
