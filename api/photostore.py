"""The photo store: users' photos on disk, content-addressed, with no metadata left.

A field photo's EXIF carries the phone's GPS position, its owner's name and the device serial;
none of it may leave the server or even sit on its disk. Each upload is decoded (EXIF orientation
applied first, by ``model.imaging.decode_image``) and re-encoded as a plain JPEG, which keeps
pixels only. The file is named by the SHA-256 of what is stored, so the same photo sent twice is
stored once and a file can be checked against its name.
"""

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from model.imaging import decode_image

JPEG_QUALITY = 92


@dataclass(frozen=True)
class PreparedPhoto:
    """An upload turned into what will be stored, before anything is written."""

    data: bytes  # EXIF-free JPEG
    sha256: str  # of ``data``
    origin_sha256: str  # of the bytes the user sent
    width: int
    height: int


def prepare(upload: bytes) -> PreparedPhoto:
    """Decode an upload (``ImageError`` when unusable) and re-encode it without metadata."""
    image = decode_image(upload)
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
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(photo.data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return True

    def discard(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def files(self) -> list[Path]:
        """Every stored photo (tests check that failed requests leave none behind)."""
        return sorted(self.root.glob("*/*.jpg")) if self.root.exists() else []
