"""The FastAPI application: routes, error format, access log and metrics.

``create_app(settings)`` builds one self-contained application (its own engine, photo store,
metrics registry), which ``iriis serve`` runs and tests build with their own settings. The
database must already be migrated (``iriis serve`` does it; see ``api.db.upgrade``).
"""

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api import web
from api.db import database_url, make_engine, session_factory
from api.errors import ServiceError
from api.metrics import Metrics
from api.routes import (
    auth,
    cases,
    distribution,
    gallery,
    identifications,
    ops,
    photos,
    queue,
    research,
    surveillance,
    users,
)
from api.security import secret_key
from api.services.uploads import MAX_PHOTOS, max_photo_bytes
from model.settings import Settings, get_settings

log = logging.getLogger("api.access")

DESCRIPTION = """\
Crop-pest identification for the plant-protection diagnostic lab.

Sign in at `/v1/auth/token` (OAuth2 password flow) and send the access token as
`Authorization: Bearer <token>`; growers and citizens register at `/v1/auth/register`.
Errors are JSON: `{"detail": "..."}` with a 4xx status. The idempotency and case-state
contracts are in `docs/architecture.md`.
"""


class BodyLimit:
    """Refuse a request whose declared size exceeds what any route accepts (5 photos at the
    size limit, plus form fields), before a byte of it is read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.limit:
                response = JSONResponse(
                    {"detail": f"request too large: at most {self.limit / 1e6:.0f} MB"},
                    status_code=413,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse({"detail": exc.message}, exc.status_code, headers=exc.headers)


def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation errors in the documented shape: ``detail`` a sentence a client can
    show as it is ("field 'lang': Input should be 'fr' or 'en'"), ``errors`` the details."""
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    sentences = []
    for error in errors:
        where = [str(part) for part in error.get("loc", ()) if part not in ("body", "query")]
        field = f"field '{'.'.join(where)}': " if where else ""
        sentences.append(field + str(error.get("msg", "invalid")))
    detail = "; ".join(sentences) or "the request is not valid"
    return JSONResponse({"detail": detail, "errors": errors}, 422)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(database_url(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="IRIIS Phyto API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sessions = session_factory(engine)
    app.state.secret_key = secret_key(settings)
    app.state.metrics = Metrics(app.state.sessions)
    for module in (
        auth,
        users,
        identifications,
        cases,
        queue,
        photos,
        research,
        surveillance,
        distribution,
        gallery,
        ops,
        web,  # the specialists' pages, under /lab/
    ):
        app.include_router(module.router)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.middleware("http")(_access_log)
    app.add_middleware(BodyLimit, limit=MAX_PHOTOS * max_photo_bytes(settings) + 1_000_000)
    return app


async def _access_log(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """One structured log line and one metrics observation per request."""
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    start = time.perf_counter()
    response = await call_next(request)
    seconds = time.perf_counter() - start
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")
    request.app.state.metrics.observe(request.method, template, response.status_code, seconds)
    log.info(
        "%s %s %d",
        request.method,
        template,
        response.status_code,
        extra={
            "method": request.method,
            "route": template,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "user_id": getattr(request.state, "user_id", None),
            "request_id": request_id,
        },
    )
    response.headers["X-Request-ID"] = request_id
    return response
