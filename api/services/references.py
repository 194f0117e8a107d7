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
"""

import logging

from sqlalchemy.orm import Session

from api.errors import Conflict, NotFound
from api.models import Case, CaseStatus, Photo, User, utcnow
from api.services.queue import require_specialist
from model.i18n import Words

log = logging.getLogger(__name__)

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
