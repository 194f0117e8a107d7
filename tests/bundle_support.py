"""Releases that must not break anything, made from the committed bundle: copies rewritten with
a newer bundle format, a broken decision policy or a broken graph, their manifests re-written so
that every sha256 matches (what a faulty release run, or newer software, would publish)."""

import json
import shutil
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from model.bundle import MANIFEST, sha256_file
from model.catalog import Catalog
from model.identifier import open_identifier
from model.policy import QUALITY_REASONS


def relist(folder: Path, **fields: Any) -> dict[str, Any]:
    """Rewrite ``folder``'s manifest after a change: the sha256 and size of every file present
    again, the entries of listed files the folder lacks kept (a phone keeps no fp32 graph), and
    ``fields`` set (``version``, ``format``)."""
    manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != MANIFEST:
            entry = {"sha256": sha256_file(path), "size": path.stat().st_size}
            manifest["files"][path.name] = entry
    manifest.update(fields)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def bundle_copy(
    source: Path,
    dest: Path,
    version: str,
    leave_out: Collection[str] = (),
    extra: dict[str, bytes] | None = None,
    **fields: Any,
) -> Path:
    """A copy of the bundle ``source`` released as ``version``: the files its manifest lists
    but ``leave_out`` (still listed), plus ``extra`` files (listed too), manifest re-written."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / MANIFEST, dest / MANIFEST)
    for name in json.loads((source / MANIFEST).read_text(encoding="utf-8"))["files"]:
        if name not in leave_out:
            shutil.copyfile(source / name, dest / name)
    for name, data in (extra or {}).items():
        (dest / name).write_bytes(data)
    relist(dest, version=version, **fields)
    return dest


def _hot(calibration: dict[str, Any]) -> None:
    calibration["temperature"] = "hot"


def _short_projection(calibration: dict[str, Any]) -> None:
    calibration["mahalanobis"]["projection"] = calibration["mahalanobis"]["projection"][:-1]


# How a release's calibration.json can be broken, and the words of the refusal.
BROKEN_POLICIES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "string_temperature": (_hot, "temperature is not a number: 'hot'"),
    "projection_shape": (_short_projection, r"mahalanobis projection has shape \(1279, 32\)"),
}
NEWER_FORMAT = r"bundle format 2 is newer than this software reads \(1\): update the app/server"


def break_policy(folder: Path, how: str) -> Path:
    """Break ``folder``'s calibration.json as ``BROKEN_POLICIES[how]`` says; manifest re-written."""
    path = folder / "calibration.json"
    calibration = json.loads(path.read_text(encoding="utf-8"))
    BROKEN_POLICIES[how][0](calibration)
    path.unlink()  # never write through a link to the committed bundle
    path.write_text(json.dumps(calibration), encoding="utf-8")
    relist(folder)
    return folder


def break_release(folder: Path, kind: str) -> str:
    """Make the release in ``folder`` unusable: ``format`` (a newer bundle format) or one of
    ``BROKEN_POLICIES``; the pattern of the refusal's message."""
    if kind == "format":
        relist(folder, format=2)
        return NEWER_FORMAT
    break_policy(folder, kind)
    return BROKEN_POLICIES[kind][1]


def contract_bundle(
    source: Path, dest: Path, photos: Sequence[bytes], catalog: Catalog
) -> tuple[Path, bytes, bytes]:
    """A copy of ``source`` whose policy the API's contract tests can rely on without the bank:
    no out-of-scope or lab-or-field gate, and an acceptance threshold halfway between the surest
    and the least sure of ``photos`` (synthetic ones), so that the first of the pair returned is
    accepted and the second doubted by the real network. Returns the copy and the pair."""
    identifier = open_identifier(source, catalog=catalog)
    sure: list[tuple[float, bytes]] = []
    for data in photos:
        answer = identifier.identify([data])
        if answer.reason not in QUALITY_REASONS.values():  # set aside for its quality: no use
            sure.append((answer.top_k[0].probability, data))
    sure.sort(key=lambda pair: pair[0])
    (low, doubted), (high, accepted) = sure[0], sure[-1]
    assert high - low > 0.05, f"synthetic photos too alike for a contract policy: {low}, {high}"
    folder = bundle_copy(source, dest, version=identifier.version)
    path = folder / "calibration.json"
    calibration = json.loads(path.read_text(encoding="utf-8"))
    calibration.pop("field_check", None)
    calibration.update(
        ood_threshold=1e9,
        accept_ood_threshold=1e9,
        ambiguity_margin=0.0,
        accept_threshold=(low + high) / 2,
    )
    path.write_text(json.dumps(calibration), encoding="utf-8")
    relist(folder)
    return folder, accepted, doubted
