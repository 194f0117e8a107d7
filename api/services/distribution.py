"""Model distribution for the field app: the files of the bundle this server answers with
(the newest one that loads and passes its trial, ``api.deps.serving_identifier``: a broken or
newer-format release is never offered), and the pack of its gallery (similar reference photos,
searched on the phone), with sha256 and size.

The bundle's own ``manifest.json`` lists its files with their checksums; the app downloads each,
checks it and switches atomically. Only the files listed here can be downloaded, so a file name
in a URL can never reach anything else on the server's disk; ``SERVER_ONLY`` files (the torch
weights) are never listed. The gallery pack is built on this server from the bank (``iriis
gallery pack``); until it exists, a release has none.
"""

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from api.deps import serving_identifier
from api.errors import NotFound
from api.settings import ApiSettings
from model.bundle import MANIFEST, SERVER_ONLY, sha256_file
from model.gallery.folder import GalleryFolder


@dataclass(frozen=True)
class Artifact:
    name: str
    kind: str  # "bundle": a file of the model bundle; "gallery": the gallery pack
    sha256: str
    size: int
    path: Path


@dataclass(frozen=True)
class Release:
    version: str
    artifacts: tuple[Artifact, ...]


def _bundle_artifacts(folder: Path) -> tuple[str, tuple[Artifact, ...]]:
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    files = [
        Artifact(name, "bundle", entry["sha256"], int(entry["size"]), folder / name)
        for name, entry in sorted(manifest["files"].items())
        if name not in SERVER_ONLY
    ]
    # The manifest itself too: the app keeps it to check the bundle when it loads it.
    path = folder / MANIFEST
    files.append(Artifact(MANIFEST, "bundle", sha256_file(path), path.stat().st_size, path))
    return str(manifest["version"]), tuple(files)


def latest_release(settings: ApiSettings) -> Release:
    folder = serving_identifier(settings).bundle.folder  # 503 when no bundle works
    version, artifacts = _bundle_artifacts(folder)
    pack = GalleryFolder(settings.galleries_dir / version).pack_path(version)
    if pack.is_file():
        stat = pack.stat()
        digest = _checksum(pack, stat.st_mtime_ns, stat.st_size)
        artifacts += (Artifact(pack.name, "gallery", digest, stat.st_size, pack),)
    return Release(version, artifacts)


@lru_cache(maxsize=8)
def _checksum(path: Path, mtime_ns: int, size: int) -> str:
    """The pack's sha256, computed once per version of the file (it is tens of megabytes)."""
    return sha256_file(path)


def artifact(settings: ApiSettings, *, version: str, name: str) -> Artifact:
    release = latest_release(settings)
    if version != release.version:
        raise NotFound(
            {
                "fr": f"la version de modèle {version!r} n'est pas distribuée; la dernière est "
                f"{release.version}",
                "en": f"model version {version!r} is not distributed; latest is {release.version}",
            }
        )
    for item in release.artifacts:
        if item.name == name:
            return item
    raise NotFound(
        {
            "fr": f"pas de fichier {name!r} dans le modèle {version}",
            "en": f"no file {name!r} in model {version}",
        }
    )
