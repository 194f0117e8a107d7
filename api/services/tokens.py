"""Token pairs, and the rotation of refresh tokens, for the API and the specialists' pages.

Every refresh token has a row (``RefreshToken``, its JWT's ``jti``). Exchanging it gives a new
pair whose refresh token succeeds it, and marks it used: a refresh token buys one pair, so one
copied off a device stops working once either holder uses it. For
``refresh_grace_seconds`` after the exchange the same token still answers, with the same
successor (the same id, signed again): a phone whose answer was lost retries with the token it
still has and stays signed in, and two requests racing with one token (a page and its images)
end up with one successor. Used again after that window, the token is taken to be in a second
pair of hands: every token of that sign-in (its ``family``) is revoked, whoever holds them, and
both sign in again.

The exchange is one conditional ``UPDATE ... WHERE used_at IS NULL RETURNING id``: of two
exchanges at once, exactly one creates the successor (on PostgreSQL the other waits for its row
lock, then finds the token used; SQLite runs writes one at a time).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from api.models import RefreshToken, User, new_id, utcnow
from api.security import ACCESS, REFRESH, TokenError, create_token, read_refresh_token
from api.settings import ApiSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token is valid
    refresh_expires_in: int  # seconds the refresh token is valid


def issue(
    session: Session,
    *,
    key: str,
    user: User,
    settings: ApiSettings,
    refresh_lifetime: timedelta,
    now: datetime | None = None,
) -> TokenPair:
    """The pair of a sign-in; its refresh token starts a family. Expired rows are deleted."""
    now = now or utcnow()
    session.execute(delete(RefreshToken).where(RefreshToken.expires_at <= now))
    token_id = new_id()
    row = RefreshToken(
        id=token_id,
        family=token_id,
        user_id=user.id,
        created_at=now,
        expires_at=now + refresh_lifetime,
    )
    session.add(row)
    session.commit()
    return _pair(key, user, settings, row, now)


def rotate(
    session: Session,
    *,
    key: str,
    token: str,
    settings: ApiSettings,
    refresh_lifetime: timedelta,
    now: datetime | None = None,
) -> tuple[User, TokenPair]:
    """Exchange a refresh token for a new pair (its user, and the pair); ``TokenError`` says
    why a token buys nothing."""
    now = now or utcnow()
    user_id, token_id = read_refresh_token(key, token)
    row = session.get(RefreshToken, token_id)
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        raise TokenError(
            {
                "fr": "ce jeton de renouvellement a été révoqué ; reconnectez-vous",
                "en": "this refresh token has been revoked; sign in again",
            }
        )
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise TokenError(
            {"fr": "ce compte a été désactivé", "en": "this account has been disabled"}
        )
    successor_id = new_id()
    exchanged = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=now, replaced_by=successor_id)
        .returning(RefreshToken.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if exchanged is not None:
        successor = RefreshToken(
            id=successor_id,
            family=row.family,
            user_id=user.id,
            created_at=now,
            expires_at=now + refresh_lifetime,
        )
        session.add(successor)
        session.commit()
        return user, _pair(key, user, settings, successor, now)
    session.rollback()
    session.refresh(row)
    grace = timedelta(seconds=settings.refresh_grace_seconds)
    given = session.get(RefreshToken, row.replaced_by) if row.replaced_by else None
    if (
        row.used_at is not None
        and now - row.used_at <= grace
        and given is not None
        and given.revoked_at is None
    ):
        return user, _pair(key, user, settings, given, now)
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == row.family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    log.warning("user %d's refresh token reused after its grace window: sign-in revoked", user.id)
    raise TokenError(
        {
            "fr": "ce jeton de renouvellement a déjà servi ; reconnectez-vous",
            "en": "this refresh token was already used; sign in again",
        }
    )


def revoke(session: Session, *, key: str, token: str, now: datetime | None = None) -> None:
    """Sign-out: no token of this refresh token's sign-in buys a pair any more. An invalid or
    expired token has nothing left to revoke."""
    try:
        _user_id, token_id = read_refresh_token(key, token)
    except TokenError:
        return
    row = session.get(RefreshToken, token_id)
    if row is None:
        return
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == row.family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _pair(
    key: str, user: User, settings: ApiSettings, row: RefreshToken, now: datetime
) -> TokenPair:
    """The access token, and the refresh token of ``row`` (valid until the row expires)."""
    access = timedelta(minutes=settings.access_token_minutes)
    refresh = row.expires_at - now
    return TokenPair(
        access_token=create_token(key, user.id, ACCESS, access),
        refresh_token=create_token(key, user.id, REFRESH, refresh, token_id=row.id),
        expires_in=int(access.total_seconds()),
        refresh_expires_in=int(refresh.total_seconds()),
    )
