"""Errors the services raise, each with the HTTP status it means.

Services know nothing of HTTP requests, but their failures map one to one onto statuses: the API
turns them into ``{"detail": message}`` responses (``api/app.py``), in the reader's language
(``api.language``), and the specialists' pages into a message on the page. Messages are written
for the person who will read them, in every language, as ``model.i18n.Words``.
"""

from model.i18n import Language, Words


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: Words, headers: dict[str, str] | None = None) -> None:
        self.words = message
        super().__init__(self.words["en"])
        self.message = self.words["en"]  # for logs and the command line
        self.headers = headers or {}

    def text(self, lang: Language) -> str:
        """The message in ``lang``."""
        return self.words[lang]


class Unauthorized(ServiceError):
    """No valid sign-in: a missing, expired or forged token, a wrong password. The header
    tells a client to sign in with a bearer token (RFC 6750)."""

    status_code = 401

    def __init__(self, message: Words) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    status_code = 409


class TooLarge(ServiceError):
    status_code = 413


class InvalidInput(ServiceError):
    status_code = 422


class RateLimited(ServiceError):
    status_code = 429

    def __init__(self, message: Words, retry_after_s: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_s))})
        self.retry_after_s = retry_after_s


class Unavailable(ServiceError):
    status_code = 503
