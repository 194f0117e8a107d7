"""Rate limits, counted in the database so that they hold across server processes.

Per user: what is counted is what a request leaves behind (identification rows, cases asked
for), so a refused or failed request costs nothing and a retried one (same client id) is never
counted twice. On PostgreSQL the user's row is locked while counting, which makes the limit
exact under concurrent requests; on SQLite, concurrent requests of one user may overshoot it by
a few.

Anonymous (sign-in and registration, ``AuthEvent`` rows kept 24 hours), checked before any
password is hashed, so that a refused attempt costs a query instead of a hash:

- each username has a lock with backoff: after ``sign_in_failures_before_lock`` wrong
  passwords (within 24 hours and since its last successful sign-in) it is locked for
  ``sign_in_lock_minutes`` from the last one, and each further wrong password, once the lock
  has lapsed, doubles it, up to ``sign_in_lock_max_minutes``. A locked username refuses the
  right password too (or the lock would tell a guesser when they found it), and attempts
  refused by the lock are not counted (the lock does not grow while it is hammered). It lifts
  when it lapses, at the next successful sign-in, or when an admin unlocks the account
  (:func:`clear_sign_in_failures`). Names that match no account lock the same way, so a lock
  does not tell which names exist;
- each network address has ``sign_in_failures_per_address_per_hour`` failed sign-ins per
  rolling hour; successful sign-ins do not count, so a lab or a farm behind one address never
  gets near it, while a guesser gets that many guesses an hour from it, spread over every
  username;
- registrations: ``registrations_per_address_per_day`` per address and
  ``registrations_per_day`` on the whole service, per rolling 24 hours.

Concurrent attempts may overshoot a limit by the number that pass the check together, which the
hash gate (``api.security.HashGate``) bounds.
"""

import ipaddress
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.errors import RateLimited
from api.models import AuthEvent, Case, Identification, User
from api.settings import ApiSettings
from model.i18n import Words

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Kinds of AuthEvent.
SIGN_IN_FAILED, REGISTERED = "sign_in_failed", "registered"
# AuthEvent rows older than this count for nothing and are deleted.
_KEPT = DAY


def address_key(host: str | None) -> str:
    """What the per-address limits count by: the client's IPv4 address, or the /64 of an IPv6
    one (a single subscriber gets a whole /64, so counting its addresses one by one would give
    a guesser 2**64 budgets). ``iriis serve`` reads ``X-Forwarded-For`` only from a proxy on
    127.0.0.1 (uvicorn's ``--forwarded-allow-ips``), so behind one the real client counts."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return (host or "unknown")[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _enforce(
    session: Session,
    *,
    stamp: InstrumentedAttribute[Any],
    where: ColumnElement[bool],
    limit: int,
    window: timedelta,
    what: Words,
    now: datetime,
) -> None:
    """A 429 when ``limit`` rows matching ``where`` have a ``stamp`` within ``window``, with
    the time until the oldest of them leaves it; ``what`` names the excess in each language
    ("too many identifications", "trop d'identifications")."""
    count: int
    oldest: datetime
    count, oldest = session.execute(
        select(func.count(), func.min(stamp)).where(where, stamp > now - window)
    ).one()
    if count >= limit:
        retry_after = int(((oldest + window) - now).total_seconds()) + 1
        per, wait = _per(window), _duration(retry_after)
        raise RateLimited(
            {
                "fr": f"{what['fr']} : au plus {limit} par {per['fr']} ; réessayez dans {wait}",
                "en": f"{what['en']}: at most {limit} per {per['en']}; try again in {wait}",
            },
            retry_after,
        )


def _lock_user(session: Session, user: User, lock: bool) -> None:
    if lock:
        session.execute(select(User.id).where(User.id == user.id).with_for_update())


def enforce_identification_limit(
    session: Session, *, user: User, settings: ApiSettings, now: datetime, lock: bool = False
) -> None:
    _lock_user(session, user, lock)
    _enforce(
        session,
        stamp=Identification.created_at,
        where=Identification.user_id == user.id,
        limit=settings.identifications_per_hour,
        window=HOUR,
        what={"fr": "trop d'identifications", "en": "too many identifications"},
        now=now,
    )


def enforce_specialist_request_limit(
    session: Session, *, user: User, settings: ApiSettings, now: datetime, lock: bool = False
) -> None:
    _lock_user(session, user, lock)
    _enforce(
        session,
        stamp=Case.asked_at,
        where=Case.user_id == user.id,
        limit=settings.specialist_requests_per_day,
        window=DAY,
        what={
            "fr": "trop de demandes à un spécialiste",
            "en": "too many requests to a specialist",
        },
        now=now,
    )


def enforce_sign_in_limits(
    session: Session, *, username: str, address: str, settings: ApiSettings, now: datetime
) -> None:
    """Refuse (429) a sign-in from an address over its failures, or for a locked username."""
    _enforce(
        session,
        stamp=AuthEvent.created_at,
        where=and_(AuthEvent.kind == SIGN_IN_FAILED, AuthEvent.address == address),
        limit=settings.sign_in_failures_per_address_per_hour,
        window=HOUR,
        what={
            "fr": "trop de connexions échouées depuis votre adresse réseau",
            "en": "too many failed sign-ins from your network address",
        },
        now=now,
    )
    failures: int
    latest: datetime | None
    failures, latest = session.execute(
        select(func.count(), func.max(AuthEvent.created_at)).where(
            _failures_of(username), AuthEvent.created_at > now - _KEPT
        )
    ).one()
    beyond = failures - settings.sign_in_failures_before_lock
    if latest is None or beyond < 0:
        return
    minutes = min(
        settings.sign_in_lock_minutes * 2 ** min(beyond, 32), settings.sign_in_lock_max_minutes
    )
    remaining = (latest + timedelta(minutes=minutes) - now).total_seconds()
    if remaining > 0:
        retry_after = math.ceil(remaining)
        wait = _duration(retry_after)
        raise RateLimited(
            {
                "fr": "trop de mots de passe erronés pour ce compte : il est verrouillé ; "
                f"réessayez dans {wait}, ou demandez à un administrateur de le déverrouiller",
                "en": f"too many wrong passwords for this account: it is locked; try again in "
                f"{wait}, or ask an admin to unlock it",
            },
            retry_after,
        )


def record_sign_in_failure(session: Session, *, username: str, address: str, now: datetime) -> None:
    """Count a wrong password (committed by the caller), forgetting what is past counting."""
    session.execute(delete(AuthEvent).where(AuthEvent.created_at <= now - _KEPT))
    session.add(AuthEvent(kind=SIGN_IN_FAILED, username=username, address=address, created_at=now))


def clear_sign_in_failures(session: Session, *, username: str) -> None:
    """Lift a username's lock (a successful sign-in, an admin's unlock); its failures stop
    counting for its address too. Committed by the caller."""
    session.execute(delete(AuthEvent).where(_failures_of(username)))


def enforce_registration_limits(
    session: Session, *, address: str, settings: ApiSettings, now: datetime
) -> None:
    """Refuse (429) a registration from an address over its daily share, or over the
    service's."""
    registered = AuthEvent.kind == REGISTERED
    _enforce(
        session,
        stamp=AuthEvent.created_at,
        where=and_(registered, AuthEvent.address == address),
        limit=settings.registrations_per_address_per_day,
        window=DAY,
        what={
            "fr": "trop de nouveaux comptes depuis votre adresse réseau",
            "en": "too many new accounts from your network address",
        },
        now=now,
    )
    _enforce(
        session,
        stamp=AuthEvent.created_at,
        where=registered,
        limit=settings.registrations_per_day,
        window=DAY,
        what={
            "fr": "trop de nouveaux comptes sur ce service",
            "en": "too many new accounts on this service",
        },
        now=now,
    )


def record_registration(session: Session, *, address: str, now: datetime) -> None:
    """Count a registration; the caller commits it with the new account."""
    session.execute(delete(AuthEvent).where(AuthEvent.created_at <= now - _KEPT))
    session.add(AuthEvent(kind=REGISTERED, address=address, created_at=now))


def _failures_of(username: str) -> ColumnElement[bool]:
    return and_(AuthEvent.kind == SIGN_IN_FAILED, AuthEvent.username == username)


def _per(window: timedelta) -> Words:
    if window == HOUR:
        return {"fr": "heure", "en": "hour"}
    return {"fr": "24 heures", "en": "24 hours"}


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
