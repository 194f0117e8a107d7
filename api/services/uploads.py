"""Checking uploaded photos and storing them all-or-nothing.

Every check (count, size, decodability) runs before anything is written, and files written for a
request whose database transaction then fails are removed again: a failed request leaves no file
behind (a file another committed row references is kept, since the store is content-addressed).
"""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import InvalidInput, TooLarge
from api.models import Photo
from api.photostore import PhotoStore, PreparedPhoto, prepare
from api.settings import ApiSettings
from model.i18n import Words
from model.identifier import MAX_PHOTOS  # of one specimen, per request: the identifier's
from model.imaging import ImageError

log = logging.getLogger(__name__)


def photo_row(photo: PreparedPhoto, *, position: int, created_at: datetime) -> Photo:
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


# What a request with more photos is told, by this service or, when the parser refuses the part
# after the last one allowed, by the API's error handler (api/app.py).
TOO_MANY_PHOTOS: Words = {
    "fr": f"trop de photos : au plus {MAX_PHOTOS} photos d'un même spécimen par envoi",
    "en": f"too many photos: at most {MAX_PHOTOS} photos of one specimen per request",
}


def max_photo_bytes(settings: ApiSettings) -> int:
    return int(settings.max_photo_mb * 1_000_000)


def prepare_uploads(uploads: Sequence[bytes], *, settings: ApiSettings) -> list[PreparedPhoto]:
    """Check and decode 1 to ``MAX_PHOTOS`` uploads, each reduced to what is stored
    (``IRIIS_MAX_PHOTO_SIDE``); nothing is written."""
    if not uploads:
        raise InvalidInput(
            {
                "fr": f"envoyez de 1 à {MAX_PHOTOS} photos du spécimen (champ 'photos')",
                "en": f"send 1 to {MAX_PHOTOS} photos of the specimen (field 'photos')",
            }
        )
    if len(uploads) > MAX_PHOTOS:
        raise InvalidInput(TOO_MANY_PHOTOS)
    limit = max_photo_bytes(settings)
    for number, data in enumerate(uploads, 1):
        # Uploads are read one byte past the limit (api.routes.identifications.read_photos):
        # enough to tell that a photo is over it, not how far.
        if len(data) > limit:
            most = settings.max_photo_mb
            raise TooLarge(
                {
                    "fr": f"la photo {number} dépasse {most:g} Mo, la taille maximale d'une photo",
                    "en": f"photo {number} is over {most:g} MB, the size limit of a photo",
                }
            )
    prepared = []
    for number, data in enumerate(uploads, 1):
        try:
            prepared.append(prepare(data, max_side=settings.max_photo_side))
        except ImageError as exc:
            why = exc.words
            raise InvalidInput(
                {"fr": f"photo {number} : {why['fr']}", "en": f"photo {number}: {why['en']}"}
            ) from None
    return prepared


@contextmanager
def stored(
    session: Session, *, store: PhotoStore, photos: Sequence[PreparedPhoto]
) -> Iterator[None]:
    """Write ``photos``, then run the block that commits the rows referencing them; if a write
    (the store full: ``StoreUnavailable``) or the block fails, roll back and remove the files
    this call created and nothing references.

    Two requests may carry the same photo at once (a client retrying after its own timeout
    while its first request still runs): the first writes it, the second finds it stored. If
    the first then fails before the second commits, its clean-up sees no row and removes the
    file the second's row is about to name; so after committing, a photo this call found
    stored is checked, and written again if it went."""
    created: list[str] = []
    try:
        for photo in photos:
            if store.put(photo):
                created.append(photo.sha256)
        yield
    except BaseException:
        session.rollback()
        for sha256 in created:
            if session.scalar(select(Photo.id).where(Photo.sha256 == sha256).limit(1)) is None:
                store.discard(sha256)
        raise
    for photo in photos:
        if photo.sha256 not in created and store.written_at(photo.sha256) is None:
            log.warning(
                "photo %s removed by a failed request meanwhile: written again", photo.sha256
            )
            store.put(photo)
