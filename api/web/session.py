"""Who is signed in on the specialists' pages: the API's access token, carried in a cookie.

A browser cannot add an ``Authorization`` header to a link or an image, so the pages keep the
same access token the JSON API issues (``api.security``) in an HTTP-only cookie: scripts cannot
read it, and ``SameSite=Lax`` keeps other sites' forms from posting with it (the pages change
nothing on GET). Passwords, token signing and roles are the API's own; nothing is duplicated.

Anyone but a signed-in specialist is sent to the sign-in page, with a word saying why; a
grower's valid token is refused like a missing one, so the queue is never shown to them.
"""

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request, status
from starlette.responses import Response

from api.deps import SessionDep
from api.models import Role, User
from api.security import ACCESS, TokenError, create_token, read_token
from model.settings import Settings

COOKIE = "iriis_lab"
LAB_PREFIX = "/lab/"


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a page of the lab (no open redirect to another site), else None."""
    return target if target and target.startswith(LAB_PREFIX) else None


def _to_sign_in(request: Request, why: str) -> HTTPException:
    """A 303 to the sign-in page that will come back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = urlencode({"next": here, "why": why})
    return HTTPException(
        status.HTTP_303_SEE_OTHER,
        "sign in as a specialist first",
        headers={"Location": f"{request.url_for('lab_sign_in').path}?{query}"},
    )


def current_specialist(request: Request, session: SessionDep) -> User:
    """The specialist whose token the cookie carries; a redirect to the sign-in page otherwise."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise _to_sign_in(request, "signed_out")
    try:
        user_id = read_token(request.app.state.secret_key, token, ACCESS)
    except TokenError:
        raise _to_sign_in(request, "expired") from None
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise _to_sign_in(request, "expired")
    if user.role != Role.SPECIALIST:
        raise _to_sign_in(request, "not_specialist")
    request.state.user_id = user.id  # for the access log
    return user


LabSpecialist = Annotated[User, Depends(current_specialist)]


def sign_in(request: Request, response: Response, settings: Settings, user: User) -> None:
    """Give ``response`` the cookie of a fresh access token for ``user``; it lasts as long as
    the token, after which the specialist signs in again."""
    lifetime = timedelta(minutes=settings.access_token_minutes)
    token = create_token(request.app.state.secret_key, user.id, ACCESS, lifetime)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        path=LAB_PREFIX,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path=LAB_PREFIX)
