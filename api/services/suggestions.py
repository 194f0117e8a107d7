"""What the served model says of each photo of a case, beside the answer stored with it.

The stored answer (``identifications.result``) is the model's verdict on the specimen's photos
taken together; it keeps no per-photo results, and photos a user added after it, at a
specialist's request, were never identified at all. A specialist comparing photos needs both,
so they are recomputed here, from the stored photos (the re-encoded JPEGs of
``api.photostore``, not the bytes sent), with the identifier the server answers with now
(``api.deps.serving_identifier``: possibly a newer model than the stored answer's, whose
version is given). The stored answer is never changed: these suggestions sit beside it.

A photo's own identification says whether the policy sets it aside for its quality
(``model.policy``: too dark, blurry or small), which is what it was set aside for in the
specimen's answer too, since the quality rule judges each photo alone.

Readings are kept (``READINGS``, the most recent few hundred): photos are content-addressed and
a model version answers the same bytes the same way, so a reading is named for good by the
model's version, the photos' hashes and the crop; the case page, opened again and again while a
specialist works on a case, then costs no inference after the first view.
"""

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from api.models import Case, Photo
from api.photostore import PhotoStore
from model.answer import RETAKE_REASONS, worth_a_line
from model.catalog import Catalog
from model.identifier import MAX_PHOTOS, Identifier
from model.imaging import ImageError
from model.result import Identification as Result
from model.result import LabelScore, Reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoSuggestion:
    """One stored photo as the served model reads it alone."""

    sha256: str
    added: bool  # sent after the answer, at a specialist's request
    # its own top labels, best first, from the answers' noise floor up; empty when unreadable
    top_k: tuple[LabelScore, ...]
    set_aside: Reason | None  # the quality reason the policy sets it aside for, if any
    readable: bool


@dataclass(frozen=True)
class CaseSuggestions:
    """Every photo of a case read alone, and the added photos read together (None when the
    user added none)."""

    model_version: str
    photos: tuple[PhotoSuggestion, ...]
    added: Result | None


class Readings:
    """The served model's readings of stored photos, the ``size`` most recently used kept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[tuple[str, tuple[str, ...], str | None], Result] = OrderedDict()
        self._lock = threading.Lock()

    def read(
        self, identifier: Identifier, photos: Sequence[str], crop: str | None, store: PhotoStore
    ) -> Result:
        """``identifier``'s answer to the stored ``photos`` on ``crop``; raises as
        ``Identifier.identify`` or ``PhotoStore.read`` do (a failure is not kept)."""
        key = (identifier.version, tuple(photos), crop)
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        result = identifier.identify([store.read(sha256) for sha256 in photos], crop=crop)
        with self._lock:
            self._kept[key] = result
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return result


READINGS = Readings(512)


def case_suggestions(
    *, case: Case, store: PhotoStore, identifier: Identifier, catalog: Catalog
) -> CaseSuggestions:
    """The served model's reading of each photo of ``case`` (the identification's, then the
    added ones) on the crop the user named, and of the added photos together (the newest
    ``MAX_PHOTOS`` of them: what one identification takes)."""
    crop = catalog.crop_id(case.identification.crop)
    photos = [
        _photo(photo, added, store, identifier, crop)
        for photos, added in ((case.identification.photos, False), (case.photos, True))
        for photo in photos
    ]
    added = _together(case.photos[-MAX_PHOTOS:], store, identifier, crop)
    return CaseSuggestions(identifier.version, tuple(photos), added)


def _photo(
    photo: Photo, added: bool, store: PhotoStore, identifier: Identifier, crop: str | None
) -> PhotoSuggestion:
    try:
        result = READINGS.read(identifier, [photo.sha256], crop, store)
    except (OSError, ImageError) as exc:
        log.warning("stored photo %s not identified again: %s", photo.sha256, exc)
        return PhotoSuggestion(photo.sha256, added, (), None, readable=False)
    set_aside = result.reason if result.reason in RETAKE_REASONS else None
    return PhotoSuggestion(
        photo.sha256, added, tuple(worth_a_line(result)), set_aside, readable=True
    )


def _together(
    photos: Sequence[Photo], store: PhotoStore, identifier: Identifier, crop: str | None
) -> Result | None:
    if not photos:
        return None
    try:
        return READINGS.read(identifier, [photo.sha256 for photo in photos], crop, store)
    except (OSError, ImageError) as exc:
        log.warning("added photos of case %s not identified: %s", photos[0].case_id, exc)
        return None
