"""Checking uploaded photos and storing them all-or-nothing.

Every check (count, size, decodability) runs before anything is written, and files written for a
request whose database transaction then fails are removed again: a failed request leaves no file
behind (a file another committed row references is kept, since the store is content-addressed).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import InvalidInput, TooLarge
from api.models import Photo
from api.photostore import PhotoStore, PreparedPhoto, prepare
from model.identifier import MAX_PHOTOS  # of one specimen, per request: the identifier's
from model.imaging import ImageError
from model.settings import Settings


def photo_row(photo: PreparedPhoto, position: int, created_at: datetime) -> Photo:
    """The database row of a stored photo; its owner (identification or case) is set by the
    caller's relationship."""
    return Photo(
        position=position,
        sha256=photo.sha256,
        origin_sha256=photo.origin_sha256,
        width=photo.width,
        height=photo.height,
        created_at=created_at,
    )


def max_photo_bytes(settings: Settings) -> int:
    return int(settings.max_photo_mb * 1_000_000)


def prepare_uploads(uploads: Sequence[bytes], settings: Settings) -> list[PreparedPhoto]:
    """Check and decode 1 to 5 uploads; nothing is written."""
    if not uploads:
        raise InvalidInput(f"send 1 to {MAX_PHOTOS} photos of the specimen (field 'photos')")
    if len(uploads) > MAX_PHOTOS:
        raise InvalidInput(
            f"{len(uploads)} photos sent; at most {MAX_PHOTOS} photos of one specimen"
        )
    limit = max_photo_bytes(settings)
    for number, data in enumerate(uploads, 1):
        if len(data) > limit:
            raise TooLarge(
                f"photo {number} is {len(data) / 1e6:.1f} MB; the limit is "
                f"{settings.max_photo_mb:g} MB a photo"
            )
    prepared = []
    for number, data in enumerate(uploads, 1):
        try:
            prepared.append(prepare(data))
        except ImageError as exc:
            raise InvalidInput(f"photo {number}: {exc}") from None
    return prepared


@contextmanager
def stored(session: Session, store: PhotoStore, photos: Sequence[PreparedPhoto]) -> Iterator[None]:
    """Write ``photos``, then run the block that commits the rows referencing them; if the block
    fails, roll back and remove the files this call created and nothing references."""
    created = [photo.sha256 for photo in photos if store.put(photo)]
    try:
        yield
    except BaseException:
        session.rollback()
        for sha256 in created:
            if session.scalar(select(Photo.id).where(Photo.sha256 == sha256).limit(1)) is None:
                store.discard(sha256)
        raise
