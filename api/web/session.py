"""Who is signed in on the specialists' pages: the API's own tokens, carried in cookies.

A browser cannot add an ``Authorization`` header to a link or an image, so the pages keep the
tokens the JSON API issues (``api.services.tokens``) in HTTP-only cookies: scripts cannot read
them, and ``SameSite=Lax`` keeps other sites' forms from posting with them (the pages change
nothing on GET). Passwords, token signing, rotation and roles are the API's own; nothing is
duplicated.

Two cookies: the access token (``IRIIS_ACCESS_TOKEN_MINUTES``) and a refresh token that lasts
``IRIIS_LAB_SESSION_HOURS``. A request whose access token has lapsed is let through on the
refresh token, which is exchanged (rotated) for a new pair, and its response carries the new
cookies (:class:`LabRoute`): the session lasts while the specialist works, and as long as
``IRIIS_LAB_SESSION_HOURS`` without a request (reading a case, typing a long answer).

Anyone but a signed-in specialist is sent to the sign-in page, with a word saying why, and
back to the page afterwards; a grower's valid token is refused like a missing one, so the queue
is never shown to them. A form posted once the session is gone is not lost: the redirect is a
307, so the browser brings the posted fields to the sign-in page, which keeps them until the
specialist has signed in again (``api.web.routes``).
"""

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request, status
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.responses import Response

from api.deps import SessionDep, SettingsDep
from api.models import Role, User
from api.security import ACCESS, TokenError, read_token
from api.services import tokens
from api.services.tokens import TokenPair
from api.settings import ApiSettings

COOKIE = "iriis_lab"
REFRESH_COOKIE = "iriis_lab_refresh"
LAB_PREFIX = "/lab/"
# Where current_specialist leaves a pair renewed on the refresh cookie, for LabRoute.
_RENEWED = "lab_renewed_tokens"


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a page of the lab (no open redirect to another site), else None."""
    return target if target and target.startswith(LAB_PREFIX) else None


def _to_sign_in(request: Request, why: str) -> HTTPException:
    """A redirect to the sign-in page that comes back afterwards: to this page after a GET; after
    a form, to the page it was on (each form of the pages posts to a path below its page:
    ``/lab/cases/{id}/decision`` belongs to ``/lab/cases/{id}``), with a 307 that brings the
    posted fields along instead of dropping them."""
    if request.method == "GET":
        code = status.HTTP_303_SEE_OTHER
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        code = status.HTTP_307_TEMPORARY_REDIRECT
        back = safe_next(request.url.path.rsplit("/", 1)[0]) or ""
    query = urlencode({"next": back, "why": why})
    return HTTPException(
        code,
        "sign in as a specialist first",
        headers={"Location": f"{request.url_for('lab_sign_in').path}?{query}"},
    )


def _access_user(request: Request, session: Session, token: str) -> User | None:
    try:
        user_id = read_token(request.app.state.secret_key, token, ACCESS)
    except TokenError:
        return None
    return session.get(User, user_id)


def _renewed_user(
    request: Request, session: Session, settings: ApiSettings, token: str
) -> User | None:
    """The user of a refresh cookie, whose new pair the response will carry; None when it
    buys nothing (expired, revoked, reused)."""
    try:
        user, pair = tokens.rotate(
            session,
            key=request.app.state.secret_key,
            token=token,
            settings=settings,
            refresh_lifetime=timedelta(hours=settings.lab_session_hours),
        )
    except TokenError:
        return None
    setattr(request.state, _RENEWED, pair)
    return user


def _lab_user(request: Request, session: Session, settings: ApiSettings, role: Role) -> User:
    """The user of ``role`` whose tokens the cookies carry; a redirect to the sign-in page
    otherwise."""
    access, refresh = request.cookies.get(COOKIE), request.cookies.get(REFRESH_COOKIE)
    if not access and not refresh:
        raise _to_sign_in(request, "signed_out")
    user = _access_user(request, session, access) if access else None
    if user is None and refresh:
        user = _renewed_user(request, session, settings, refresh)
    if user is None or not user.active:
        raise _to_sign_in(request, "expired")
    if user.role != role:
        raise _to_sign_in(request, "not_specialist" if role == Role.SPECIALIST else "not_admin")
    request.state.user_id = user.id  # for the access log
    return user


def current_specialist(request: Request, session: SessionDep, settings: SettingsDep) -> User:
    """The specialist of the queue's pages."""
    return _lab_user(request, session, settings, Role.SPECIALIST)


def current_admin(request: Request, session: SessionDep, settings: SettingsDep) -> User:
    """The admin of the lab's settings page."""
    return _lab_user(request, session, settings, Role.ADMIN)


LabSpecialist = Annotated[User, Depends(current_specialist)]
LabAdmin = Annotated[User, Depends(current_admin)]


class LabRoute(APIRoute):
    """A route of the pages whose response, whatever it is (a page, a redirect, a photo), also
    carries the cookies of a pair that ``current_specialist`` renewed for the request."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            response = await handler(request)
            renewed: TokenPair | None = getattr(request.state, _RENEWED, None)
            if renewed is not None:
                _set_cookies(request, response, renewed)
            return response

        return handle


def sign_in(
    request: Request, response: Response, session: Session, settings: ApiSettings, user: User
) -> None:
    """Give ``response`` the cookies of a new sign-in of ``user``."""
    pair = tokens.issue(
        session,
        key=request.app.state.secret_key,
        user=user,
        settings=settings,
        refresh_lifetime=timedelta(hours=settings.lab_session_hours),
    )
    _set_cookies(request, response, pair)


def sign_out(request: Request, response: Response, session: Session) -> None:
    """Revoke the session's refresh token (a copy of the cookie buys nothing any more) and
    delete the cookies."""
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        tokens.revoke(session, key=request.app.state.secret_key, token=refresh)
    for name in (COOKIE, REFRESH_COOKIE):
        response.delete_cookie(name, path=LAB_PREFIX)


def _set_cookies(request: Request, response: Response, pair: TokenPair) -> None:
    for name, value, seconds in (
        (COOKIE, pair.access_token, pair.expires_in),
        (REFRESH_COOKIE, pair.refresh_token, pair.refresh_expires_in),
    ):
        response.set_cookie(
            name,
            value,
            max_age=seconds,
            path=LAB_PREFIX,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
