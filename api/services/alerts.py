"""Alerts for the lab's staff (specialists and admins): two documented rules, one list.

The surveillance page, the Atom feed and ``GET /v1/alerts`` all lay out :func:`alerts` and
nothing else, so they list the same alerts in the same order.

**New in a cell** (:attr:`AlertKind.NEW_IN_CELL`): a label on the lab's watch list (regulated
or watched, ``api.services.watchlist``) that a specialist confirmed in a base cell (0.1 degree)
during an ISO week, when no observation of that label counted in that cell during the
``IRIIS_ALERT_NEW_CELL_WEEKS`` (26) weeks before that week. "Counted" is the surveillance's own
rule (``api.services.surveillance.observations``: confirmed cases and shared accepted answers),
before suppression: such an alert may be about one case, and the staff see the cases anyway. It
gives the cell's centre, the week, how many confirmed cases the cell-week holds and when the
last of them was decided; never a user, a point or a case.

**Surge** (:attr:`AlertKind.SURGE`): a label's count over the province in a week, as the trend
plot draws it (``api.services.surveillance.weekly`` over shown cell-weeks, both sources), is at
least ``IRIIS_ALERT_SURGE_MIN_COUNT`` (10) and above ``mean + k * s`` of its counts in the
``IRIIS_ALERT_BASELINE_WEEKS`` (8) weeks before (a week without a shown cell-week counts 0),
where ``k`` is ``IRIIS_ALERT_SURGE_SD`` (3) and ``s`` the larger of those counts' standard
deviation and the square root of their mean: a count of that mean varies by about its square
root (Poisson), so a flat history does not turn a small rise into an alert. Its numbers are the
trend plot's: suppressed cell-weeks add nothing to it. Labels that name no organism (healthy
leaves, "no weed", ``unknown``: no scientific name in the catalog) never surge.

Nothing of this is public: every face is staff-only. Both rules are evaluated over all the
data, every time (the surveillance aggregation reads it all anyway), and the newest
:data:`LIMIT` alerts are listed, newest week first.
"""

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from api.services.surveillance import (
    CellWeek,
    Observation,
    Source,
    Square,
    observations,
    shown_cells,
    square,
    week_name,
    weekly,
)
from api.services.watchlist import watched_labels
from api.settings import ApiSettings
from model.catalog import Catalog
from model.i18n import Language

LIMIT = 50
# Fixed forever: alert ids are derived from it, and feed readers know an entry by its id.
_ID_NAMESPACE = uuid.UUID("0c8f4a52-93f1-4d0e-b0a4-7e2d61c4a9d3")


class AlertKind(StrEnum):
    NEW_IN_CELL = "new_in_cell"
    SURGE = "surge"


@dataclass(frozen=True)
class Alert:
    """One alert. ``count``: the cell-week's confirmed cases (new in a cell) or the province's
    shown observations that week (surge); ``window_weeks``: the weeks looked back at."""

    kind: AlertKind
    label: str
    week: date  # a Monday
    count: int
    window_weeks: int
    updated: datetime  # the last confirmation (new in a cell), the week's start (surge)
    cell: Square | None = None  # new in a cell
    mean: float | None = None  # surge: the recent level and the threshold it went over
    threshold: float | None = None

    @property
    def id(self) -> str:
        """Stable from one listing to the next, and opaque."""
        where = f"{self.cell.south:g},{self.cell.west:g}" if self.cell else "province"
        key = f"{self.kind}|{self.label}|{self.week.isoformat()}|{where}"
        return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, key)}"


def alerts(
    session: Session,
    *,
    settings: ApiSettings,
    catalog: Catalog,
    limit: int = LIMIT,
    seen: Sequence[Observation] | None = None,
) -> list[Alert]:
    """The newest ``limit`` alerts of both rules, newest week first; ``seen``: the
    observations, when the caller has read them already (both rules read them once)."""
    if seen is None:
        seen = list(observations(session, settings=settings))
    cells = shown_cells(session, settings=settings, seen=seen)
    found = new_in_cell(session, settings=settings, observed=seen) + surges(
        cells, settings=settings, catalog=catalog
    )
    found.sort(key=lambda alert: (alert.week, alert.updated, alert.kind, alert.label), reverse=True)
    return found[:limit]


def new_in_cell(
    session: Session, *, settings: ApiSettings, observed: Iterable[Observation]
) -> list[Alert]:
    """Rule 1: watched labels confirmed in a cell-week with no observation of them in that cell
    during the ``alert_new_cell_weeks`` weeks before."""
    watched = watched_labels(session)
    seen: defaultdict[tuple[str, int, int], set[date]] = defaultdict(set)
    confirmed: defaultdict[tuple[str, int, int, date], list[datetime]] = defaultdict(list)
    for observation in observed:
        if observation.label not in watched:
            continue
        place = (observation.label, observation.row, observation.column)
        seen[place].add(observation.week)
        if observation.source == Source.CONFIRMED and observation.decided_at is not None:
            confirmed[(*place, observation.week)].append(observation.decided_at)
    window = timedelta(weeks=settings.alert_new_cell_weeks)
    found = []
    for (label, row, column, week), decided in confirmed.items():
        if any(week - window <= before < week for before in seen[label, row, column]):
            continue
        found.append(
            Alert(
                AlertKind.NEW_IN_CELL,
                label,
                week,
                count=len(decided),
                window_weeks=settings.alert_new_cell_weeks,
                updated=max(decided),
                cell=square(row, column, multiple=1, settings=settings),
            )
        )
    return found


def surges(cells: Iterable[CellWeek], *, settings: ApiSettings, catalog: Catalog) -> list[Alert]:
    """Rule 2: weekly counts of shown observations above their recent level, for labels that
    name an organism (a scientific name: not healthy leaves, "no weed" nor ``unknown``, which
    the archive leaves out too)."""
    weeks = settings.alert_baseline_weeks
    found = []
    for label, points in weekly(cells).items():
        entry = catalog.labels.get(label)
        if entry is None or entry.scientific_name is None:
            continue
        for week, count in points.items():
            if count < settings.alert_surge_min_count:
                continue
            history = [points.get(week - timedelta(weeks=i), 0) for i in range(1, weeks + 1)]
            mean = sum(history) / weeks
            deviation = math.sqrt(sum((n - mean) ** 2 for n in history) / weeks)
            threshold = mean + settings.alert_surge_sd * max(deviation, math.sqrt(mean))
            if count > threshold:
                found.append(
                    Alert(
                        AlertKind.SURGE,
                        label,
                        week,
                        count=count,
                        window_weeks=weeks,
                        updated=datetime.combine(week, time(), UTC),
                        mean=round(mean, 2),
                        threshold=round(threshold, 2),
                    )
                )
    return found


def title(alert: Alert, catalog: Catalog, lang: Language) -> str:
    """The alert in one sentence, the same on the page, in the feed and in the JSON."""
    name, week, weeks = (
        catalog.name_or_id(alert.label, lang),
        week_name(alert.week),
        alert.window_weeks,
    )
    if alert.cell is not None:
        latitude, longitude = alert.cell.centre
        if lang == "fr":
            return (
                f"Cas confirmé : {name}, cellule {_fr(latitude, 2)} ; {_fr(longitude, 2)}, "
                f"{week} ({alert.count} cas) ; aucune observation dans cette cellule les {weeks} "
                "semaines précédentes"
            )
        return (
            f"Confirmed case: {name}, cell {latitude:.2f}, {longitude:.2f}, {week} "
            f"({alert.count} case(s)); none in that cell in the {weeks} weeks before"
        )
    assert alert.mean is not None and alert.threshold is not None
    if lang == "fr":
        return (
            f"Hausse : {name}, {alert.count} observations en {week}, au-dessus de son niveau "
            f"récent (seuil {_fr(alert.threshold, 1)}, moyenne {_fr(alert.mean, 1)} sur "
            f"{weeks} semaines)"
        )
    return (
        f"Surge: {name}, {alert.count} observations in {week}, above its recent level "
        f"(threshold {alert.threshold:.1f}, mean {alert.mean:.1f} over {weeks} weeks)"
    )


def _fr(number: float, decimals: int) -> str:
    return f"{number:.{decimals}f}".replace(".", ",")
