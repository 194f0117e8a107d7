"""The request body limit: what any route accepts (``MAX_PHOTOS`` photos at the size limit, plus
the form's fields), enforced on the bytes as they arrive.

A declared length over the limit is refused before a byte is read. A body without one (chunked
transfer encoding) is counted as it streams in and refused as soon as it passes the limit, so
that neither kind reaches the form parser, the disk or memory beyond it.
"""

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import TooLarge
from api.language import request_language
from api.services.uploads import max_photo_bytes
from api.settings import ApiSettings
from model.identifier import MAX_PHOTOS

# Room for the form's fields (client id, crop, location, message...) and the multipart framing.
FORM_FIELDS_BYTES = 1_000_000


def body_limit(settings: ApiSettings) -> int:
    return MAX_PHOTOS * max_photo_bytes(settings) + FORM_FIELDS_BYTES


class BodyTooLarge(HTTPException):
    """The body limit's 413 when it is passed while the body streams in. Whoever reads the body
    then is FastAPI, which lets only an ``HTTPException`` through (any other error becomes its
    400 "error parsing the body"); the service's error it carries is answered in the reader's
    language (``api.app``)."""

    def __init__(self, error: TooLarge) -> None:
        super().__init__(error.status_code, error.message)
        self.error = error


class BodyLimit:
    """Refuse, with a 413 that states the limit, any request body larger than
    :func:`body_limit`, declared or not."""

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.limit = body_limit(settings)
        total, each = f"{self.limit / 1e6:g}", f"{settings.max_photo_mb:g}"
        self.error = TooLarge(
            {
                "fr": f"requête trop grande : plus de {total} Mo (au plus {MAX_PHOTOS} photos "
                f"de {each} Mo chacune, et les champs du formulaire)",
                "en": f"request too large: more than {total} MB (at most {MAX_PHOTOS} photos "
                f"of {each} MB each, and the form's fields)",
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            detail = self.error.text(request_language(Request(scope)))
            await JSONResponse({"detail": detail}, 413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Whoever is reading (the form parser, a route) stops here.
                    raise BodyTooLarge(self.error)
            return message

        await self.app(scope, counted, send)
