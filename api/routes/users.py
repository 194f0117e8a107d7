"""Accounts: one's own, and the admins' management of everyone's roles."""

from fastapi import APIRouter, Response, status

from api.deps import AdminUser, ClientAddress, CurrentUser, SessionDep, SettingsDep, StoreDep
from api.errors import Forbidden, InvalidInput
from api.models import User
from api.routes import AUTH_ERRORS, CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, TOO_MANY
from api.schemas import MeEraseIn, MeUpdateIn, UserCreateIn, UserEraseIn, UserOut, UserUpdateIn
from api.services import users
from api.services.erasure import erase_user

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


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**FORBIDDEN, **CONFLICT, **INVALID, **TOO_MANY},
)
def erase_me(
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    address: ClientAddress,
    user: CurrentUser,
    body: MeEraseIn,
) -> Response:
    """Erase one's own account, confirmed by its password: its identifications, photos,
    locations and cases go; the lab keeps only anonymised counts and its confirmed labels, with
    no person, photo, place or day (``api.services.erasure``). Cannot be undone."""
    confirmed = users.sign_in(
        session, username=user.username, password=body.password, address=address, settings=settings
    )
    if confirmed is None or confirmed.id != user.id:
        raise Forbidden(
            {
                "fr": "mot de passe erroné : le compte n'est pas effacé",
                "en": "wrong password: the account is not erased",
            }
        )
    erase_user(session, user=user, store=store, settings=settings)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**FORBIDDEN, **NOT_FOUND, **CONFLICT, **INVALID},
)
def erase(
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    _admin: AdminUser,
    user_id: int,
    body: UserEraseIn,
) -> Response:
    """Erase an account at its owner's request (admins), confirmed by its username; as
    ``DELETE /v1/users/me``. Staff accounts the lab's records name are deactivated instead."""
    user = users.get_user(session, user_id=user_id)
    if body.username.strip().lower() != user.username:
        raise InvalidInput(
            {
                "fr": f"le nom d'utilisateur ne correspond pas au compte {user_id}",
                "en": f"the username does not match account {user_id}",
            }
        )
    erase_user(session, user=user, store=store, settings=settings)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
