"""Model bundles: the unit a training run releases and every identifier loads.

A bundle is a folder ``model/bundles/<version>/`` (versions sort as strings, newest last)::

    model.onnx        fp32 graph: input ``image`` (N, 3, S, S) float32; outputs ``logits``
                      (N, C) and ``embedding`` (N, D), L2-normalised
    model.int8.onnx   the same graph statically quantised (QDQ), for phones and small servers
    labels.json       {"labels": [...]}: the label of each logit, in order
    preprocess.json   model.preprocess.PreprocessConfig
    calibration.json  temperature, decision thresholds, out-of-scope score (model.policy)
    training.json     the run behind the weights (parameters, hardware, epochs): provenance
    MODEL_CARD.md     data, training, metrics, known limits
    manifest.json     {"version": ..., "files": {name: {"sha256": ..., "size": ...}}}

Loading checks every file against the manifest, so a corrupt copy or partial download is
refused rather than answering with a damaged model.
"""

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.preprocess import PreprocessConfig

MANIFEST = "manifest.json"
BUNDLE_FILES = (
    "model.onnx",
    "model.int8.onnx",
    "labels.json",
    "preprocess.json",
    "calibration.json",
    "MODEL_CARD.md",
)


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
    manifest = {"version": version, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def verify(folder: Path, skip: Collection[str] = ()) -> dict[str, Any]:
    """Check every file listed in the manifest; return the manifest. ``skip`` names files the
    reader never opens and need not keep (the field app runs int8 only and leaves the fp32
    graph on the server): they must still be listed, but may be absent."""
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{folder}: no {MANIFEST}: not a model bundle") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{folder}/{MANIFEST} is not valid JSON: {exc}") from None
    for name in BUNDLE_FILES:
        if name not in manifest.get("files", {}):
            raise BundleError(f"{folder}: the manifest does not list {name}")
    for name, expected in manifest["files"].items():
        if name in skip:
            continue
        path = folder / name
        if not path.is_file():
            raise BundleError(f"{folder}: {name} is missing")
        if path.stat().st_size != expected["size"] or sha256_file(path) != expected["sha256"]:
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


def load_bundle(folder: Path, check: bool = True) -> Bundle:
    """A verified bundle; ``check=False`` is for the release itself, which reads a bundle
    still being written (no manifest or calibration yet) to calibrate and evaluate it."""
    version = str(verify(folder)["version"]) if check else folder.name

    def read(name: str) -> Any:
        path = folder / name
        return json.loads(path.read_text(encoding="utf-8")) if check or path.exists() else {}

    return Bundle(
        folder=folder,
        version=version,
        labels=tuple(read("labels.json")["labels"]),
        preprocess=PreprocessConfig.from_dict(read("preprocess.json")),
        calibration=read("calibration.json"),
    )


def held_out_photos(folder: Path) -> frozenset[str]:
    """The photo ids the bundle's network was kept from (``training.json``'s ``held_out``:
    the field proxy's, ``training/holdout.py``): its calibration, evaluation and gallery leave
    them out too, so that the figures reported on them stay honest."""
    path = folder / "training.json"
    if not path.is_file():
        return frozenset()
    return frozenset(json.loads(path.read_text(encoding="utf-8")).get("held_out", []))


def latest_bundle(bundles_dir: Path, complete: bool = True) -> Path:
    """The newest bundle folder (versions sort as strings); ``complete=False`` also considers
    a bundle still being released (no manifest yet)."""
    marker = MANIFEST if complete else "model.onnx"
    candidates = sorted(p for p in bundles_dir.iterdir() if (p / marker).exists())
    if not candidates:
        raise BundleError(f"no model bundle in {bundles_dir}")
    return candidates[-1]
