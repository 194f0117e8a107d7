"""Shareable reference photos: the one exception to "a user's photo is never shown to another".

A grower's case photos train the model, but the galleries of similar photos that other users and
phones see are built from the lab's reference bank alone. A specialist may make one of a case's
photos a lab reference (a clear photo of a confirmed diagnosis is what the bank lacks most: field
photos), but only when two things hold, and this module is the one place that decides it:

- the photo's owner agreed (``User.share_photos``, which they set themselves and may withdraw);
- the case was answered with a label, which the reference photo carries.

The mark records who made it and when (``Photo.reference_by``, ``reference_at``). The export
(``api.services.export``) names a photo shareable only while both still hold, so that a withdrawn
consent takes the photo out of every gallery built afterwards (``iriis retrain`` builds them). A
reference photo leaves without its owner's name, place or date, like every exported photo.

A gallery already built keeps the photo until the next publication, so the service asks
:func:`withdrawn` which of its case photos are no longer shareable (the owner withdrew consent or
was erased, the mark was taken back): they leave the answers and the thumbnails at once, and the
phones drop them at their next sync (``/v1/models/latest``'s ``withdrawn_references``).
"""

import logging
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import Conflict, NotFound
from api.models import Case, CaseStatus, Photo, User, utcnow
from api.services.queue import require_specialist
from model.gallery import Gallery
from model.i18n import Words

log = logging.getLogger(__name__)

# The source the export gives every case photo: in a gallery, it marks the photos that came from
# a user, not from the lab's bank.
CASE_SOURCE = "IRIIS Phyto lab cases"
# Each served gallery's case photos (content hash -> photo id), read once per gallery.
_CASE_PHOTOS: "WeakKeyDictionary[Gallery, dict[str, str]]" = WeakKeyDictionary()

NO_SUCH_CASE_PHOTO: Words = {
    "fr": "ce cas n'a pas de photo de cette empreinte",
    "en": "this case has no photo with this hash",
}
NO_CONSENT: Words = {
    "fr": "l'utilisateur n'a pas accepté que ses photos servent de références ; elles restent "
    "privées",
    "en": "the user has not agreed to share their photos as references; they stay private",
}
NOT_LABELLED: Words = {
    "fr": "répondez d'abord au cas avec une étiquette : une photo de référence porte la sienne",
    "en": "answer the case with a label first: a reference photo carries its label",
}


def is_shareable(photo: Photo, case: Case) -> bool:
    """Whether ``photo`` of ``case`` may be shown to other users now: marked by a specialist,
    its owner still consenting, the case still answered with a label."""
    return (
        photo.reference_at is not None
        and case.user.share_photos
        and case.status == CaseStatus.ANSWERED
        and case.label is not None
    )


def mark_reference(
    session: Session, *, case: Case, specialist: User, sha256: str, shared: bool
) -> Photo:
    """Make a photo of ``case`` a shareable reference (``shared``), or take the mark back."""
    require_specialist(specialist)
    photo = next(
        (p for p in (*case.identification.photos, *case.photos) if p.sha256 == sha256), None
    )
    if photo is None:
        raise NotFound(NO_SUCH_CASE_PHOTO)
    if shared:
        if not case.user.share_photos:
            raise Conflict(NO_CONSENT)
        if case.status != CaseStatus.ANSWERED or case.label is None:
            raise Conflict(NOT_LABELLED)
        photo.reference_by, photo.reference_at = specialist.id, utcnow()
    else:
        photo.reference_by = photo.reference_at = None
    session.commit()
    log.info(
        "case %s: photo %s %s a reference by specialist %d",
        case.id,
        sha256[:12],
        "made" if shared else "no longer",
        specialist.id,
    )
    return photo


def withdrawn(session: Session, gallery: Gallery | None) -> frozenset[str]:
    """The photo ids of ``gallery``'s case photos that no one may be shown now (module doc):
    none when the gallery holds no case photo, else two small queries."""
    if gallery is None:
        return frozenset()
    if gallery not in _CASE_PHOTOS:
        _CASE_PHOTOS[gallery] = {
            item.sha256: item.photo_id for item in gallery.items if item.source == CASE_SOURCE
        }
    in_gallery = _CASE_PHOTOS[gallery]
    if not in_gallery:
        return frozenset()
    marked = Photo.sha256.in_(in_gallery) & Photo.reference_at.is_not(None)
    sent = select(Photo, Case).join(
        Case, Case.identification_id == Photo.identification_id
    )  # photos sent with the identification the case is about
    added = select(Photo, Case).join(Case, Case.id == Photo.case_id)  # added to the case later
    shareable = {
        photo.sha256
        for query in (sent, added)
        for photo, case in session.execute(query.where(marked)).all()
        if is_shareable(photo, case)
    }
    return frozenset(id_ for sha256, id_ in in_gallery.items() if sha256 not in shareable)
