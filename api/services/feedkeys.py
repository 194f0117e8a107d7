"""The staff's keys to the alerts feed: a feed reader cannot send a bearer token, so a
specialist or admin puts a secret key in the feed's URL instead.

A key is 32 random bytes (URL-safe base64), shown once when made; only its SHA-256 is stored,
so a copy of the database opens no feed (a key that random needs no salt nor slow hash). One key
per user: making a new one replaces the old, revoking deletes it, and both take effect at the
next request. A key opens the alerts only, and only while its owner is active and staff: it is
checked against the account at each use (``api.deps.get_alert_reader``). The access log names
the route's template, never its query, so a key is not written to the logs.
"""

import hashlib
import logging
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import FeedKey, User, utcnow

log = logging.getLogger(__name__)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def make_key(session: Session, *, user: User) -> str:
    """A new key for ``user``, replacing theirs if any: returned once, never stored."""
    key = secrets.token_urlsafe(32)
    row = session.get(FeedKey, user.id) or FeedKey(user_id=user.id)
    row.key_hash, row.created_at = _digest(key), utcnow()
    session.add(row)
    session.commit()
    log.info("user %d made a new alerts feed key", user.id)
    return key


def revoke(session: Session, *, user: User) -> bool:
    """Delete ``user``'s key; False when they had none."""
    row = session.get(FeedKey, user.id)
    if row is None:
        return False
    session.delete(row)
    session.commit()
    log.info("user %d revoked their alerts feed key", user.id)
    return True


def owner(session: Session, *, key: str) -> User | None:
    """The user whose key this is, or None (unknown or revoked)."""
    row = session.scalars(select(FeedKey).where(FeedKey.key_hash == _digest(key))).first()
    return None if row is None else row.user
