"""The lab's surveillance view: shown detections per label, ISO week and grid cell."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CatalogDep, CurrentUser, SessionDep, SettingsDep, SurveillanceFilters
from api.routes import AUTH_ERRORS, INVALID
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
            "properties": {
                "label": "potato.late_blight",
                "names": {"fr": "Mildiou de la pomme de terre", "en": "Potato late blight"},
                "group": "blights",
                "category": "disease",
                "week": "2026-W27",
                "count": 4,
            },
        }
    ],
    "properties": {"cell_degrees": 0.1, "min_count": 3, "min_users": 2},
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
    catalog: CatalogDep,
    _user: CurrentUser,
    filters: SurveillanceFilters,
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
    """Confirmed and accepted detections per label, ISO week and grid cell, as GeoJSON squares.
    Only cell-weeks of at least 3 observations from at least 2 people are counted, in every
    cell size, filter and total alike, and exact locations never leave the server, so any
    signed-in user may read it."""
    collection = detections(
        session, settings=settings, catalog=catalog, filters=filters, cell_degrees=cell
    )
    return JSONResponse(collection, media_type="application/geo+json")
