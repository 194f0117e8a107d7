"""The JSON API's routes, one module per resource; each function translates HTTP to a service
call (``api/services``) and the result to a schema (``api/answers.py``)."""

from typing import Any

from api.schemas import ErrorOut

Responses = dict[int | str, dict[str, Any]]


def error(status: int, description: str) -> Responses:
    """An error response for the OpenAPI documentation: ``{"detail": ...}`` with ``status``."""
    return {status: {"model": ErrorOut, "description": description}}


AUTH_ERRORS = error(401, "No token, or an invalid or expired one.")
FORBIDDEN = error(403, "The signed-in user's role does not allow this.")
NOT_FOUND = error(404, "No such object, or not one of the caller's.")
CONFLICT = error(409, "The object's state does not allow this now.")
TOO_LARGE = error(413, "A photo over the size limit (IRIIS_MAX_PHOTO_MB).")
INVALID: Responses = {422: {"description": "Invalid input; `detail` says which and why."}}
TOO_MANY = error(429, "Per-user rate limit reached; `Retry-After` gives the seconds to wait.")
NO_MODEL = error(503, "No model bundle is installed on the server.")
