"""Identifying a specimen from the user's photos, exactly once per client id.

The order of the steps is what keeps the contract of docs/architecture.md: a retry with a known
client id is answered from the database before anything else (never refused by a rate limit,
never identified twice); every photo is checked and the model run before anything is written;
the identification, its photos and its case (when ``model.routing`` opens one, or the user
asks) are then committed together, and the files are removed again if that commit fails (or,
when the process is killed before it can, by the photo sweep: ``api.services.photos``).
"""

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Conflict, InvalidInput
from api.models import Identification, Role, User, utcnow
from api.photostore import PhotoStore
from api.services.cases import new_case
from api.services.ratelimits import (
    enforce_identification_limit,
    enforce_specialist_request_limit,
)
from api.services.references import withdrawn
from api.services.uploads import photo_row, prepare_uploads, stored
from api.services.watchlist import watched_labels
from api.settings import ApiSettings
from model.catalog import Catalog
from model.i18n import Language, Profile
from model.identifier import Identifier
from model.imaging import ImageError
from model.routing import opens_case

log = logging.getLogger(__name__)

# How far ahead of the server's clock a device's clock may be.
CLOCK_SKEW = timedelta(days=1)
# The advice a role reads when the request names no profile.
DEFAULT_PROFILE: dict[str, Profile] = {
    Role.GROWER: "grower",
    Role.ADVISOR: "advisor",
    Role.CITIZEN: "citizen",
    Role.RESEARCHER: "researcher",
    Role.SPECIALIST: "advisor",
    Role.ADMIN: "advisor",
}


@dataclass(frozen=True)
class IdentificationRequest:
    """Everything of a request but the photos; ranges are checked by the API's schema."""

    client_id: str | None = None
    crop: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    observed_at: datetime | None = None
    profile: Profile | None = None
    language: Language | None = None
    ask_specialist: bool = False
    message: str | None = None
    shared: bool = False  # the user shares it for the lab's surveillance


def identify(
    session: Session,
    *,
    store: PhotoStore,
    identifier: Identifier,
    catalog: Catalog,
    settings: ApiSettings,
    user: User,
    uploads: Sequence[bytes],
    request: IdentificationRequest,
) -> tuple[Identification, bool]:
    """Identify the specimen of ``uploads`` for ``user``; True when this call created the
    identification, False when it is a retry of an earlier request with the same client id."""
    if (request.latitude is None) != (request.longitude is None):
        raise InvalidInput(
            {
                "fr": "donnez la latitude et la longitude, ou ni l'une ni l'autre",
                "en": "give both latitude and longitude, or neither",
            }
        )
    if request.observed_at is not None and request.observed_at > utcnow() + CLOCK_SKEW:
        raise InvalidInput(
            {
                "fr": "observed_at est dans le futur ; vérifiez l'horloge de l'appareil",
                "en": "observed_at is in the future; check the device's clock",
            }
        )
    if request.client_id:
        earlier = _by_client_id(session, user, request.client_id)
        if earlier is not None:
            return _replay(earlier, uploads), False
    now = utcnow()
    enforce_identification_limit(session, user=user, settings=settings, now=now)
    if request.ask_specialist:
        enforce_specialist_request_limit(session, user=user, settings=settings, now=now)
    photos = prepare_uploads(uploads, settings=settings)
    try:
        result = identifier.identify(
            list(uploads),
            crop=catalog.crop_id(request.crop),
            hidden=withdrawn(session, identifier.gallery),
        )
    except ImageError as exc:
        raise InvalidInput(exc.words) from None
    identification = Identification(
        user_id=user.id,
        client_id=request.client_id or None,
        created_at=now,
        observed_at=request.observed_at or now,
        crop=request.crop,
        latitude=request.latitude,
        longitude=request.longitude,
        profile=request.profile or DEFAULT_PROFILE[user.role],
        language=request.language or user.language,
        model_version=result.model_version,
        label=result.label,
        probability=result.probability,
        decision=result.decision,
        result=result.to_dict(),
        shared=request.shared,
        photos=[
            photo_row(photo, position=position, created_at=now)
            for position, photo in enumerate(photos)
        ],
        # None until a case is opened below: the answer then reads it without a query
        case=None,
    )
    # model.routing: the role's profile, not the request's, decides whether a case opens
    opens = opens_case(result, DEFAULT_PROFILE[user.role], asked=request.ask_specialist)
    try:
        with stored(session, store=store, photos=photos):
            # Counted again under the user's lock (PostgreSQL), right before the insert.
            enforce_identification_limit(session, user=user, settings=settings, now=now, lock=True)
            if request.ask_specialist:
                enforce_specialist_request_limit(
                    session, user=user, settings=settings, now=now, lock=True
                )
            session.add(identification)
            if opens:
                session.add(
                    new_case(
                        identification,
                        user=user,
                        catalog=catalog,
                        asked=request.ask_specialist,
                        message=request.message,
                        now=now,
                        watched=watched_labels(session),
                    )
                )
            session.commit()
    except IntegrityError:
        # The same client id, sent concurrently, was committed first: answer with that one.
        earlier = _by_client_id(session, user, request.client_id) if request.client_id else None
        if earlier is None:
            raise
        return _replay(earlier, uploads), False
    log.info(
        "identification %s: %s (%s, %.2f), %d photo(s)%s",
        identification.id,
        result.decision,
        result.label,
        result.probability,
        len(photos),
        ", case opened" if identification.case else "",
    )
    return identification, True


def _by_client_id(session: Session, user: User, client_id: str) -> Identification | None:
    return session.scalar(
        select(Identification).where(
            Identification.user_id == user.id, Identification.client_id == client_id
        )
    )


def _replay(earlier: Identification, uploads: Sequence[bytes]) -> Identification:
    """The earlier identification, if ``uploads`` are the photos it was made from."""
    sent = [hashlib.sha256(data).hexdigest() for data in uploads]
    if sent != [photo.origin_sha256 for photo in earlier.photos]:
        raise Conflict(
            {
                "fr": "ce client_id a déjà servi pour d'autres photos ; créez un nouvel "
                "identifiant pour chaque identification",
                "en": "this client_id was already used for other photos; generate a new id for "
                "each new identification",
            }
        )
    return earlier


def own_identifications(
    session: Session, *, user: User, since: datetime | None = None, limit: int = 100
) -> list[Identification]:
    """The user's identifications, newest first; with ``since``, those made at or after it."""
    query = select(Identification).where(Identification.user_id == user.id)
    if since is not None:
        query = query.where(Identification.created_at >= since)
    query = query.order_by(Identification.created_at.desc()).limit(limit)
    return list(session.scalars(query))
