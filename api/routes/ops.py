"""Operations: liveness, readiness and Prometheus metrics (no token needed)."""

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import SessionDep, SettingsDep, serving_identifier
from api.errors import Unavailable
from api.galleries import gallery_state
from api.schemas import HealthOut, ReadyOut
from model.bundle import MANIFEST

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])
NO_MODEL = ("missing", "unusable")  # readiness' ``model`` when the service cannot identify


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    """The process answers."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready: see which part."}},
)
def readyz(request: Request, session: SessionDep, settings: SettingsDep) -> ReadyOut | JSONResponse:
    """The database answers and a model bundle loads: ``model`` is the version the service
    answers with (the newest bundle that passes its trial; the first call loads it),
    ``missing`` when none is installed, ``unusable`` when none loads.

    ``gallery`` (the similar reference photos) is ``building 3120/10104`` while the service
    builds it after a first start (``api.galleries``), ``ready``, or ``missing``, and does not
    count in ``status``: an identification answers without similar photos (and says so), so
    a replica building its gallery can take requests. What a load balancer asks is whether to
    send identifications here; taking out of rotation for many minutes the one replica of a
    new installation, or every replica of a fleet started together, would refuse answers that
    work. A deployment that wants the similar photos from its first answer waits for
    ``gallery`` to be ``ready``."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as exc:
        log.warning("readiness: database unreachable: %s", exc)
        database = "unreachable"
    try:
        model = serving_identifier(settings).version
    except Unavailable as exc:
        log.warning("readiness: %s", exc)
        installed = any(
            (folder / MANIFEST).exists()
            for where in settings.served_bundle_dirs
            if where.is_dir()
            for folder in where.iterdir()
        )
        model = "unusable" if installed else "missing"
    ready = ReadyOut(
        status="ready" if database == "ok" and model not in NO_MODEL else "not ready",
        database=database,
        model=model,
        gallery=gallery_state(request.app.state.gallery_builder, settings),
    )
    if ready.status != "ready":
        return JSONResponse(ready.model_dump(), status_code=503)
    return ready


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latencies, cases by status, queue length, decisions."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
