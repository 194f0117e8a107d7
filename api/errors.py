"""Errors the services raise, each with the HTTP status it means.

Services know nothing of HTTP requests, but their failures map one to one onto statuses: the API
turns them into ``{"detail": message}`` responses (``api/app.py``) and the specialists' pages into
a message on the page. Messages are written for the person who will read them.
"""


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


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

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_s))})
        self.retry_after_s = retry_after_s


class Unavailable(ServiceError):
    status_code = 503
