"""Cases from the users' side: opening one, asking a specialist, following one's own cases,
sending the photos a specialist asked for. Every lookup is scoped to its owner: another user's
case or identification is "not found", never "forbidden", so ids reveal nothing.
"""

import logging
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from api.errors import Conflict, InvalidInput, NotFound
from api.models import (
    AGRICULTURAL_ROLES,
    MAX_MESSAGE_CHARS,
    Case,
    CaseStatus,
    Identification,
    Photo,
    Role,
    User,
    utcnow,
)
from api.photostore import PhotoStore
from api.services.ratelimits import enforce_specialist_request_limit
from api.services.uploads import photo_row, prepare_uploads, stored
from api.services.watchlist import watched_labels
from api.settings import ApiSettings
from model.catalog import Catalog
from model.i18n import Words
from model.identifier import MAX_PHOTOS
from model.result import Identification as Result
from model.result import LabelScore, Reason

log = logging.getLogger(__name__)

# Said alike wherever a case, an identification or a photo is looked up by id.
NO_SUCH_CASE: Words = {"fr": "cas introuvable", "en": "no such case"}
NO_SUCH_IDENTIFICATION: Words = {"fr": "identification introuvable", "en": "no such identification"}
NO_SUCH_PHOTO: Words = {"fr": "photo introuvable", "en": "no such photo"}

# A regulated or quarantine organism at least this likely among the model's candidates puts
# the case in the first tier: a missed quarantine pest costs far more than a specialist's look.
REGULATED_SUSPICION = 0.05
# Photos a user may add to one case, over all requests, on top of the identification's.
MAX_ADDED_PHOTOS = 2 * MAX_PHOTOS


def priority_tier(
    catalog: Catalog, *, role: str, top_k: Sequence[LabelScore], watched: Collection[str]
) -> int:
    """0: a regulated organism (the catalog's flag) or one the lab watches
    (``api.services.watchlist``) is suspected; 1: an agricultural user; 2: anyone else."""
    for candidate in top_k:
        entry = catalog.labels.get(candidate.label)
        marked = candidate.label in watched or (entry is not None and entry.regulated)
        if marked and candidate.probability >= REGULATED_SUSPICION:
            return 0
    return 1 if role in AGRICULTURAL_ROLES else 2


def clean_message(message: str | None) -> str | None:
    """A message stripped of surrounding blanks; None when empty; refused when too long."""
    text = (message or "").strip()
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInput(
            {
                "fr": f"le message est trop long : {MAX_MESSAGE_CHARS} caractères au plus",
                "en": f"the message is too long: at most {MAX_MESSAGE_CHARS} characters",
            }
        )
    return text or None


ANSWERED_ALREADY: Words = {
    "fr": "un spécialiste a déjà répondu à ce cas : pour une autre question, envoyez une nouvelle "
    "identification ou joignez le laboratoire",
    "en": "a specialist has already answered this case: for another question, send a new "
    "identification or contact the lab",
}


def new_case(
    identification: Identification,
    *,
    user: User,
    catalog: Catalog,
    asked: bool,
    message: str | None,
    now: datetime,
    watched: Collection[str] = frozenset(),
) -> Case:
    """A case for ``identification``, not yet added to a session. Its reason is the model's
    when the model doubted, ``asked`` when only the user did."""
    result = Result.from_dict(identification.result)
    reason = result.reason_code or Reason.ASKED
    return Case(
        identification=identification,
        user_id=user.id,
        status=CaseStatus.OPEN,
        reason=reason,
        message=clean_message(message),
        asked_at=now if asked else None,
        tier=priority_tier(catalog, role=user.role, top_k=result.top_k, watched=watched),
        uncertainty=1.0 - identification.probability,
        opened_at=now,
        updated_at=now,
    )


def own_identification(session: Session, *, user: User, identification_id: str) -> Identification:
    identification = session.get(Identification, identification_id)
    if identification is None or identification.user_id != user.id:
        raise NotFound(NO_SUCH_IDENTIFICATION)
    return identification


def ask_specialist(
    session: Session,
    *,
    settings: ApiSettings,
    catalog: Catalog,
    user: User,
    identification: Identification,
    message: str | None,
) -> tuple[Case, bool]:
    """Open a case on one's own identification, whatever the model's confidence; True when it
    was created. An identification has at most one case: asking again (a retry, or asking about
    a case the model already opened) returns that case, a new message added to the ones before
    (a retry's, the same as the last, is not added twice); a new message on an answered case is
    refused, with the way to reach the lab, rather than dropped."""
    if identification.user_id != user.id:
        raise NotFound(NO_SUCH_IDENTIFICATION)
    now = utcnow()
    case = identification.case
    if case is not None:
        text = clean_message(message)
        new_text = text is not None and not (case.message or "").endswith(text)
        if new_text and case.status == CaseStatus.ANSWERED:
            raise Conflict(ANSWERED_ALREADY)
        if case.asked_at is None or new_text:
            case.asked_at = case.asked_at or now
            if new_text:
                case.message = f"{case.message}\n\n{text}" if case.message else text
            case.updated_at = now
            session.commit()
        return case, False
    enforce_specialist_request_limit(session, user=user, settings=settings, now=now, lock=True)
    case = new_case(
        identification,
        user=user,
        catalog=catalog,
        asked=True,
        message=message,
        now=now,
        watched=watched_labels(session),
    )
    session.add(case)
    try:
        session.commit()
    except IntegrityError:  # the same request, retried concurrently, won the race
        session.rollback()
        session.refresh(identification)
        if identification.case is None:
            raise
        return identification.case, False
    log.info("case %s opened on request of user %d", case.id, user.id)
    return case, True


def user_cases(
    session: Session, *, user: User, since: datetime | None = None, limit: int | None = None
) -> list[Case]:
    """The user's own cases, newest first; with ``since``, only those changed at or after it
    (a phone's sync asks for what changed since the newest change it has seen)."""
    # what each case's answer shows, loaded for all of them at once (not 3 queries a case)
    query = (
        select(Case)
        .where(Case.user_id == user.id)
        .options(
            selectinload(Case.decisions),
            selectinload(Case.photos),
            selectinload(Case.identification).selectinload(Identification.case),
        )
    )
    if since is not None:
        query = query.where(Case.updated_at >= since)
    query = query.order_by(Case.opened_at.desc())
    return list(session.scalars(query.limit(limit) if limit else query))


def user_case(session: Session, *, user: User, case_id: str) -> Case:
    case = session.get(Case, case_id)
    if case is None or case.user_id != user.id:
        raise NotFound(NO_SUCH_CASE)
    return case


def add_photos(
    session: Session,
    *,
    store: PhotoStore,
    settings: ApiSettings,
    case: Case,
    uploads: Sequence[bytes],
) -> Case:
    """Add photos to one's case (what a specialist asks for with ``request_photos``); the case
    then returns to the queue in its original place. Photos the case already has are skipped,
    so a retried upload adds nothing twice."""
    if case.status == CaseStatus.ANSWERED:
        raise Conflict(
            {
                "fr": "ce cas a reçu sa réponse; demandez l'avis d'un spécialiste sur une nouvelle "
                "identification",
                "en": "this case has been answered; ask a specialist about a new identification",
            }
        )
    prepared = prepare_uploads(uploads, settings=settings)
    known = {photo.sha256 for photo in (*case.identification.photos, *case.photos)}
    fresh = list({p.sha256: p for p in prepared if p.sha256 not in known}.values())
    if len(case.photos) + len(fresh) > MAX_ADDED_PHOTOS:
        raise InvalidInput(
            {
                "fr": f"{MAX_ADDED_PHOTOS} photos au plus peuvent être ajoutées à un cas",
                "en": f"at most {MAX_ADDED_PHOTOS} photos can be added to a case",
            }
        )
    now = utcnow()
    with stored(session, store=store, photos=fresh):
        for position, photo in enumerate(fresh, len(case.photos)):
            row = photo_row(photo, position=position, created_at=now)
            row.case_id = case.id
            session.add(row)
        if fresh and case.status == CaseStatus.AWAITING_PHOTOS:
            case.status = CaseStatus.OPEN
        case.updated_at = now
        session.commit()
    session.refresh(case)
    log.info("case %s: %d photo(s) added", case.id, len(fresh))
    return case


def check_photo_access(session: Session, *, user: User, sha256: str) -> None:
    """Raise NotFound unless ``user`` may see the stored photo ``sha256``: its owner; a
    specialist, for photos of a case; a researcher, for photos of a case answered with a label
    (what the export contains)."""
    of_identification = select(Photo.identification_id).where(Photo.sha256 == sha256)
    of_case = select(Photo.case_id).where(Photo.sha256 == sha256)
    cases = select(Case).where(
        or_(Case.identification_id.in_(of_identification), Case.id.in_(of_case))
    )
    if user.role == Role.SPECIALIST:
        allowed = session.scalar(select(exists(cases)))
    elif user.role == Role.RESEARCHER:
        allowed = session.scalar(
            select(exists(cases.where(Case.status == CaseStatus.ANSWERED, Case.label.is_not(None))))
        )
    else:
        allowed = False
    if not allowed:
        own = select(Identification.id).where(
            Identification.user_id == user.id, Identification.id.in_(of_identification)
        )
        own_case = select(Case.id).where(Case.user_id == user.id, Case.id.in_(of_case))
        allowed = session.scalar(select(exists(own) | exists(own_case)))
    if not allowed:
        raise NotFound(NO_SUCH_PHOTO)
