"""Accounts: one's own, and the admins' management of everyone's roles."""

from fastapi import APIRouter, status

from api.deps import AdminUser, CurrentUser, SessionDep
from api.models import User
from api.routes import AUTH_ERRORS, CONFLICT, FORBIDDEN, INVALID, NOT_FOUND
from api.schemas import MeUpdateIn, UserCreateIn, UserOut, UserUpdateIn
from api.services import users

router = APIRouter(prefix="/v1/users", tags=["users"], responses=AUTH_ERRORS)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    """The signed-in account."""
    return user


@router.patch("/me", response_model=UserOut, responses=INVALID)
def update_me(session: SessionDep, user: CurrentUser, body: MeUpdateIn) -> User:
    """Set one's own language and consent to share one's case photos as lab references."""
    return users.update_me(
        session, user=user, language=body.language, share_photos=body.share_photos
    )


@router.get("", response_model=list[UserOut], responses=FORBIDDEN)
def list_users(session: SessionDep, _admin: AdminUser) -> list[User]:
    """Every account (admins)."""
    return users.list_users(session)


@router.post(
    "",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses={**FORBIDDEN, **CONFLICT, **INVALID},
)
def create_user(session: SessionDep, _admin: AdminUser, body: UserCreateIn) -> User:
    """Create an account with any role (admins)."""
    return users.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        language=body.language,
    )


@router.patch(
    "/{user_id}", response_model=UserOut, responses={**FORBIDDEN, **NOT_FOUND, **CONFLICT}
)
def update_user(session: SessionDep, _admin: AdminUser, user_id: int, body: UserUpdateIn) -> User:
    """Grant a role, or disable or re-enable an account (admins)."""
    user = users.get_user(session, user_id=user_id)
    return users.update_user(session, user=user, role=body.role, active=body.active)


@router.post("/{user_id}/unlock", response_model=UserOut, responses={**FORBIDDEN, **NOT_FOUND})
def unlock_user(session: SessionDep, _admin: AdminUser, user_id: int) -> User:
    """Lift an account's sign-in lock (too many wrong passwords) now, rather than when it lapses
    (admins)."""
    return users.unlock(session, user=users.get_user(session, user_id=user_id))
