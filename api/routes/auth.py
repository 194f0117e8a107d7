"""Sign-in (OAuth2 password flow), token refresh and self-registration.

The limits on these anonymous routes (``api/services/ratelimits.py``) and the rotation of
refresh tokens (``api/services/tokens.py``) are the services'; the README gives the rule.
"""

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import ClientAddress, SessionDep, SettingsDep
from api.errors import Unauthorized
from api.models import User
from api.routes import CONFLICT, INVALID, error
from api.schemas import RefreshIn, RegisterIn, TokenOut, UserOut
from api.services import tokens, users

router = APIRouter(prefix="/v1/auth", tags=["auth"])

_BAD_CREDENTIALS = error(401, "Wrong username or password, or an invalid refresh token.")
_THROTTLED = {
    **error(
        429,
        "Too many failed sign-ins for this account (locked, with backoff) or from this network "
        "address, or too many registrations; `Retry-After` gives the seconds to wait.",
    ),
    **error(503, "Too many passwords being checked at once; `Retry-After` gives the seconds."),
}


@router.post("/token", response_model=TokenOut, responses={**_BAD_CREDENTIALS, **_THROTTLED})
def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    address: ClientAddress,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenOut:
    """Sign in with username and password (form fields, OAuth2 password flow)."""
    user = users.sign_in(
        session, username=form.username, password=form.password, address=address, settings=settings
    )
    if user is None:
        raise Unauthorized(
            {
                "fr": "nom d'utilisateur ou mot de passe incorrect",
                "en": "wrong username or password",
            }
        )
    pair = tokens.issue(
        session,
        key=request.app.state.secret_key,
        user=user,
        settings=settings,
        refresh_lifetime=timedelta(days=settings.refresh_token_days),
    )
    return TokenOut(**asdict(pair))


@router.post("/refresh", response_model=TokenOut, responses=_BAD_CREDENTIALS)
def refresh(
    request: Request, session: SessionDep, settings: SettingsDep, body: RefreshIn
) -> TokenOut:
    """Trade a refresh token for a new access and refresh token pair. Each refresh token is
    exchanged once (within `IRIIS_REFRESH_GRACE_SECONDS` of that, it gives the same new pair
    again); used later, it signs out every device holding a token of that sign-in."""
    _user, pair = tokens.rotate(
        session,
        key=request.app.state.secret_key,
        token=body.refresh_token,
        settings=settings,
        refresh_lifetime=timedelta(days=settings.refresh_token_days),
    )
    return TokenOut(**asdict(pair))


@router.post(
    "/register",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **CONFLICT,
        **INVALID,
        **error(403, "A role that cannot be self-registered."),
        **_THROTTLED,
    },
)
def register(
    session: SessionDep, settings: SettingsDep, address: ClientAddress, body: RegisterIn
) -> User:
    """Create a grower or citizen account (the field app does it on first launch)."""
    return users.register(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        language=body.language,
        address=address,
        settings=settings,
    )
