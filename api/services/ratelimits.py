"""Per-user rate limits, counted in the database so that they hold across server processes.

What is counted is what a request leaves behind (identification rows, cases asked for), so a
refused or failed request costs nothing and a retried one (same client id) is never counted twice.
On PostgreSQL the user's row is locked while counting, which makes the limit exact under
concurrent requests; on SQLite, concurrent requests of one user may overshoot it by a few.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.errors import RateLimited
from api.models import Case, Identification, User
from model.settings import Settings

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _enforce(
    session: Session,
    user: User,
    stamp: InstrumentedAttribute[Any],
    owner: ColumnElement[bool],
    limit: int,
    window: timedelta,
    what: str,
    now: datetime,
    lock: bool,
) -> None:
    if lock:
        session.execute(select(User.id).where(User.id == user.id).with_for_update())
    count: int
    oldest: datetime
    count, oldest = session.execute(
        select(func.count(), func.min(stamp)).where(owner, stamp > now - window)
    ).one()
    if count >= limit:
        retry_after = int(((oldest + window) - now).total_seconds()) + 1
        raise RateLimited(
            f"too many {what}: at most {limit} per {_words(window)}; "
            f"try again in {_duration(retry_after)}",
            retry_after,
        )


def enforce_identification_limit(
    session: Session, user: User, settings: Settings, now: datetime, lock: bool = False
) -> None:
    _enforce(
        session,
        user,
        Identification.created_at,
        Identification.user_id == user.id,
        settings.identifications_per_hour,
        HOUR,
        "identifications",
        now,
        lock,
    )


def enforce_specialist_request_limit(
    session: Session, user: User, settings: Settings, now: datetime, lock: bool = False
) -> None:
    _enforce(
        session,
        user,
        Case.asked_at,
        Case.user_id == user.id,
        settings.specialist_requests_per_day,
        DAY,
        "requests to a specialist",
        now,
        lock,
    )


def _words(window: timedelta) -> str:
    return "hour" if window == HOUR else "24 hours"


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
