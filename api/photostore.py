"""The photo store: users' photos on disk, content-addressed, with no metadata left.

A field photo's EXIF carries the phone's GPS position, its owner's name and the device serial;
none of it may leave the server or even sit on its disk. Each upload is decoded (EXIF orientation
applied first, by ``model.imaging.decode_image``) and re-encoded as a plain JPEG, which keeps
pixels only. The file is named by the SHA-256 of what is stored, so the same photo sent twice is
stored once and a file can be checked against its name.

Files are written before the rows that reference them are committed, so that a committed row
never names a missing file. A request that fails removes what it wrote, but one killed between
the two (or whose clean-up found the database down) leaves a file nothing references, or a
``.part`` file; :meth:`PhotoStore.sweep` removes those once they are older than any request
lasts.
"""

import errno
import hashlib
import io
import logging
import os
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from model.imaging import decode_image

log = logging.getLogger(__name__)

JPEG_QUALITY = 92
THUMBNAIL_QUALITY = 80
# How long a file may stay unreferenced before the sweep takes it for a failed request's: far
# longer than any request takes between writing its photos and committing their rows.
SWEEP_GRACE_S = 3600.0


# A disk that cannot take a photo now (full, over quota, remounted read-only, permissions lost):
# the operator must act, the user should retry later; nothing else about the request is wrong.
_STORE_FULL_OR_LOCKED = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


class StoreUnavailable(OSError):
    """The photo store cannot take or give photos now (full, read-only, unreachable): the
    request is answered 503 with ``Retry-After`` and nothing of it is kept."""


@dataclass(frozen=True)
class PreparedPhoto:
    """An upload turned into what will be stored, before anything is written."""

    data: bytes  # EXIF-free JPEG
    sha256: str  # of ``data``
    origin_sha256: str  # of the bytes the user sent
    width: int
    height: int


def prepare(upload: bytes, *, max_side: int | None = None) -> PreparedPhoto:
    """Decode an upload (``ImageError`` when unusable), reduced to ``max_side`` pixels on its
    longer side when it is larger, and re-encode it without metadata."""
    image = decode_image(upload, max_side=max_side)
    buffer = io.BytesIO()
    # A fresh RGB image has no info dictionary: no EXIF, XMP, ICC or comment is written.
    Image.frombytes("RGB", image.size, image.tobytes()).save(
        buffer, format="JPEG", quality=JPEG_QUALITY
    )
    data = buffer.getvalue()
    return PreparedPhoto(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        origin_sha256=hashlib.sha256(upload).hexdigest(),
        width=image.width,
        height=image.height,
    )


class PhotoStore:
    """Files ``<root>/<sha256[:2]>/<sha256>.jpg``, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self.root / sha256[:2] / f"{sha256}.jpg"

    def put(self, photo: PreparedPhoto) -> bool:
        """Store ``photo``; True when this call created the file (the caller removes it again
        with :meth:`discard` if what should reference it is not committed)."""
        target = self.path(photo.sha256)
        try:
            # The photo is there already: touched, so that a sweep running now takes it for a
            # fresh file and leaves it to the row about to reference it.
            os.utime(target)
            return False
        except FileNotFoundError:
            pass
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        except OSError as exc:
            raise _unavailable(exc) from exc
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(photo.data)
            os.replace(temporary, target)
        except BaseException as exc:
            Path(temporary).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _unavailable(exc) from exc
            raise
        return True

    def discard(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def thumbnail(self, sha256: str, *, side: int) -> bytes:
        """A stored photo reduced to ``side`` pixels on its longer side, as a JPEG: for pages
        that list many photos at once (the specialists' queue), which a 4,096 px file each
        would slow to a crawl. A JPEG decodes directly at a reduced scale (``decode_image``)."""
        image = decode_image(self.read(sha256), max_side=side)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
        return buffer.getvalue()

    def files(self) -> list[Path]:
        """Every stored photo (tests check that failed requests leave none behind)."""
        return sorted(self.root.glob("*/*.jpg")) if self.root.exists() else []

    def sweep(
        self,
        referenced: Callable[[Collection[str]], Collection[str]],
        grace_s: float = SWEEP_GRACE_S,
    ) -> int:
        """Remove the photos ``referenced`` (which of these hashes rows name) does not name and
        the temporary files, those last written more than ``grace_s`` ago; how many went.
        ``referenced`` raising (the database is down) removes nothing: the next sweep will."""
        cutoff = time.time() - grace_s
        removed = 0
        for path in self.root.glob("*/*.part"):
            if _older(path, cutoff):
                path.unlink(missing_ok=True)
                removed += 1
        old = {path.stem: path for path in self.files() if _older(path, cutoff)}
        kept = set(referenced(list(old))) if old else set()
        for sha256, path in old.items():
            # Checked again right before: a request may have touched it since (put).
            if sha256 not in kept and _older(path, cutoff):
                path.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("photo sweep: %d file(s) of failed requests removed", removed)
        return removed


def _unavailable(exc: OSError) -> OSError:
    """``StoreUnavailable`` for a disk that cannot take a photo now, ``exc`` itself otherwise."""
    if exc.errno in _STORE_FULL_OR_LOCKED:
        log.error("photo store cannot write: %s", exc)
        return StoreUnavailable(exc.errno, f"photo store unavailable: {exc.strerror}")
    return exc


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False
