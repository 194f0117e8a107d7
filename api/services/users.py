"""Accounts: registration, sign-in and role management.

Sign-in and self-registration are anonymous: their limits (``api/services/ratelimits.py``) are
checked before the password is hashed, and the hash goes through the process's gate
(``api.security.hash_gate``), so that neither guessing nor a flood of new accounts costs the
other users anything.
"""

import logging
import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Conflict, Forbidden, InvalidInput, NotFound
from api.models import SELF_REGISTERED_ROLES, Role, User, utcnow
from api.security import hash_gate, hash_password, verify_password
from api.services import ratelimits
from api.settings import ApiSettings
from model.i18n import LANGUAGES

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{2,63}$")
# Verifying against this when the user does not exist takes as long as a real check, so that
# response times do not tell which usernames exist.
_DUMMY_HASH = hash_password("not a real password")


def _normalised(username: str) -> str:
    return username.strip().lower()


def _check(username: str, password: str, language: str) -> str:
    name = _normalised(username)
    if not _USERNAME.match(name):
        raise InvalidInput(
            {
                "fr": "un nom d'utilisateur a de 3 à 64 caractères : lettres, chiffres et "
                ". _ @ + - (une adresse de courriel convient)",
                "en": "a username has 3 to 64 characters: letters, digits and . _ @ + - "
                "(an e-mail address works)",
            }
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            {
                "fr": f"le mot de passe doit avoir au moins {MIN_PASSWORD_LENGTH} caractères",
                "en": f"the password must have at least {MIN_PASSWORD_LENGTH} characters",
            }
        )
    if language not in LANGUAGES:
        raise InvalidInput(
            {
                "fr": f"la langue doit être l'une de : {', '.join(LANGUAGES)}",
                "en": f"language must be one of {', '.join(LANGUAGES)}",
            }
        )
    return name


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInput(
            {
                "fr": f"rôle inconnu {role!r} ; rôles : {', '.join(Role)}",
                "en": f"unknown role {role!r}; roles: {', '.join(Role)}",
            }
        ) from None


def _add(session: Session, user: User) -> User:
    """Commit a new account (with whatever else the session holds); 409 for a taken name."""
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            {
                "fr": f"le nom d'utilisateur {user.username!r} est déjà pris",
                "en": f"the username {user.username!r} is taken",
            }
        ) from None
    log.info("user %d created with role %s", user.id, user.role)
    return user


def create_user(
    session: Session, *, username: str, password: str, role: Role | str, language: str = "fr"
) -> User:
    """Create an account with any role (admins and ``iriis users create``)."""
    name, role = _check(username, password, language), _role(role)
    return _add(
        session,
        User(username=name, password_hash=hash_password(password), role=role, language=language),
    )


def register(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    language: str,
    address: str,
    settings: ApiSettings,
    now: datetime | None = None,
) -> User:
    """Self-registration, open to growers and citizens only (the field app's first launch),
    within the registration limits of ``address`` and of the service."""
    if role not in SELF_REGISTERED_ROLES:
        raise Forbidden(
            {
                "fr": f"seuls les comptes {' et '.join(SELF_REGISTERED_ROLES)} peuvent être "
                "créés par soi-même ; demandez un autre rôle au laboratoire",
                "en": f"only {' and '.join(SELF_REGISTERED_ROLES)} accounts can be "
                "self-registered; ask the lab for another role",
            }
        )
    name, role = _check(username, password, language), _role(role)
    now = now or utcnow()
    ratelimits.enforce_registration_limits(session, address=address, settings=settings, now=now)
    with hash_gate(settings.password_hashes_at_once):
        password_hash = hash_password(password)
    # Counted in the account's own commit: a refused registration (a taken name) counts for nothing.
    ratelimits.record_registration(session, address=address, now=now)
    return _add(
        session, User(username=name, password_hash=password_hash, role=role, language=language)
    )


def sign_in(
    session: Session,
    *,
    username: str,
    password: str,
    address: str,
    settings: ApiSettings,
    now: datetime | None = None,
) -> User | None:
    """The active user with these credentials, or None (counted against the username and the
    address); a 429 without checking the password when either is over its limit."""
    now = now or utcnow()
    name = _normalised(username)
    ratelimits.enforce_sign_in_limits(
        session, username=name, address=address, settings=settings, now=now
    )
    user = session.scalar(select(User).where(User.username == name))
    with hash_gate(settings.password_hashes_at_once):
        # A name with no account costs the same hash, so that timing does not tell them apart.
        right = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not right or not user.active:
        ratelimits.record_sign_in_failure(session, username=name, address=address, now=now)
        session.commit()
        return None
    ratelimits.clear_sign_in_failures(session, username=name)
    session.commit()
    return user


def unlock(session: Session, *, user: User) -> User:
    """Lift ``user``'s sign-in lock now (the wrong passwords that caused it stop counting)."""
    ratelimits.clear_sign_in_failures(session, username=user.username)
    session.commit()
    log.info("user %d unlocked", user.id)
    return user


def set_password(session: Session, *, user: User, password: str) -> User:
    """Give ``user`` a new password (``iriis serve --demo``'s accounts, at each start), which
    also lifts any sign-in lock."""
    _check(user.username, password, user.language)
    user.password_hash = hash_password(password)
    ratelimits.clear_sign_in_failures(session, username=user.username)
    session.commit()
    return user


def find_user(session: Session, *, username: str) -> User:
    user = session.scalar(select(User).where(User.username == _normalised(username)))
    if user is None:
        raise NotFound(
            {
                "fr": f"aucun utilisateur {_normalised(username)!r}",
                "en": f"no user {_normalised(username)!r}",
            }
        )
    return user


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound({"fr": "utilisateur introuvable", "en": "no such user"})
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def update_me(
    session: Session, *, user: User, language: str | None = None, share_photos: bool | None = None
) -> User:
    """What a user sets for themselves: their language and their consent to share photos as
    references (``api.services.references``)."""
    if language is not None:
        user.language = language
    if share_photos is not None:
        user.share_photos = share_photos
    session.commit()
    log.info("user %d: language=%s share_photos=%s", user.id, user.language, user.share_photos)
    return user


def keep_an_admin(session: Session, *, losing: User) -> None:
    """Conflict when ``losing`` is the last active admin, whom a demotion, a deactivation or an
    erasure would leave the service without."""
    if losing.role != Role.ADMIN:
        return
    admins = session.scalar(
        select(func.count()).where(User.role == Role.ADMIN, User.active.is_(True))
    )
    if (admins or 0) <= 1:
        raise Conflict(
            {
                "fr": "c'est le dernier administrateur actif ; nommez-en d'abord un autre",
                "en": "this is the last active admin; make another admin first",
            }
        )


def update_user(
    session: Session, *, user: User, role: Role | str | None = None, active: bool | None = None
) -> User:
    """Grant a role or (de)activate an account; the last active admin cannot be removed."""
    if role is not None:
        role = _role(role)
    demoted = role is not None and role != Role.ADMIN
    if demoted or active is False:
        keep_an_admin(session, losing=user)
    if role is not None:
        user.role = role
    if active is not None:
        user.active = active
    session.commit()
    log.info("user %d updated: role=%s active=%s", user.id, user.role, user.active)
    return user
