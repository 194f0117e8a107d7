"""The surveillance page's drawings, server-rendered SVG: the province's cells coloured by
detections over a graticule with place names, and a weekly trend plot per label.

No tile server and no map library: the page must work with no internet, and no registry
package or vendored public data set was checked for a licence yet, so the basemap is a plain
graticule with the main towns, placed by their public coordinates. Every number drawn is a sum of
shown cell-weeks (``api.services.surveillance``); this module only places them.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from api.services.surveillance import CellWeek, Square, totals, weekly
from api.settings import ApiSettings

WIDTH = 800
# Southern Quebec, where the province's farms are; widened to hold every shown cell.
EXTENT = (44.9, 49.6, -79.8, -64.0)  # south, north, west, east
PLACES = (
    ("Montréal", 45.50, -73.57),
    ("Québec", 46.81, -71.21),
    ("Gatineau", 45.48, -75.70),
    ("Sherbrooke", 45.40, -71.89),
    ("Trois-Rivières", 46.34, -72.55),
    ("Saint-Hyacinthe", 45.63, -72.96),
    ("Drummondville", 45.88, -72.48),
    ("Saguenay", 48.43, -71.07),
    ("Rimouski", 48.45, -68.52),
    ("Rouyn-Noranda", 48.24, -79.02),
)
# Detections per cell: the upper bound of each colour class (ColorBrewer YlOrRd, 5 classes).
CLASSES = ((9, "#ffffb2"), (24, "#fecc5c"), (49, "#fd8d3c"), (99, "#f03b20"), (None, "#bd0026"))


@dataclass(frozen=True)
class Shape:
    x: float
    y: float
    width: float
    height: float
    count: int
    colour: str
    centre: tuple[float, float]


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    text: str
    tx: float
    ty: float


@dataclass(frozen=True)
class Place:
    name: str
    x: float
    y: float


@dataclass(frozen=True)
class Map:
    width: int
    height: int
    cells: list[Shape]
    graticule: list[Line]
    places: list[Place]
    legend: list[tuple[str, str]]  # colour, range in figures
    total: int


@dataclass(frozen=True)
class Point:
    week: date
    count: int
    x: float
    y: float


@dataclass(frozen=True)
class Trend:
    label: str
    points: list[Point]
    path: str
    top: int


def colour(count: int) -> str:
    return next(fill for bound, fill in CLASSES if bound is None or count <= bound)


def draw_map(cells: list[CellWeek], *, multiple: int, settings: ApiSettings) -> Map:
    """The cells of ``cells`` summed over labels and weeks, on a grid ``multiple`` times the
    base cell, projected equirectangularly at the extent's middle latitude."""
    sums: defaultdict[Square, int] = defaultdict(int)
    for _label, _week, square, count in totals(
        cells, multiple=multiple, settings=settings, by_week=False
    ):
        sums[square] += count
    south, north, west, east = EXTENT
    for square in sums:
        south, west = min(south, square.south), min(west, square.west)
        north, east = max(north, square.south + square.side), max(east, square.west + square.side)
    squeeze = math.cos(math.radians((south + north) / 2))
    scale = WIDTH / ((east - west) * squeeze)
    height = round((north - south) * scale)

    def at(latitude: float, longitude: float) -> tuple[float, float]:
        return round((longitude - west) * squeeze * scale, 1), round((north - latitude) * scale, 1)

    shapes = []
    for square, count in sorted(sums.items(), key=lambda item: (item[0].south, item[0].west)):
        x, y = at(square.south + square.side, square.west)
        shapes.append(
            Shape(
                x,
                y,
                max(round(square.side * squeeze * scale, 1), 1.0),
                max(round(square.side * scale, 1), 1.0),
                count,
                colour(count),
                square.centre,
            )
        )
    lines = [
        Line(*at(latitude, west), *at(latitude, east), f"{latitude}°", 4, at(latitude, west)[1] - 3)
        for latitude in range(math.ceil(south), math.floor(north) + 1)
    ] + [
        Line(
            *at(north, longitude),
            *at(south, longitude),
            f"{longitude}°",
            at(north, longitude)[0] + 3,
            height - 4,
        )
        for longitude in range(math.ceil(west), math.floor(east) + 1, 2)
    ]
    places = [Place(name, *at(latitude, longitude)) for name, latitude, longitude in PLACES]
    legend, low = [], 1
    for bound, fill in CLASSES:
        legend.append((fill, f"{low}–{bound}" if bound is not None else f"{low}+"))
        low = (bound or 0) + 1
    return Map(WIDTH, height, shapes, lines, places, legend, sum(sums.values()))


def draw_trends(
    cells: list[CellWeek], *, first: date | None, last: date | None, width: int = 360
) -> list[Trend]:
    """One small plot per label: its shown observations per week, every week of the range
    drawn (a week without shown cell-weeks is a 0)."""
    series = weekly(cells)
    weeks = sorted({week for points in series.values() for week in points})
    if not weeks:
        return []
    start, end = first or weeks[0], last or weeks[-1]
    axis = [start + timedelta(weeks=i) for i in range((end - start).days // 7 + 1)]
    step = width / max(len(axis) - 1, 1)
    trends = []
    for label, points in series.items():
        top = max(points.values())
        drawn = [
            Point(
                week,
                points.get(week, 0),
                round(i * step, 1),
                round(80 - 70 * points.get(week, 0) / top, 1),
            )
            for i, week in enumerate(axis)
        ]
        path = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(drawn))
        trends.append(Trend(label, drawn, path, top))
    return trends
