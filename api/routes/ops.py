"""Operations: liveness, readiness and Prometheus metrics (no token needed)."""

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import SessionDep, SettingsDep, serving_identifier
from api.errors import Unavailable
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
def readyz(session: SessionDep, settings: SettingsDep) -> ReadyOut | JSONResponse:
    """The database answers and a model bundle loads: ``model`` is the version the service
    answers with (the newest bundle that passes its trial; the first call loads it),
    ``missing`` when none is installed, ``unusable`` when none loads."""
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
