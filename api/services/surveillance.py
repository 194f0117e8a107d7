"""Territorial surveillance: one aggregation, suppression applied once.

Every face of surveillance (``GET /v1/surveillance``, the specialists' map and trend plots,
the alerts' surge rule, the Darwin Core archive) reads :func:`shown_cells` and nothing else,
so that what one shows and another hides can never be combined. The one reader of the
observations before suppression (:func:`observations`) is the alerts' staff-only rule for a
watched organism confirmed in a new cell (``api.services.alerts``): staff see the cases anyway,
and it too receives cells and weeks, never a point or a user's identity.

What counts (an *observation*): a located identification whose label is settled, either a
case a specialist answered with a label (source ``confirmed``, under the specialist's label,
whether or not the user shared the identification: they sent it to the lab), or an
identification the user shared for surveillance (the field app's opt-in) that the model
accepted and no specialist overruled (source ``model``). A case answered without a label, an
unshared or doubtful answer, an unlocated one: none counts. The observations of an erased
account count on, kept without the person as cell-week counts (``ErasedObservation``,
``api.services.erasure``), so that no published number changes when an account goes.

The rule, applied once, to *cell-weeks*: an observation falls in one cell of the base grid
(``IRIIS_SURVEILLANCE_CELL_DEGREES``, 0.1 degree at least) and one ISO week (of
``observed_at``, UTC); its cell-week is its label, source, week and base cell. A cell-week is
shown only when it holds at least ``IRIIS_SURVEILLANCE_MIN_COUNT`` (3) observations from at
least ``IRIIS_SURVEILLANCE_MIN_USERS`` (2) distinct users; otherwise it is suppressed, and
dropped *before* anything is summed. Every number any face publishes (a coarser cell, a label's
weekly total, a group or category, a range of weeks, a source, the province's total) is a sum of
shown cell-weeks only, and every filter selects whole cell-weeks (labels, groups and categories
are unions of labels, sources are part of the cell-week, week ranges are whole ISO weeks,
coarser cells whole multiples of the base cell). So the complementary suppression is total: a
suppressed cell-week adds nothing anywhere, and no total, coarser cell, filter or difference of
any two answers depends on it; a coarser cell over sparse detections stays empty rather than
unlocking them. How many cell-weeks were suppressed is not published either.

Exact positions are read here only, to find each observation's base cell (and a case's region
for the specialists' queue, :func:`cell_centre`); what leaves is a cell's square or centre.
"""

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.errors import InvalidInput
from api.models import Case, CaseStatus, ErasedObservation, Identification
from api.settings import ApiSettings
from model.catalog import Catalog
from model.i18n import LANGUAGES
from model.result import Decision

# Weeks 01 to 53, so that the schema refuses what parse_week refuses (a week 53 of a 52-week
# year, which only the calendar knows, parse_week reads as the week after its week 52).
_WEEK = r"\d{4}-W(0[1-9]|[1-4]\d|5[0-3])"
WEEK_PATTERN = rf"^{_WEEK}$"
ANY_WEEK = rf"^({_WEEK})?$"  # a week, or none: a form's "all"


class Source(StrEnum):
    """Who settled an observation's label."""

    CONFIRMED = "confirmed"  # a lab specialist
    MODEL = "model"  # the model accepted it, and the user shared it


@dataclass(frozen=True, order=True)
class CellWeek:
    """A shown cell-week: ``count`` observations of ``label`` by ``source`` in base cell
    (``row``, ``column``) during ISO week ``week`` (its Monday), from at least 2 users."""

    label: str
    source: Source
    week: date
    row: int
    column: int
    count: int
    model_versions: tuple[str, ...]  # the models that identified them (source model)


@dataclass(frozen=True)
class Filters:
    """What a face may ask for: each selects whole cell-weeks, never part of one."""

    label: str | None = None
    group: str | None = None
    category: str | None = None
    source: Source | None = None
    first_week: date | None = None  # a Monday: whole ISO weeks only
    last_week: date | None = None

    def keeps(self, cell: CellWeek, catalog: Catalog) -> bool:
        entry = catalog.labels.get(cell.label)
        return (
            (self.label is None or cell.label == self.label)
            and (self.group is None or (entry is not None and entry.group == self.group))
            and (self.category is None or (entry is not None and entry.category == self.category))
            and (self.source is None or cell.source == self.source)
            and (self.first_week is None or cell.week >= self.first_week)
            and (self.last_week is None or cell.week <= self.last_week)
        )


def parse_week(text: str | None) -> date | None:
    """The Monday of an ISO week written ``2026-W27``; None for None. Week 53 of a year that
    has 52 reads as the week after its week 52 (a bound "up to week 53" means the year's end,
    and the documented pattern admits it for every year)."""
    if text is None:
        return None
    if re.fullmatch(WEEK_PATTERN, text) is not None:
        year, week = int(text[:4]), int(text[6:])
        try:
            if week == 53 and date(year, 12, 28).isocalendar()[1] == 52:
                last = date.fromisocalendar(year, 52, 1)
                return last + timedelta(weeks=1) if year < date.max.year else last
            return date.fromisocalendar(year, week, 1)
        except ValueError:
            pass
    raise InvalidInput(
        {
            "fr": f"semaine ISO attendue (2026-W27), pas « {text} »",
            "en": f"an ISO week (2026-W27) was expected, not '{text}'",
        }
    )


def week_name(monday: date) -> str:
    """``2026-W27``: how a week is written in every answer."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def monday(moment: datetime) -> date:
    """The Monday of ``moment``'s ISO week (UTC): the week an observation counts in."""
    day = moment.date()
    return day - timedelta(days=day.weekday())


def settled(identification: Identification) -> tuple[str, Source] | None:
    """The label and source an identification counts under, or None when it does not count
    (wherever it was: the location is checked by the callers)."""
    case: Case | None = identification.case
    if case is not None and case.status == CaseStatus.ANSWERED:
        return None if case.label is None else (case.label, Source.CONFIRMED)
    if identification.shared and identification.decision == Decision.ACCEPTED:
        return identification.label, Source.MODEL
    return None


@dataclass(frozen=True)
class Observation:
    """One observation that counts, before suppression: its label, source, ISO week and base
    cell, and when a specialist settled it (source confirmed). Only this module and the staff's
    alerts read these; ``user_id`` and ``model_version`` serve the suppression rule and the
    archive's ``identifiedBy`` and never leave the server."""

    label: str
    source: Source
    week: date
    row: int
    column: int
    user_id: int | str  # an erased account's: its contributor token in this cell-week
    model_version: str
    decided_at: datetime | None


def observations(session: Session, *, settings: ApiSettings) -> Iterator[Observation]:
    """Every observation that counts, placed in its base cell: the exact position is read here
    and goes no further."""
    cell = settings.surveillance_cell_degrees
    query = (
        select(Identification)
        .where(Identification.latitude.is_not(None), Identification.longitude.is_not(None))
        .options(selectinload(Identification.case))
    )
    for identification in session.scalars(query):
        counted = settled(identification)
        if counted is None:
            continue
        assert identification.latitude is not None and identification.longitude is not None
        case = identification.case
        yield Observation(
            *counted,
            week=monday(identification.observed_at),
            row=_index(identification.latitude, cell),
            column=_index(identification.longitude, cell),
            user_id=identification.user_id,
            model_version=identification.model_version,
            decided_at=case.answered_at if case is not None else None,
        )
    erased = select(ErasedObservation).where(
        ErasedObservation.cell_latitude.is_not(None), ErasedObservation.cell_longitude.is_not(None)
    )
    for kept in session.scalars(erased):
        assert kept.cell_latitude is not None and kept.cell_longitude is not None
        seen = Observation(
            kept.label,
            Source(kept.source),
            week=kept.week,
            row=_index(kept.cell_latitude, cell),
            column=_index(kept.cell_longitude, cell),
            user_id=f"erased:{kept.contributor}",
            model_version=kept.model_version,
            decided_at=kept.decided_at,
        )
        yield from [seen] * kept.count


def shown_cells(
    session: Session, *, settings: ApiSettings, seen: Iterable[Observation] | None = None
) -> list[CellWeek]:
    """Every shown cell-week, sorted; the suppressed ones are dropped here, once for all faces.
    ``seen``: the observations, when the caller has read them already for something else."""
    users: defaultdict[tuple[str, Source, date, int, int], set[int | str]] = defaultdict(set)
    counts: defaultdict[tuple[str, Source, date, int, int], int] = defaultdict(int)
    versions: defaultdict[tuple[str, Source, date, int, int], set[str]] = defaultdict(set)
    for one in observations(session, settings=settings) if seen is None else seen:
        key = (one.label, one.source, one.week, one.row, one.column)
        counts[key] += 1
        users[key].add(one.user_id)
        if one.source == Source.MODEL:
            versions[key].add(one.model_version)
    return sorted(
        CellWeek(*key, count=count, model_versions=tuple(sorted(versions[key])))
        for key, count in counts.items()
        if count >= settings.surveillance_min_count
        and len(users[key]) >= settings.surveillance_min_users
    )


def selected(cells: Iterable[CellWeek], filters: Filters, catalog: Catalog) -> list[CellWeek]:
    """The shown cell-weeks a face's filters keep."""
    return [cell for cell in cells if filters.keeps(cell, catalog)]


def grid_multiple(cell_degrees: float | None, *, settings: ApiSettings) -> int:
    """How many base cells a side of the asked cell spans: a whole number, at least 1."""
    base = settings.surveillance_cell_degrees
    if cell_degrees is None:
        return 1
    multiple = cell_degrees / base
    if multiple < 1 or abs(multiple - round(multiple)) > 1e-9:
        raise InvalidInput(
            {
                "fr": f"cell doit être un multiple entier de {base:g}°".replace(".", ","),
                "en": f"cell must be a whole multiple of {base:g} degrees",
            }
        )
    return round(multiple)


@dataclass(frozen=True)
class Square:
    """A published cell: its south-west corner and side, in degrees."""

    south: float
    west: float
    side: float

    @property
    def centre(self) -> tuple[float, float]:
        return round(self.south + self.side / 2, 6), round(self.west + self.side / 2, 6)

    @property
    def ring(self) -> list[list[float]]:
        """The GeoJSON ring (longitude first), closed."""
        south, west = self.south, self.west
        north, east = round(south + self.side, 6), round(west + self.side, 6)
        return [[west, south], [east, south], [east, north], [west, north], [west, south]]

    @property
    def uncertainty_m(self) -> int:
        """Metres from the centre to the farthest corner (the poleward ones), rounded up: the
        ``coordinateUncertaintyInMeters`` that covers the whole cell."""
        latitude, longitude = self.centre
        corner = self.south + self.side if latitude >= 0 else self.south
        return math.ceil(_metres(latitude, longitude, corner, self.west))


def square(row: int, column: int, *, multiple: int, settings: ApiSettings) -> Square:
    """The published cell holding base cell (``row``, ``column``) on a grid ``multiple`` times
    coarser."""
    side = settings.surveillance_cell_degrees * multiple
    return Square(
        round((row // multiple) * side, 6), round((column // multiple) * side, 6), round(side, 6)
    )


def totals(
    cells: Iterable[CellWeek], *, multiple: int, settings: ApiSettings, by_week: bool = True
) -> Iterator[tuple[str, date | None, Square, int]]:
    """Sums of shown cell-weeks per label, week (None when ``by_week`` is off) and published
    cell, sources together, sorted."""
    sums: defaultdict[tuple[str, date | None, int, int], int] = defaultdict(int)
    for cell in cells:
        week = cell.week if by_week else None
        sums[cell.label, week, cell.row // multiple, cell.column // multiple] += cell.count
    for (label, week, row, column), count in sorted(sums.items(), key=_order):
        yield (
            label,
            week,
            square(row * multiple, column * multiple, multiple=multiple, settings=settings),
            count,
        )


def _order(item: tuple[tuple[str, date | None, int, int], int]) -> tuple[str, date, int, int]:
    (label, week, row, column), _ = item
    return label, week or date.min, row, column


def weekly(cells: Iterable[CellWeek]) -> dict[str, dict[date, int]]:
    """Each label's shown observations per week, over every cell: the trend plots' points."""
    series: defaultdict[str, defaultdict[date, int]] = defaultdict(lambda: defaultdict(int))
    for cell in cells:
        series[cell.label][cell.week] += cell.count
    return {label: dict(sorted(points.items())) for label, points in sorted(series.items())}


def cell_centre(latitude: float, longitude: float, *, settings: ApiSettings) -> tuple[float, float]:
    """The centre of the base grid cell holding a point: the finest a location is ever shown
    (the specialists' queue gives it as a case's region), rounded to the cell."""
    cell = settings.surveillance_cell_degrees
    return square(
        _index(latitude, cell), _index(longitude, cell), multiple=1, settings=settings
    ).centre


def _index(coordinate: float, cell: float) -> int:
    # Rounded first so that 45.3 / 0.1 = 452.99999999999994 falls in cell 453, as it should.
    return math.floor(round(coordinate / cell, 9))


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def detections(
    session: Session,
    *,
    settings: ApiSettings,
    catalog: Catalog,
    filters: Filters,
    cell_degrees: float | None = None,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of square cells, one feature per label, week and cell, each
    a sum of shown cell-weeks; no count of what was suppressed."""
    multiple = grid_multiple(cell_degrees, settings=settings)
    cells = selected(shown_cells(session, settings=settings), filters, catalog)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [cell.ring]},
            "properties": {
                "label": label,
                "names": {lang: catalog.name_or_id(label, lang) for lang in LANGUAGES},
                "group": entry.group if (entry := catalog.labels.get(label)) else None,
                "category": entry.category if entry else None,
                "week": week_name(week) if week else None,
                "count": count,
            },
        }
        for label, week, cell, count in totals(cells, multiple=multiple, settings=settings)
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {
            "cell_degrees": round(settings.surveillance_cell_degrees * multiple, 6),
            "min_count": settings.surveillance_min_count,
            "min_users": settings.surveillance_min_users,
        },
    }
