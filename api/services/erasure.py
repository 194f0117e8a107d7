"""Erasing an account: what a person's request to be forgotten removes, and what the lab keeps.

Quebec's Law 25 (the 2021 act modernising the province's privacy laws) gives a person the right
to have their personal information destroyed once its purpose is served, and lets the holder
keep information only once anonymised (no longer allowing the person to be identified, even
indirectly, irreversibly), for serious and legitimate purposes. The lab's are the province's
plant-health surveillance and the record of what its specialists diagnosed. So an erasure
(``DELETE /v1/users/me`` with the password, ``DELETE /v1/users/{id}`` by an admin, ``iriis users
erase``) works as follows.

Removed, in one transaction: the account (name, password hash, language, consents), its
refresh tokens, feed key and the failed sign-ins recorded under its name; every identification
it sent (photos, exact location, day, crop, the model's answer, the idempotency key) and every
case about them (the person's question, the specialists' answers and messages, the decisions
made on them). Then the photos in the store (files or objects), unless another account's row
names the same content: the store is content-addressed, and identical bytes sent by someone
else are theirs too. A store that does not answer then leaves them to the photo sweep, which
removes any photo no row names (an hour after it was last written).

Kept, anonymised (``api.models.ErasedObservation``): of each identification that counted in the
surveillance (located, and confirmed by a specialist or shared and accepted from the model), and
of each case a specialist answered with a label even when unlocated, only the label, who settled
it (specialist or model, and the model's version), the ISO week, the centre of its 0.1 degree
surveillance cell (none when unlocated) and when it was confirmed, counted per cell-week. The
published surveillance, its archive and the alerts count exactly as before (the account still
counts once per cell-week among the distinct people the suppression rule asks for, through a
token drawn per cell-week, which links no two cell-weeks); the lab keeps its confirmed labels
(the catalog says what each means) without a person, a photo, a point, a day or a word.

Refused (409): an account the lab's records of other people's work name (a specialist's
decisions, bank review decisions, watched organisms, reference marks, the lab's capacity):
the lab must be able to say who decided, so such staff accounts are deactivated instead
(``PATCH /v1/users/{id}``); and the last active admin.

Not reached from here: copies made before the erasure for a retraining (a bank version's cases
under ``IRIIS_HOME/banks``, a retraining's work folder). A shareable reference photo already in
a published gallery and its pack stays in their files until the next publication leaves it out,
but is shown to no one from the erasure on (``api.services.references.withdrawn``: no row names
it any more).
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session, selectinload

from api.errors import Conflict
from api.models import (
    AuthEvent,
    BankReviewDecision,
    Case,
    CaseDecision,
    CaseStatus,
    ErasedObservation,
    FeedKey,
    Identification,
    LabCapacity,
    Photo,
    RefreshToken,
    User,
    WatchedLabel,
    new_id,
)
from api.photostore import PhotoStore
from api.services.photos import referenced
from api.services.surveillance import Source, cell_centre, monday, settled
from api.services.users import keep_an_admin
from api.settings import ApiSettings

log = logging.getLogger(__name__)

# label, source, week, cell centre (None: unlocated), model version
_Key = tuple[str, str, date, tuple[float, float] | None, str]


@dataclass(frozen=True)
class Erasure:
    """What one erasure did."""

    identifications: int  # removed, with their cases
    photos_removed: int  # from the store
    photos_shared: int  # left in the store: another account's rows name the same content
    observations_kept: int  # anonymised (ErasedObservation counts)


def erase_user(
    session: Session, *, user: User, store: PhotoStore, settings: ApiSettings
) -> Erasure:
    """Erase ``user`` as the module says; 409 for an account the lab's records name."""
    keep_an_admin(session, losing=user)
    _refuse_lab_records(session, user)
    sent = list(
        session.scalars(
            select(Identification)
            .where(Identification.user_id == user.id)
            .options(
                selectinload(Identification.photos),
                selectinload(Identification.case).selectinload(Case.photos),
            )
        )
    )
    hashes: set[str] = set()
    kept: defaultdict[_Key, list[datetime | None]] = defaultdict(list)
    for identification in sent:
        key = _kept_as(identification, settings)
        if key is not None:
            case = identification.case
            kept[key].append(case.answered_at if case is not None else None)
        hashes.update(photo.sha256 for photo in identification.photos)
        if identification.case is not None:
            hashes.update(photo.sha256 for photo in identification.case.photos)
            session.delete(identification.case)  # its photos and decisions with it
        session.delete(identification)  # its photos with it
    session.flush()
    contributors: dict[tuple[str, str, date, tuple[float, float] | None], str] = {}
    for (label, source, week, cell, version), decided in kept.items():
        times = [moment for moment in decided if moment is not None]
        session.add(
            ErasedObservation(
                label=label,
                source=source,
                week=week,
                cell_latitude=cell[0] if cell else None,
                cell_longitude=cell[1] if cell else None,
                model_version=version,
                count=len(decided),
                decided_at=max(times) if times else None,
                contributor=contributors.setdefault((label, source, week, cell), new_id()),
            )
        )
    # A case this account held as a specialist (and never decided) goes back to the queue.
    held = Case.claimed_by == user.id
    session.execute(
        update(Case).where(held, Case.status == CaseStatus.CLAIMED).values(status=CaseStatus.OPEN)
    )
    session.execute(update(Case).where(held).values(claimed_by=None, claim_expires_at=None))
    for owned in (RefreshToken, FeedKey):
        session.execute(delete(owned).where(owned.user_id == user.id))
    session.execute(delete(AuthEvent).where(AuthEvent.username == user.username))
    user_id = user.id
    session.delete(user)
    session.commit()

    removed = shared = 0
    for sha256 in sorted(hashes):
        if referenced(session, hashes=[sha256]):
            shared += 1
            continue
        try:
            store.discard(sha256)
            removed += 1
        except OSError as exc:  # the store out: the sweep removes it once it answers
            log.warning("erasure: a photo left to the photo sweep: %s", exc)
    erasure = Erasure(len(sent), removed, shared, sum(len(times) for times in kept.values()))
    log.info(
        "user %d erased: %d identification(s), %d photo(s) removed, %d kept for other "
        "accounts, %d observation(s) kept anonymised",
        user_id,
        *(erasure.identifications, erasure.photos_removed, erasure.photos_shared),
        erasure.observations_kept,
    )
    return erasure


def _kept_as(identification: Identification, settings: ApiSettings) -> _Key | None:
    """What the lab keeps of an identification: the surveillance's observations (located and
    settled) and the labels its specialists confirmed (located or not); None for the rest."""
    counted = settled(identification)
    if counted is None:
        return None
    label, source = counted
    latitude, longitude = identification.latitude, identification.longitude
    cell = None
    if latitude is not None and longitude is not None:
        cell = cell_centre(latitude, longitude, settings=settings)
    elif source != Source.CONFIRMED:
        return None
    return (label, source, monday(identification.observed_at), cell, identification.model_version)


def _refuse_lab_records(session: Session, user: User) -> None:
    records = (
        exists().where(CaseDecision.specialist_id == user.id),
        exists().where(BankReviewDecision.specialist_id == user.id),
        exists().where(WatchedLabel.set_by == user.id),
        exists().where(Photo.reference_by == user.id),
        exists().where(LabCapacity.set_by == user.id),
    )
    if any(session.scalar(select(record)) for record in records):
        raise Conflict(
            {
                "fr": "les dossiers du laboratoire nomment ce compte (décisions, révision de la "
                "banque, organismes surveillés, références, capacité) : désactivez-le plutôt",
                "en": "the lab's records name this account (decisions, bank review, watched "
                "organisms, references, capacity): deactivate it instead",
            }
        )
