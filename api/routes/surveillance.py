"""The lab's surveillance view: settled detections per label, week and grid cell."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.routes import AUTH_ERRORS, INVALID
from api.schemas import UtcDateTime
from api.services.surveillance import detections

router = APIRouter(prefix="/v1/surveillance", tags=["surveillance"], responses=AUTH_ERRORS)

_EXAMPLE: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[-71.3, 46.8], [-71.2, 46.8], [-71.2, 46.9], [-71.3, 46.9], [-71.3, 46.8]]
                ],
            },
            "properties": {"label": "potato.late_blight", "week": "2026-W27", "count": 4},
        }
    ],
    "properties": {"cell_degrees": 0.1, "min_count": 3, "suppressed_cells": 2},
}


@router.get(
    "",
    response_class=JSONResponse,
    responses={
        200: {"content": {"application/geo+json": {"example": _EXAMPLE}}},
        **INVALID,
    },
)
def surveillance(
    session: SessionDep,
    settings: SettingsDep,
    _user: CurrentUser,
    label: Annotated[str | None, Query(description="Only this label.")] = None,
    since: Annotated[UtcDateTime | None, Query(description="Observed at or after.")] = None,
    until: Annotated[UtcDateTime | None, Query(description="Observed before.")] = None,
    cell: Annotated[
        float | None,
        Query(
            le=180,
            # The service refuses other sizes (api.services.surveillance); 0.1 is the default
            # base cell, IRIIS_SURVEILLANCE_CELL_DEGREES.
            json_schema_extra={"minimum": 0.1, "multipleOf": 0.1},
            description="Cell side in degrees: a whole multiple of the base cell (0.1).",
        ),
    ] = None,
) -> JSONResponse:
    """Confirmed and accepted detections per label, ISO week and grid cell, as GeoJSON squares;
    cells with fewer than 3 observations are left out and exact locations never leave the
    server, so any signed-in user may read it."""
    collection = detections(
        session, settings=settings, cell_degrees=cell, label=label, since=since, until=until
    )
    return JSONResponse(collection, media_type="application/geo+json")
