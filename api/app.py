"""The FastAPI application: routes, error format, access log and metrics.

``create_app(settings)`` builds one self-contained application (its own engine, photo store,
metrics registry), which ``iriis serve`` runs and tests build with their own settings. The
database must already be migrated (``iriis serve`` does it; see ``api.db.upgrade``).
"""

import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import web
from api.db import database_url, make_engine, session_factory
from api.errors import ServiceError
from api.galleries import GalleryBuilder
from api.language import request_language
from api.limits import BodyLimit, BodyTooLarge
from api.metrics import Metrics
from api.openapi import correct_openapi
from api.outages import CANDIDATES, outage
from api.photostore import open_store
from api.routes import (
    alerts,
    auth,
    cases,
    distribution,
    gallery,
    identifications,
    lab,
    ops,
    photos,
    queue,
    research,
    surveillance,
    users,
)
from api.security import secret_key
from api.services.photos import PhotoSweeper
from api.services.uploads import TOO_MANY_PHOTOS
from api.settings import ApiSettings, get_api_settings
from api.validation import invalid_request_sentence
from model.catalog import load_catalog
from model.i18n import Words

log = logging.getLogger("api.access")

DESCRIPTION = """\
Crop-pest identification for the plant-protection diagnostic lab.

Sign in at `/v1/auth/token` (OAuth2 password flow) and send the access token as
`Authorization: Bearer <token>`; growers and citizens register at `/v1/auth/register`.
Errors are JSON: `{"detail": "..."}`, with a 4xx status when the request cannot succeed as
sent, a 5xx when the server failed (retry later). The idempotency and case-state contracts are
in `docs/architecture.md`.
"""


class DocsFromHere:
    """A Content-Security-Policy on the documentation pages: the browser loads nothing but this
    server's files. ReDoc's sidebar shows a logo from cdn.redoc.ly, which a lab network cannot
    reach (and which would learn who reads the documentation); the policy keeps it from being
    requested at all, and the page does without it."""

    POLICY = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; font-src 'self' data:"
    )

    def __init__(self, app: ASGIApp, paths: tuple[str, ...]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("Content-Security-Policy", self.POLICY)
            await send(message)

        await self.app(scope, receive, send_with_policy)


class AccessLog:
    """One structured log line and one metrics observation per request, whatever answered it:
    a route, an error handler, another middleware, or an exception nothing handled.

    The last one is answered here, in the documented shape, as a JSON 500 that names the
    request id: Starlette's own answer to it is plain text, sent from outside every middleware,
    where no log line or metric saw it. The exception is then raised on, so that the server
    logs its traceback."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = Headers(scope=scope).get("x-request-id") or uuid.uuid4().hex
        start = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if status is None:  # else the answer is under way: only the log can tell
                detail = f"the server failed on this request (request id {request_id}); try again"
                await JSONResponse({"detail": detail}, 500)(scope, receive, send_with_id)
            self._record(scope, status or 500, start, request_id, failed=True)
            raise
        self._record(scope, status or 500, start, request_id, failed=False)

    def _record(
        self, scope: Scope, status: int, start: float, request_id: str, *, failed: bool
    ) -> None:
        seconds = time.perf_counter() - start
        method = scope["method"]
        template = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.observe(method, template, status, seconds)
        log.log(
            logging.ERROR if failed or status >= 500 else logging.INFO,
            "%s %s %d",
            method,
            template,
            status,
            extra={
                "method": method,
                "route": template,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "user_id": scope.get("state", {}).get("user_id"),
                "request_id": request_id,
            },
        )


def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    detail = exc.text(request_language(request))
    return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)


def _outage(request: Request, exc: Exception) -> JSONResponse:
    """The database or the photo store out for a while (``api.outages``): a 503 with
    ``Retry-After``; any other failure of these classes goes on to the 500."""
    unavailable = outage(exc)
    if unavailable is None:
        raise exc
    return _service_error(request, unavailable)


# How Starlette's form parser starts its refusal of a request with more files than the route's
# form_limits={"max_files": MAX_PHOTOS} allow: "Too many files. Maximum number of files is 5."
_TOO_MANY_FILES = "Too many files."


async def _http_error(request: Request, exc: Exception) -> Response:
    """The HTTP errors raised while FastAPI reads a body, in the reader's language: the body
    limit's 413, and the form parser's refusal of the photo after the last one allowed (a 400
    still, raised as that part's headers arrive) as the project's own sentence. Any other is
    answered as FastAPI does."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc, BodyTooLarge):
        return _service_error(request, exc.error)
    if exc.status_code == 400 and str(exc.detail).startswith(_TOO_MANY_FILES):
        return _service_error(request, ServiceError(TOO_MANY_PHOTOS))
    return await http_exception_handler(request, exc)


def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """A 405 whose ``Allow`` names every method of the path: Starlette's names only those of
    the first route it tried (``GET /v1/users`` hid ``POST /v1/users``)."""
    path = request.scope["path"]
    matching = [
        route
        for route in _routes(request.app.router.routes)
        if isinstance(route, Route) and route.path_regex.match(path)
    ]
    lang = request_language(request)
    if not matching:  # a mount's own 405 (static files)
        refused = {"fr": "méthode non permise", "en": "method not allowed"}
        return JSONResponse({"detail": refused[lang]}, 405, headers=getattr(exc, "headers", None))
    # The path's template is the first route's that matches it, as routing has it: /v1/users/me
    # is a path of its own, although /v1/users/{user_id} matches it too.
    template = matching[0].path
    allowed = sorted(
        {
            method
            for route in matching
            if route.path == template
            for method in route.methods or ()
            if method != "HEAD"
        }
    )
    use: Words = {
        "fr": f"{request.method} n'est pas permis ici ; utilisez {' ou '.join(allowed)}",
        "en": f"{request.method} is not allowed here; use {' or '.join(allowed)}",
    }
    return JSONResponse({"detail": use[lang]}, 405, headers={"Allow": ", ".join(allowed)})


def _routes(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, those of included routers too (FastAPI keeps them nested)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _routes(included.routes) if included is not None else (route,)


def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation errors in the documented shape: ``detail`` a sentence in the
    reader's language that a client can show as it is, ``errors`` the details."""
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    detail = invalid_request_sentence(errors, request_language(request))
    return JSONResponse({"detail": detail, "errors": errors}, 422)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or get_api_settings()
    engine = make_engine(database_url(settings))

    sessions = session_factory(engine)
    store = open_store(settings)
    sweeper = PhotoSweeper(sessions, store)
    gallery_builder = GalleryBuilder(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sweeper.start()  # what killed requests left in the photo store, now and then
        gallery_builder.start()  # with gallery_build_on_start: what the gallery lacks
        yield
        gallery_builder.stop()
        sweeper.stop()
        engine.dispose()

    # /docs and /redoc with Swagger UI's and ReDoc's files served from this server (the
    # package ships them): a lab network has no internet to fetch them from a CDN.
    app = FastAPIOffline(
        title="IRIIS Phyto API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Swagger UI would send the schema to validator.swagger.io for its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.store = store
    app.state.gallery_builder = gallery_builder
    app.state.secret_key = secret_key(settings)
    app.state.metrics = Metrics(app.state.sessions, settings)
    for module in (
        auth,
        users,
        identifications,
        cases,
        queue,
        photos,
        research,
        surveillance,
        alerts,
        distribution,
        gallery,
        lab,
        ops,
        web,  # the specialists' pages, under /lab/
    ):
        app.include_router(module.router)
    correct_openapi(app, load_catalog(settings.catalog_dir).labels)
    app.add_exception_handler(ServiceError, _service_error)
    for outages in CANDIDATES:
        app.add_exception_handler(outages, _outage)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(DocsFromHere, paths=("/docs", "/redoc"))
    app.add_middleware(AccessLog, metrics=app.state.metrics)  # outermost: sees every answer
    return app
