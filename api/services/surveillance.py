"""The surveillance view: detections per label, ISO week and grid cell, as GeoJSON.

An observation is an identification with a location whose label is settled: the specialist's
label when a case was answered with one, otherwise the model's label when the model accepted it
(and no specialist answered the case without a label). Exact positions are only read here, to
find each observation's cell (and a case's: the region the specialists' pages show); what leaves
is the cell's square, the label, the week and the count, and a cell with fewer than
``surveillance_min_count`` observations of a label in a week is left out, so that no single farm
can be singled out.
"""

import math
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.errors import InvalidInput
from api.models import CaseStatus, Identification
from api.settings import ApiSettings
from model.result import Decision


def _settled_label(identification: Identification) -> str | None:
    case = identification.case
    if case is not None and case.status == CaseStatus.ANSWERED:
        return case.label  # None: a specialist answered without a label
    return identification.label if identification.decision == Decision.ACCEPTED else None


def _week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def detections(
    session: Session,
    *,
    settings: ApiSettings,
    cell_degrees: float | None = None,
    label: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of square cells, one feature per label, week and cell."""
    base = settings.surveillance_cell_degrees
    cell = base if cell_degrees is None else cell_degrees  # 0 is refused, not the base
    # Multiples of the base cell only: grids of other sizes would overlap the base grid's
    # cells, and comparing the two could locate an observation more finely than either.
    multiple = cell / base
    if multiple < 1 or abs(multiple - round(multiple)) > 1e-9:
        raise InvalidInput(
            {
                "fr": f"cell doit être un multiple entier de {base:g}°".replace(".", ","),
                "en": f"cell must be a whole multiple of {base:g} degrees",
            }
        )
    query = (
        select(Identification)
        .where(Identification.latitude.is_not(None), Identification.longitude.is_not(None))
        .options(selectinload(Identification.case))
    )
    if since is not None:
        query = query.where(Identification.observed_at >= since)
    if until is not None:
        query = query.where(Identification.observed_at < until)
    counts: Counter[tuple[str, str, int, int]] = Counter()
    for identification in session.scalars(query):
        settled = _settled_label(identification)
        if settled is None or (label is not None and settled != label):
            continue
        assert identification.latitude is not None and identification.longitude is not None
        row = _index(identification.latitude, cell)
        column = _index(identification.longitude, cell)
        counts[settled, _week(identification.observed_at), row, column] += 1
    features = [
        _feature(label_, week, row, column, cell, count)
        for (label_, week, row, column), count in sorted(counts.items())
        if count >= settings.surveillance_min_count
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {
            "cell_degrees": cell,
            "min_count": settings.surveillance_min_count,
            "suppressed_cells": sum(
                1 for count in counts.values() if count < settings.surveillance_min_count
            ),
        },
    }


def cell_centre(latitude: float, longitude: float, *, settings: ApiSettings) -> tuple[float, float]:
    """The centre of the base grid cell holding a point: the finest a location is ever shown
    (the specialists' queue gives it as a case's region), rounded to the cell."""
    cell = settings.surveillance_cell_degrees
    return (
        round((_index(latitude, cell) + 0.5) * cell, 6),
        round((_index(longitude, cell) + 0.5) * cell, 6),
    )


def _index(coordinate: float, cell: float) -> int:
    # Rounded first so that 45.3 / 0.1 = 452.99999999999994 falls in cell 453, as it should.
    return math.floor(round(coordinate / cell, 9))


def _feature(
    label: str, week: str, row: int, column: int, cell: float, count: int
) -> dict[str, Any]:
    south, west = round(row * cell, 6), round(column * cell, 6)
    north, east = round(south + cell, 6), round(west + cell, 6)
    return {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[west, south], [east, south], [east, north], [west, north], [west, south]]
            ],
        },
        "properties": {"label": label, "week": week, "count": count},
    }
