"""Passwords and tokens.

Passwords are hashed with scrypt (standard library, memory-hard, salted); the stored form names
its parameters, so they can be raised later without invalidating old hashes. Tokens are JWTs
(HS256) of two kinds: short-lived access tokens for every request, long-lived refresh tokens that
only buy a new pair, so that a phone stays signed in without keeping the password.
"""

import base64
import hashlib
import hmac
import os
import secrets
from datetime import timedelta
from pathlib import Path

import jwt

from api.models import utcnow
from model.settings import Settings

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_ALGORITHM = "HS256"
ACCESS, REFRESH = "access", "refresh"


class TokenError(ValueError):
    """A token that is malformed, forged, expired or of the wrong kind; the message says which."""


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


def secret_key(settings: Settings) -> str:
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


def create_token(key: str, user_id: int, kind: str, lifetime: timedelta) -> str:
    now = utcnow()
    claims = {"sub": str(user_id), "typ": kind, "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, key, algorithm=_ALGORITHM)


def read_token(key: str, token: str, kind: str) -> int:
    """The user id a valid token of ``kind`` was issued to."""
    try:
        claims = jwt.decode(token, key, algorithms=[_ALGORITHM], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("the token has expired; sign in again or refresh it") from None
    except jwt.InvalidTokenError:
        raise TokenError("invalid token") from None
    if claims.get("typ") != kind:
        raise TokenError(f"not an {kind} token" if kind == ACCESS else f"not a {kind} token")
    try:
        return int(claims["sub"])
    except (KeyError, ValueError):
        raise TokenError("invalid token") from None
