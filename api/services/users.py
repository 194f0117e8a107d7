"""Accounts: registration, sign-in and role management."""

import logging
import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Conflict, Forbidden, InvalidInput, NotFound
from api.models import SELF_REGISTERED_ROLES, Role, User
from api.security import hash_password, verify_password
from model.i18n import LANGUAGES

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{2,63}$")
# Verifying against this when the user does not exist takes as long as a real check, so that
# response times do not tell which usernames exist.
_DUMMY_HASH = hash_password("not a real password")


def _check(username: str, password: str, language: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise InvalidInput(
            "a username has 3 to 64 characters: letters, digits and . _ @ + - "
            "(an e-mail address works)"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
    return name


def create_user(
    session: Session, username: str, password: str, role: Role | str, language: str = "fr"
) -> User:
    """Create an account with any role (admins and ``iriis users create``)."""
    name = _check(username, password, language)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}; roles: {', '.join(Role)}") from None
    user = User(username=name, password_hash=hash_password(password), role=role, language=language)
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"the username {name!r} is taken") from None
    log.info("user %d created with role %s", user.id, role)
    return user


def register(
    session: Session, username: str, password: str, role: Role | str, language: str = "fr"
) -> User:
    """Self-registration, open to growers and citizens only (the field app's first launch)."""
    if role not in SELF_REGISTERED_ROLES:
        raise Forbidden(
            f"only {' and '.join(SELF_REGISTERED_ROLES)} accounts can be self-registered; "
            "ask the lab for another role"
        )
    return create_user(session, username, password, role, language)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, user.password_hash) or not user.active:
        return None
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def update_user(
    session: Session, user: User, *, role: Role | str | None = None, active: bool | None = None
) -> User:
    """Grant a role or (de)activate an account; the last active admin cannot be removed."""
    if role is not None:
        try:
            role = Role(role)
        except ValueError:
            raise InvalidInput(f"unknown role {role!r}; roles: {', '.join(Role)}") from None
    demoted = role is not None and role != Role.ADMIN
    if user.role == Role.ADMIN and (demoted or active is False):
        admins = session.scalar(
            select(func.count()).where(User.role == Role.ADMIN, User.active.is_(True))
        )
        if (admins or 0) <= 1:
            raise Conflict("this is the last active admin; make another admin first")
    if role is not None:
        user.role = role
    if active is not None:
        user.active = active
    session.commit()
    log.info("user %d updated: role=%s active=%s", user.id, user.role, user.active)
    return user
