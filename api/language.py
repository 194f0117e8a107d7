"""The language a request is answered in, for what the API says outside an answer (errors).

An answer (an identification, a case) is in the language it was asked in or the account's; an
error is for whoever sent the request: the signed-in account's language (set by
``api.deps.get_current_user``, or read from the request's access token when the error comes
before the route has read it), else the most preferred of ``Accept-Language`` that the service
speaks, else French, the lab's working language.
"""

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request

from api.models import User
from api.security import ACCESS, TokenError, read_token
from model.i18n import DEFAULT_LANGUAGE, LANGUAGES, Language, language_or_default


def request_language(request: Request) -> Language:
    account = getattr(request.state, "language", None) or _token_language(request)
    if account:
        return language_or_default(account)
    return accepted_language(request.headers.get("accept-language", ""))


def _token_language(request: Request) -> str | None:
    """The language of the account whose access token the request carries, for an error
    answered before the route's dependencies run: a body refused while it is read (a photo
    too many, the body limit) comes before the signed-in user is known. One query, on such
    errors only; None without a valid token, or when the database does not answer (the error
    being answered may be that outage: it is answered all the same, ``api.outages``)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        user_id = read_token(request.app.state.secret_key, token.strip(), ACCESS)
    except TokenError:
        return None
    try:
        with request.app.state.sessions() as session:
            language: str | None = session.scalar(select(User.language).where(User.id == user_id))
    except SQLAlchemyError:
        return None
    return language


def accepted_language(header: str) -> Language:
    """The most preferred language of an ``Accept-Language`` header that the service speaks:
    "en-CA,en;q=0.9,fr;q=0.8" -> en; none of them -> French."""
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().split("-")[0].lower()
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        if code in LANGUAGES and q > best_q:
            best, best_q = language_or_default(code), q
    return best
