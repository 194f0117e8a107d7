"""The specialists' review queue: priority, atomic claims, decisions, expected response time.

Priority (docs/architecture.md): ``tier`` first (0: a regulated or quarantine organism is among
the model's candidates; 1: an agricultural user, grower or advisor; 2: everyone else), then,
within a tier, the lab's ``queue_order`` setting (:data:`ORDERS`):

- ``arrival`` (the default): waiting time (oldest first), then model uncertainty (least sure
  first): every user of a tier is served in turn;
- ``informative``: model uncertainty first (``1 - top probability``, least sure first), then
  waiting time: the answers that teach the retrained model most come first (active learning by
  uncertainty). Diversity among the waiting cases (their distance to each other and to the bank
  in embedding space) would help too, but embeddings are not kept with cases.

The expected wait (``api.services.capacity``) counts the cases ahead in the same order
(:func:`ahead_of`).

Claims are one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED)``: on
PostgreSQL, concurrent specialists skip each other's locked rows instead of queueing behind them;
on SQLite, the single statement is atomic by itself. A claim lasts ``claim_timeout_minutes``; an
expired claim is claimable again, and its first holder can still decide until someone else takes
it. Every state change is a conditional update, so a decision on a case that was meanwhile
released, reclaimed or answered fails with a conflict instead of overwriting.
"""

import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from api.errors import Conflict, Forbidden, InvalidInput, NotFound
from api.models import Action, Case, CaseDecision, CaseStatus, Role, User, utcnow
from api.services.cases import NO_SUCH_CASE, clean_message
from api.settings import ApiSettings
from model.catalog import Catalog
from model.i18n import Words

log = logging.getLogger(__name__)

# The statuses whose cases wait for a specialist's attention.
PENDING = (CaseStatus.OPEN, CaseStatus.CLAIMED)
_NEXT_STATUS = {
    Action.CONFIRM: CaseStatus.ANSWERED,
    Action.CORRECT: CaseStatus.ANSWERED,
    Action.ANSWER: CaseStatus.ANSWERED,
    Action.REQUEST_PHOTOS: CaseStatus.AWAITING_PHOTOS,
}


def claimable(now: datetime) -> ColumnElement[bool]:
    """The cases waiting for a specialist at ``now``: open, or claimed and the claim expired
    (nobody holds them)."""
    return or_(
        Case.status == CaseStatus.OPEN,
        and_(Case.status == CaseStatus.CLAIMED, Case.claim_expires_at <= now),
    )


QueueOrder = Literal["arrival", "informative"]
# Each order as ascending keys: a case comes before another when its keys compare lower.
_KEYS: dict[QueueOrder, tuple[str, ...]] = {
    "arrival": ("tier", "opened_at", "certainty", "id"),
    "informative": ("tier", "certainty", "opened_at", "id"),
}


def _key(name: str, case: Case | None = None) -> Any:
    """One ordering key, of the table (``case`` None) or of one case; ``certainty`` is the
    negated uncertainty, so that the least sure sorts first."""
    if name == "certainty":
        return -(Case.uncertainty if case is None else case.uncertainty)
    return getattr(Case if case is None else case, name)


def ordering(order: QueueOrder) -> list[Any]:
    """The ``ORDER BY`` of the queue in ``order``."""
    return [_key(name) for name in _KEYS[order]]


def ahead_of(case: Case, order: QueueOrder) -> ColumnElement[bool]:
    """The cases that come before ``case`` in the queue's ``order``."""
    names = _KEYS[order]
    return tuple_(*(_key(n) for n in names)) < tuple_(*(_key(n, case) for n in names))


def require_specialist(user: User) -> None:
    if user.role != Role.SPECIALIST:
        raise Forbidden(
            {
                "fr": "seuls les spécialistes travaillent sur la file d'attente",
                "en": "only specialists work on the review queue",
            }
        )


def waiting_cases(
    session: Session,
    *,
    order: QueueOrder = "arrival",
    now: datetime | None = None,
    limit: int = 100,
) -> list[Case]:
    """Cases waiting for a specialist, in claiming order (expired claims included)."""
    query = select(Case).where(claimable(now or utcnow())).order_by(*ordering(order)).limit(limit)
    return list(session.scalars(query))


def held_by(session: Session, *, specialist: User, order: QueueOrder = "arrival") -> list[Case]:
    """The cases ``specialist`` holds (claimed, and not taken over by someone else since)."""
    query = select(Case).where(Case.status == CaseStatus.CLAIMED, Case.claimed_by == specialist.id)
    return list(session.scalars(query.order_by(*ordering(order))))


def queue_length(session: Session) -> int:
    """Cases waiting or in a specialist's hands (not those awaiting the user's photos)."""
    return session.scalar(select(func.count()).where(Case.status.in_(PENDING))) or 0


def _claimed(specialist: User, settings: ApiSettings, now: datetime) -> dict[str, object]:
    """The columns of a case claimed now by ``specialist``."""
    return {
        "status": CaseStatus.CLAIMED,
        "claimed_by": specialist.id,
        "claim_expires_at": now + timedelta(minutes=settings.claim_timeout_minutes),
        "updated_at": now,
    }


def claim_next(session: Session, *, specialist: User, settings: ApiSettings) -> Case | None:
    """Atomically claim the highest-priority waiting case; None when the queue is empty."""
    require_specialist(specialist)
    now = utcnow()
    candidate = (
        select(Case.id)
        .where(claimable(now))
        .order_by(*ordering(settings.queue_order))
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    case_id = session.execute(
        update(Case)
        .where(Case.id == candidate, claimable(now))
        .values(_claimed(specialist, settings, now))
        .returning(Case.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    session.commit()
    if case_id is None:
        return None
    log.info("case %s claimed by specialist %d", case_id, specialist.id)
    return session.get(Case, case_id, populate_existing=True)


def claim(session: Session, *, case: Case, specialist: User, settings: ApiSettings) -> Case:
    """Claim a given case (from the queue's list), or extend one's own claim."""
    require_specialist(specialist)
    now = utcnow()
    claimed = session.execute(
        update(Case)
        .where(
            Case.id == case.id,
            or_(
                claimable(now),
                and_(Case.status == CaseStatus.CLAIMED, Case.claimed_by == specialist.id),
            ),
        )
        .values(_claimed(specialist, settings, now))
        .returning(Case.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    session.commit()
    session.refresh(case)
    if claimed is None:
        raise Conflict(_unavailable(session, case))
    return case


def release(session: Session, *, case: Case, specialist: User) -> Case:
    """Give a claimed case back to the queue, in its place."""
    _held_update(session, case, specialist, status=CaseStatus.OPEN)
    session.commit()
    session.refresh(case)
    log.info("case %s released by specialist %d", case.id, specialist.id)
    return case


def decide(
    session: Session,
    *,
    case: Case,
    specialist: User,
    action: Action | str,
    label: str | None,
    message: str,
    catalog: Catalog,
) -> CaseDecision:
    """Record a specialist's decision on a case they hold, with the message to the user.

    ``confirm`` keeps the model's label, ``correct`` needs a catalog label, ``request_photos``
    and ``answer`` take none. The case's status, label and answer change in the same transaction
    that keeps the decision, with who made it and when.
    """
    require_specialist(specialist)
    try:
        action = Action(action)
    except ValueError:
        actions = ", ".join(Action)
        raise InvalidInput(
            {
                "fr": f"action inconnue {action!r}; actions : {actions}",
                "en": f"unknown action {action!r}; actions: {actions}",
            }
        ) from None
    text = clean_message(message)
    if text is None:
        raise InvalidInput(
            {
                "fr": "écrivez un message à l'utilisateur avec chaque décision",
                "en": "write a message to the user with every decision",
            }
        )
    label = (label or "").strip() or None
    model_label = case.identification.label
    if action == Action.CONFIRM:
        if label not in (None, model_label):
            raise InvalidInput(
                {
                    "fr": f"'confirm' garde l'étiquette du modèle {model_label}; "
                    "utilisez 'correct'",
                    "en": f"'confirm' keeps the model's label {model_label}; use 'correct'",
                }
            )
        label = model_label
    elif action == Action.CORRECT:
        if label is None:
            raise InvalidInput(
                {
                    "fr": "'correct' demande la bonne étiquette, prise dans le catalogue",
                    "en": "'correct' needs the right label, from the catalog",
                }
            )
        if label not in catalog.labels:
            raise InvalidInput(
                {
                    "fr": f"étiquette inconnue {label!r} : absente du catalogue "
                    "(iriis catalog search MOTS)",
                    "en": f"unknown label {label!r}: not in the catalog "
                    "(iriis catalog search WORDS)",
                }
            )
    elif label is not None:
        raise InvalidInput(
            {"fr": f"'{action}' ne prend pas d'étiquette", "en": f"'{action}' takes no label"}
        )
    now = utcnow()
    status = _NEXT_STATUS[action]
    answered = status == CaseStatus.ANSWERED
    _held_update(
        session,
        case,
        specialist,
        status=status,
        answer=text,
        label=label if answered else None,
        answered_at=now if answered else None,
    )
    decision = CaseDecision(
        case_id=case.id,
        specialist_id=specialist.id,
        action=action,
        label=label,
        message=text,
        created_at=now,
    )
    session.add(decision)
    session.commit()
    session.refresh(case)
    log.info("case %s: %s by specialist %d", case.id, action, specialist.id)
    return decision


def _held_update(session: Session, case: Case, specialist: User, **values: object) -> None:
    """Update a case only if ``specialist`` still holds it; a conflict otherwise."""
    changed = session.execute(
        update(Case)
        .where(
            Case.id == case.id,
            Case.status == CaseStatus.CLAIMED,
            Case.claimed_by == specialist.id,
        )
        .values(claimed_by=None, claim_expires_at=None, updated_at=utcnow(), **values)
        .returning(Case.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if changed is None:
        session.rollback()
        session.refresh(case)
        raise Conflict(_unavailable(session, case, holder=specialist))


def _unavailable(session: Session, case: Case, holder: User | None = None) -> Words:
    status = case.status_at(utcnow())
    if status == CaseStatus.ANSWERED:
        return {"fr": "ce cas a déjà reçu sa réponse", "en": "this case has already been answered"}
    if status == CaseStatus.AWAITING_PHOTOS:
        return {
            "fr": "ce cas attend les photos de l'utilisateur",
            "en": "this case is waiting for the user's photos",
        }
    if status == CaseStatus.CLAIMED and case.claimed_by is not None:
        other = session.get(User, case.claimed_by)
        return {
            "fr": f"ce cas est pris par {other.username if other else 'un autre spécialiste'}",
            "en": f"this case is claimed by {other.username if other else 'another specialist'}",
        }
    if holder is not None:
        return {
            "fr": "vous ne tenez plus ce cas : prenez-le d'abord",
            "en": "you do not hold this case any more: claim it first",
        }
    return {
        "fr": "ce cas ne peut pas être pris maintenant",
        "en": "this case cannot be claimed now",
    }


def specialist_case(session: Session, *, case_id: str) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(NO_SUCH_CASE)
    return case
