"""Sign-in (OAuth2 password flow), token refresh and self-registration."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import SessionDep, SettingsDep
from api.models import User
from api.routes import CONFLICT, INVALID, error
from api.schemas import RefreshIn, RegisterIn, TokenOut, UserOut
from api.security import ACCESS, REFRESH, TokenError, create_token, read_token
from api.services import users
from model.settings import Settings

router = APIRouter(prefix="/v1/auth", tags=["auth"])

_BAD_CREDENTIALS = error(401, "Wrong username or password, or an invalid refresh token.")


def _tokens(request: Request, settings: Settings, user: User) -> TokenOut:
    key = request.app.state.secret_key
    access = timedelta(minutes=settings.access_token_minutes)
    refresh = timedelta(days=settings.refresh_token_days)
    return TokenOut(
        access_token=create_token(key, user.id, ACCESS, access),
        refresh_token=create_token(key, user.id, REFRESH, refresh),
        expires_in=int(access.total_seconds()),
        refresh_expires_in=int(refresh.total_seconds()),
    )


@router.post("/token", response_model=TokenOut, responses=_BAD_CREDENTIALS)
def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenOut:
    """Sign in with username and password (form fields, OAuth2 password flow)."""
    user = users.authenticate(session, form.username, form.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return _tokens(request, settings, user)


@router.post("/refresh", response_model=TokenOut, responses=_BAD_CREDENTIALS)
def refresh(
    request: Request, session: SessionDep, settings: SettingsDep, body: RefreshIn
) -> TokenOut:
    """Trade a refresh token for a new access and refresh token pair."""
    try:
        user_id = read_token(request.app.state.secret_key, body.refresh_token, REFRESH)
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this account has been disabled")
    return _tokens(request, settings, user)


@router.post(
    "/register",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **CONFLICT,
        **INVALID,
        **error(403, "A role that cannot be self-registered."),
    },
)
def register(session: SessionDep, body: RegisterIn) -> User:
    """Create a grower or citizen account (the field app does it on first launch)."""
    return users.register(session, body.username, body.password, body.role, body.language)
