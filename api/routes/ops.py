"""Operations: liveness, readiness and Prometheus metrics (no token needed)."""

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import SessionDep, SettingsDep
from api.schemas import HealthOut, ReadyOut
from model.bundle import BundleError, latest_bundle, load_bundle

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


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
    """The database answers and a model bundle is installed."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as exc:
        log.warning("readiness: database unreachable: %s", exc)
        database = "unreachable"
    try:
        model = load_bundle(latest_bundle(settings.bundles_dir), check=False).version
    except (BundleError, FileNotFoundError, OSError, ValueError):
        model = "missing"
    ready = ReadyOut(
        status="ready" if database == "ok" and model != "missing" else "not ready",
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
