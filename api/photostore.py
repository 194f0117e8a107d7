"""The photo store: users' photos, content-addressed, with no metadata left.

A field photo's EXIF carries the phone's GPS position, its owner's name and the device serial;
none of it may leave the server or even sit in its store. A JPEG within the stored size (what
phones send) keeps its compressed data as sent, with only the segments decoding needs
(``api.jpeg_strip``: its EXIF orientation alone is kept, so that it still shows upright); any
other upload is decoded (EXIF orientation applied first, by ``model.imaging.decode_image``) and
re-encoded as a plain JPEG, which keeps pixels only. The photo is named by the SHA-256 of what
is stored, so the same photo sent twice is stored once and a photo can be checked against its
name.

Two backends behind one interface (:class:`PhotoStore`), chosen by ``IRIIS_PHOTOS_URL``
(:func:`open_store`): a folder (:class:`FolderStore`, the embedded default, ``IRIIS_HOME/photos``)
and a bucket on any S3 API (``api.photostore_s3.S3Store``: SeaweedFS, MinIO, Ceph, AWS). Either
writes a photo whole or not at all, and says :class:`StoreUnavailable` when it cannot take or
give photos now (a full or read-only disk, a store that does not answer): the request is then
answered 503 and keeps nothing.

Photos are written before the rows that reference them are committed, so that a committed row
never names a missing photo. A request that fails removes what it wrote, but one killed between
the two (or whose clean-up found the database down) leaves a photo nothing references, or a
folder's ``.part`` file; :meth:`PhotoStore.sweep` removes those once they are older than any
request lasts.
"""

import errno
import hashlib
import io
import logging
import os
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from api.jpeg_strip import strip_metadata
from api.settings import ApiSettings
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

    data: bytes  # a JPEG without metadata, but for an EXIF orientation
    sha256: str  # of ``data``
    origin_sha256: str  # of the bytes the user sent
    width: int  # upright: as the photo is shown
    height: int


def prepare(upload: bytes, *, max_side: int | None = None, lossless: bool = True) -> PreparedPhoto:
    """Turn an upload into its stored copy, without metadata; ``ImageError`` when it is
    unusable. A JPEG within ``max_side`` (the common case: a phone's photo) keeps its compressed
    data as sent, only the segments decoding needs copied (``api.jpeg_strip``): the pixels as
    taken, in a tenth of the time. Any other photo (or with ``lossless=False``, which the bench
    compares) is decoded, reduced to ``max_side`` on its longer side when larger, and
    re-encoded."""
    copy = strip_metadata(upload, max_side=max_side) if lossless else None
    if copy is not None:
        # Decoded once all the same, at libjpeg's smallest scale (1/8): every scan is still read
        # and entropy-decoded whole, which is what refuses a corrupt photo; only the inverse
        # DCT is cut short. The identifier decodes the upload, not this copy.
        decode_image(copy.data, max_side=max(1, max(copy.width, copy.height) // 8))
        data, width, height = copy.data, copy.width, copy.height
    else:
        image = decode_image(upload, max_side=max_side)
        buffer = io.BytesIO()
        # A fresh RGB image has no info dictionary: no EXIF, XMP, ICC or comment is written.
        Image.frombytes("RGB", image.size, image.tobytes()).save(
            buffer, format="JPEG", quality=JPEG_QUALITY
        )
        data, width, height = buffer.getvalue(), image.width, image.height
    return PreparedPhoto(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        origin_sha256=hashlib.sha256(upload).hexdigest(),
        width=width,
        height=height,
    )


class PhotoStore(ABC):
    """Photos by the SHA-256 of their bytes: written whole or not at all, read, listed with when
    each was last written (the sweep's grace period), removed. One object per application
    (``api.app.create_app``), shared by its threads."""

    @abstractmethod
    def put(self, photo: PreparedPhoto) -> bool:
        """Store ``photo``; True when this call created it (the caller removes it again with
        :meth:`discard` if what should reference it is not committed). A photo already there is
        written again (touched), so that a sweep running now takes it for a fresh one and leaves
        it to the row about to reference it. ``StoreUnavailable`` when the store cannot take it
        now; nothing of it is kept then."""

    @abstractmethod
    def discard(self, sha256: str) -> None:
        """Remove a photo; nothing happens when it is not there."""

    @abstractmethod
    def read(self, sha256: str) -> bytes:
        """A stored photo's bytes; ``FileNotFoundError`` when it is not there."""

    @abstractmethod
    def listing(self) -> Iterator[tuple[str, float]]:
        """Every stored photo: its SHA-256 and when it was last written (Unix time)."""

    @abstractmethod
    def written_at(self, sha256: str) -> float | None:
        """When a photo was last written (Unix time); None when it is not there."""

    def hashes(self) -> list[str]:
        """Every stored photo's SHA-256, sorted."""
        return sorted(sha256 for sha256, _ in self.listing())

    def thumbnail(self, sha256: str, *, side: int) -> bytes:
        """A stored photo reduced to ``side`` pixels on its longer side, as a JPEG: for pages
        that list many photos at once (the specialists' queue), which a 4,096 px file each
        would slow to a crawl. A JPEG decodes directly at a reduced scale (``decode_image``)."""
        image = decode_image(self.read(sha256), max_side=side)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
        return buffer.getvalue()

    def sweep(
        self,
        referenced: Callable[[Collection[str]], Collection[str]],
        grace_s: float = SWEEP_GRACE_S,
    ) -> int:
        """Remove the photos ``referenced`` (which of these hashes rows name) does not name and
        the leftovers of interrupted writes, those last written more than ``grace_s`` ago; how
        many went. ``referenced`` raising (the database is down) removes nothing: the next
        sweep will."""
        cutoff = time.time() - grace_s
        removed = self._remove_leftovers(cutoff)
        old = [sha256 for sha256, written in self.listing() if written < cutoff]
        kept = set(referenced(old)) if old else set()
        for sha256 in old:
            if sha256 in kept:
                continue
            # Checked again right before: a request may have touched it since (put).
            written = self.written_at(sha256)
            if written is not None and written < cutoff:
                self.discard(sha256)
                removed += 1
        if removed:
            log.info("photo sweep: %d photo(s) of failed requests removed", removed)
        return removed

    def _remove_leftovers(self, cutoff: float) -> int:
        """Remove what interrupted writes left that was last written before ``cutoff``; how
        many. A store whose writes are atomic by themselves leaves nothing."""
        return 0


def check_sha256(sha256: str) -> str:
    """``sha256`` itself when it is a SHA-256 in lower-case hexadecimal (a photo's name), else
    ``ValueError``: no other name reaches a path or a key."""
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a SHA-256: {sha256!r}")
    return sha256


class FolderStore(PhotoStore):
    """Files ``<root>/<sha256[:2]>/<sha256>.jpg``, written through a ``.part`` file renamed
    into place."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FolderStore({str(self.root)!r})"

    def path(self, sha256: str) -> Path:
        name = check_sha256(sha256)
        return self.root / name[:2] / f"{name}.jpg"

    def put(self, photo: PreparedPhoto) -> bool:
        target = self.path(photo.sha256)
        try:
            os.utime(target)  # there already: touched (see PhotoStore.put)
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

    def files(self) -> list[Path]:
        """Every stored photo's file (tests check that failed requests leave none behind)."""
        return sorted(self.root.glob("*/*.jpg")) if self.root.exists() else []

    def listing(self) -> Iterator[tuple[str, float]]:
        for path in self.files():
            written = _written_at(path)
            if written is not None:
                yield path.stem, written

    def written_at(self, sha256: str) -> float | None:
        return _written_at(self.path(sha256))

    def _remove_leftovers(self, cutoff: float) -> int:
        removed = 0
        for path in self.root.glob("*/*.part"):
            written = _written_at(path)
            if written is not None and written < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def open_store(settings: ApiSettings) -> PhotoStore:
    """The store ``IRIIS_PHOTOS_URL`` names: empty or ``file:``, the folder ``photos`` under
    ``IRIIS_HOME``; ``file:///PATH``, that folder; ``s3://...``, a bucket
    (``api.photostore_s3.parse_url``). Built once per application: an S3 client is costly."""
    url = settings.photos_url.get_secret_value().strip()
    if url in ("", "file:"):
        return FolderStore(settings.photos_dir)
    scheme = url.partition(":")[0].lower()
    if scheme == "file":
        path = url.removeprefix("file://")
        if not path.startswith("/"):
            raise ValueError("IRIIS_PHOTOS_URL: a folder is named file:///ABSOLUTE/PATH")
        return FolderStore(Path(path))
    if scheme == "s3":
        from api.photostore_s3 import S3Store  # boto3 is loaded only for a bucket

        return S3Store.from_url(url)
    raise ValueError(
        f"IRIIS_PHOTOS_URL: unknown scheme {scheme!r}: file:, file:///PATH or s3://BUCKET"
    )


def _unavailable(exc: OSError) -> OSError:
    """``StoreUnavailable`` for a disk that cannot take a photo now, ``exc`` itself otherwise."""
    if exc.errno in _STORE_FULL_OR_LOCKED:
        log.error("photo store cannot write: %s", exc)
        return StoreUnavailable(exc.errno, f"photo store unavailable: {exc.strerror}")
    return exc


def _written_at(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None
