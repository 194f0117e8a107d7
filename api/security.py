"""Passwords and tokens.

Passwords are hashed with scrypt (standard library, memory-hard, salted); the stored form names
its parameters, so they can be raised later without invalidating old hashes. A hash costs about
50 ms of a core and 16 MB, which is what makes guessing slow, and also what a flood of sign-ins
would take from everyone else: the API computes them through a :class:`HashGate`.

Tokens are JWTs (HS256) of two kinds: short-lived access tokens for every request, long-lived
refresh tokens that only buy a new pair, so that a phone stays signed in without keeping the
password. A refresh token carries an id (``jti``): the server exchanges each one once
(``api/services/tokens.py``).
"""

import base64
import hashlib
import hmac
import os
import secrets
import threading
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

import jwt

from api.errors import Unauthorized, Unavailable
from api.models import utcnow
from api.settings import ApiSettings
from model.i18n import Words

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_ALGORITHM = "HS256"
ACCESS, REFRESH = "access", "refresh"
_KINDS = {ACCESS: "d'accès", REFRESH: "de renouvellement"}  # the kinds' names in French
_INVALID_TOKEN: Words = {"fr": "jeton non valide", "en": "invalid token"}
# Callers allowed to wait for each hashing slot of a HashGate; anyone beyond is refused at once.
WAITING_PER_SLOT = 4


class TokenError(Unauthorized):
    """A token that is malformed, forged, expired or of the wrong kind; the message says which.
    Left to propagate, it is the 401 of whoever sent it, in their language."""


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    encoded = [base64.b64encode(part).decode() for part in (salt, digest)]
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encoded[0]}${encoded[1]}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(expected),
    )
    return hmac.compare_digest(actual, expected)


class HashGate:
    """At most ``slots`` password hashes at once, and ``WAITING_PER_SLOT`` callers waiting for
    each slot (a wait of a few hashes); a caller beyond is refused at once with a 503 and
    ``Retry-After``. So a flood of sign-ins or registrations, whatever its rate, takes at most
    ``slots`` cores and a handful of the server's worker threads, and everyone else's requests
    keep their speed; sign-in is what slows down, with an answer a client retries."""

    def __init__(self, slots: int) -> None:
        self._hashing = threading.BoundedSemaphore(slots)
        self._admitted = threading.BoundedSemaphore(slots * (1 + WAITING_PER_SLOT))

    def __enter__(self) -> None:
        if not self._admitted.acquire(blocking=False):
            raise Unavailable(
                {
                    "fr": "le serveur vérifie d'autres mots de passe ; réessayez dans une seconde",
                    "en": "the server is busy checking other passwords; try again in a second",
                },
                headers={"Retry-After": "1"},
            )
        self._hashing.acquire()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._hashing.release()
        self._admitted.release()


@lru_cache(maxsize=4)
def hash_gate(slots: int) -> HashGate:
    """The gate of this process (``IRIIS_PASSWORD_HASHES_AT_ONCE``): the cores it bounds are
    the process's, so every application of the process shares it."""
    return HashGate(slots)


def secret_key(settings: ApiSettings) -> str:
    """The configured key, or one generated on first use into ``home/secret.key`` (readable by
    its owner only) so that every process of an installation signs with the same key."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.home) / "secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        key = secrets.token_urlsafe(48)
        handle.write(key + "\n")
    return key


def create_token(
    key: str, user_id: int, kind: str, lifetime: timedelta, *, token_id: str | None = None
) -> str:
    """A signed token; a refresh token gets the id of its row (``token_id``)."""
    now = utcnow()
    claims: dict[str, Any] = {"sub": str(user_id), "typ": kind, "iat": now, "exp": now + lifetime}
    if token_id is not None:
        claims["jti"] = token_id
    return jwt.encode(claims, key, algorithm=_ALGORITHM)


def _claims(key: str, token: str, kind: str) -> dict[str, Any]:
    try:
        # expiry is checked against the service's clock (api.clock), not the library's
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],
            options={"require": ["exp"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError:
        raise TokenError(_INVALID_TOKEN) from None
    if not isinstance(claims["exp"], int | float) or claims["exp"] <= utcnow().timestamp():
        raise TokenError(
            {
                "fr": "le jeton a expiré ; reconnectez-vous ou renouvelez-le",
                "en": "the token has expired; sign in again or refresh it",
            }
        )
    if claims.get("typ") != kind:
        raise TokenError(
            {
                "fr": f"ce n'est pas un jeton {_KINDS[kind]}",
                "en": f"not an {kind} token" if kind == ACCESS else f"not a {kind} token",
            }
        )
    return claims


def _user_id(claims: dict[str, Any]) -> int:
    try:
        return int(claims["sub"])
    except (KeyError, ValueError):
        raise TokenError(_INVALID_TOKEN) from None


def read_token(key: str, token: str, kind: str) -> int:
    """The user id a valid token of ``kind`` was issued to."""
    return _user_id(_claims(key, token, kind))


def read_refresh_token(key: str, token: str) -> tuple[int, str]:
    """The user id and the token id of a valid refresh token (one issued before rotation, with
    no id, is refused: sign in again)."""
    claims = _claims(key, token, REFRESH)
    token_id = claims.get("jti")
    if not isinstance(token_id, str):
        raise TokenError(
            {
                "fr": "ce jeton de renouvellement n'est plus accepté ; reconnectez-vous",
                "en": "this refresh token is no longer accepted; sign in again",
            }
        )
    return _user_id(claims), token_id
