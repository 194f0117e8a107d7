"""The specialists' capacity and the honest wait: when a new or waiting case can expect an answer.

The lab owns its capacity (cases its specialists answer per working day, their working hours and
days, in the lab's time zone): an admin sets it in the pages or the API (``LabCapacity``); until
then the settings' defaults hold. The expected wait of a case is the time the lab needs, working
at its pace, to answer every case ahead of it in the queue and then this one:

- **ahead**: the waiting cases of a tier before it, and those of its tier before it in the
  queue's order (``api.services.queue``: opened before it, or less sure than it with the
  ``informative`` order); a new case is counted behind every waiting case of its tier. A case
  cannot know the higher-tier cases that will arrive after it: the wait shown is the wait if
  none does, and it grows when some do.
- **pace**: answers per working day, the capacity blended with the decisions really made since
  the first one of the last ``pace_window_days``, counted in whole working days, never minutes
  (a burst of seven decisions in a minute is a busy morning, not a rate): ``(capacity *
  PRIOR_DAYS + decisions) / (PRIOR_DAYS + working days)``, so that a few days of real pace move
  it and one odd day does not. Only while at least a day's capacity of cases waits: with a
  shorter queue the specialists answer what arrives, and their decisions measure the demand,
  not their pace (measured: a week at 100 a day with the blend always on showed waits too
  long for 43% of the farms' cases).
- **the case in hand**: the specialists are on average halfway through a case when another
  arrives, so the wait is for ``position - 0.5`` answers.
- **time**: the cases to answer at that pace spread evenly over the working hours, walked forward
  from now through the working days (nights, weekends and days off pass without answers).
- **a silent lab**: when, within today's working hours, cases have waited and no specialist has
  claimed or decided anything for the time ``SILENCE_ANSWERS`` answers take at the pace (a gap
  that answers given at that pace leave about once in fifty, e^-4), the lab is taken to be away
  for the rest of the day (a day off, an absence that nobody entered): the walk starts at the end
  of today's working hours, not now; the next claim or decision ends it. Measured: with one
  working day of the replayed week where nobody answered, the waits shown that day promised an
  answer within minutes to cases then answered three days later; with the rule, 77% of the cases
  at 100 a day and 70% at 200 were shown a wait within 30% of the real one, against 73% and 64%.

The wait is shown before the user asks (``Wait`` of a new case of their tier) and on each waiting
case, in words and as a date (``model.wording.expected_answer``).
"""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.errors import InvalidInput
from api.models import Case, CaseDecision, CaseStatus, LabCapacity, User, utcnow
from api.services.queue import PENDING, ahead_of
from api.settings import ApiSettings

log = logging.getLogger(__name__)

# The configured capacity counts as this many working days of measured pace.
PRIOR_DAYS = 5.0
# A lab silent for the time this many answers take at its pace is away for the rest of the day.
SILENCE_ANSWERS = 4.0
# A wait is never walked further than this: past it the lab is not answering at all.
HORIZON_DAYS = 366


@dataclass(frozen=True)
class Capacity:
    cases_per_day: int
    day_start: time
    day_end: time
    work_days: frozenset[int]  # ISO weekdays: 1 Monday ... 7 Sunday

    @property
    def hours_per_day(self) -> float:
        start = self.day_start.hour + self.day_start.minute / 60
        return self.day_end.hour + self.day_end.minute / 60 - start


@dataclass(frozen=True)
class Wait:
    """When a case can expect an answer: ``at`` (UTC), ``hours`` from now, and what it rests on
    (the cases to answer first, itself included, and the pace in answers per working day)."""

    at: datetime
    hours: float
    position: int
    pace: float


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            {"fr": f"heure invalide : {text!r} (HH:MM)", "en": f"invalid time: {text!r} (HH:MM)"}
        ) from None


def make_capacity(
    cases_per_day: int, day_start: str, day_end: str, work_days: list[int]
) -> Capacity:
    """A capacity from its settings, checked: what cannot describe a working week is refused."""
    start, end = _clock(day_start), _clock(day_end)
    days = frozenset(work_days)
    if cases_per_day < 1 or end <= start or not days or not days <= set(range(1, 8)):
        raise InvalidInput(
            {
                "fr": "capacité invalide : au moins un cas par jour, une fin de journée après son "
                "début, et des jours de 1 (lundi) à 7 (dimanche)",
                "en": "invalid capacity: at least one case a day, a day ending after it starts, "
                "and days from 1 (Monday) to 7 (Sunday)",
            }
        )
    return Capacity(cases_per_day, start, end, days)


def current_capacity(session: Session, *, settings: ApiSettings) -> Capacity:
    """The capacity the lab set, else the settings' defaults."""
    row = session.get(LabCapacity, 1)
    if row is None:
        return make_capacity(
            settings.cases_per_day,
            settings.work_day_start,
            settings.work_day_end,
            list(settings.work_days),
        )
    days = [int(day) for day in row.work_days.split(",")]
    return make_capacity(row.cases_per_day, row.day_start, row.day_end, days)


def set_capacity(
    session: Session,
    *,
    admin: User,
    cases_per_day: int,
    day_start: str,
    day_end: str,
    work_days: list[int],
) -> Capacity:
    """Set the lab's capacity (admins; the route checks the role): it takes effect at once."""
    capacity = make_capacity(cases_per_day, day_start, day_end, work_days)
    row = session.get(LabCapacity, 1) or LabCapacity(id=1)
    row.cases_per_day = capacity.cases_per_day
    row.day_start, row.day_end = day_start, day_end
    row.work_days = ",".join(str(day) for day in sorted(capacity.work_days))
    row.set_by, row.set_at = admin.id, utcnow()
    session.add(row)
    session.commit()
    log.info("capacity set by admin %d: %s", admin.id, capacity)
    return capacity


def _working_days(first: date, last: date, capacity: Capacity) -> int:
    days = (last - first).days + 1
    return sum((first + timedelta(n)).isoweekday() in capacity.work_days for n in range(days))


def _pending(session: Session) -> tuple[int, datetime | None]:
    """How many cases wait for the lab, and when the oldest of them was opened."""
    count, oldest = session.execute(
        select(func.count(), func.min(Case.opened_at)).where(Case.status.in_(PENDING))
    ).one()
    return count or 0, oldest


def daily_pace(
    session: Session,
    *,
    capacity: Capacity,
    settings: ApiSettings,
    now: datetime,
    waiting: int | None = None,
) -> float:
    """Answers per working day: the capacity blended with the recent decisions (module doc);
    ``waiting``, the cases waiting, when the caller has counted them already."""
    count, first = session.execute(
        select(func.count(), func.min(CaseDecision.created_at)).where(
            CaseDecision.created_at > now - timedelta(days=settings.pace_window_days)
        )
    ).one()
    if waiting is None:
        waiting = _pending(session)[0]
    if not count or waiting < capacity.cases_per_day:
        return float(capacity.cases_per_day)
    zone = ZoneInfo(settings.lab_timezone)
    days = _working_days(_local(first, zone).date(), _local(now, zone).date(), capacity)
    return (capacity.cases_per_day * PRIOR_DAYS + count) / (PRIOR_DAYS + max(days, 1))


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """A moment (aware, or naive UTC) in the lab's time zone."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)


def answer_time(
    position: float, pace: float, capacity: Capacity, now: datetime, zone: str
) -> datetime:
    """When the ``position``-th case from now is answered at ``pace`` answers per working day,
    spread evenly over the working hours (UTC)."""
    lab = ZoneInfo(zone)
    hours = position / pace * capacity.hours_per_day
    moment = _local(now, lab)
    for _ in range(HORIZON_DAYS):
        day = moment.date()
        start = datetime.combine(day, capacity.day_start, lab)
        end = datetime.combine(day, capacity.day_end, lab)
        if day.isoweekday() in capacity.work_days and moment < end:
            begin = max(moment, start)
            available = (end - begin).total_seconds() / 3600
            if hours <= available:
                return (begin + timedelta(hours=hours)).astimezone(UTC)
            hours -= available
        moment = datetime.combine(day + timedelta(days=1), capacity.day_start, lab)
    return _local(now, lab).astimezone(UTC) + timedelta(days=HORIZON_DAYS)


def walk_start(
    session: Session,
    *,
    capacity: Capacity,
    settings: ApiSettings,
    pace: float,
    now: datetime,
    oldest: datetime | None,
) -> datetime:
    """Where the wait's walk starts: ``now``, or the end of today's working hours when the lab
    has been silent while cases waited (module doc); ``oldest``: when the oldest waiting case
    was opened (None: none waits)."""
    lab = ZoneInfo(settings.lab_timezone)
    local = _local(now, lab)
    opens = datetime.combine(local.date(), capacity.day_start, lab)
    closes = datetime.combine(local.date(), capacity.day_end, lab)
    if local.isoweekday() not in capacity.work_days or not opens <= local < closes or not oldest:
        return now
    decided = session.scalar(select(func.max(CaseDecision.created_at)))
    expires = session.scalar(
        select(func.max(Case.claim_expires_at)).where(Case.status == CaseStatus.CLAIMED)
    )
    claimed = expires - timedelta(minutes=settings.claim_timeout_minutes) if expires else None
    since = max([opens] + [_local(m, lab) for m in (oldest, decided, claimed) if m is not None])
    silent_hours = (local - since).total_seconds() / 3600
    return closes if silent_hours >= SILENCE_ANSWERS * capacity.hours_per_day / pace else now


@dataclass(frozen=True)
class LabPace:
    """What every wait of one moment shares: the lab's capacity, its pace in answers per
    working day, and where the walk starts; read once for all the cases of a request."""

    now: datetime
    capacity: Capacity
    pace: float
    start: datetime


def lab_pace(session: Session, *, settings: ApiSettings, now: datetime) -> LabPace:
    capacity = current_capacity(session, settings=settings)
    waiting, oldest = _pending(session)  # one query for the pace and the walk's start
    pace = daily_pace(session, capacity=capacity, settings=settings, now=now, waiting=waiting)
    start = walk_start(
        session, capacity=capacity, settings=settings, pace=pace, now=now, oldest=oldest
    )
    return LabPace(now, capacity, pace, start)


def expected_wait(
    session: Session,
    *,
    tier: int,
    settings: ApiSettings,
    case: Case | None = None,
    now: datetime | None = None,
    lab: LabPace | None = None,
) -> Wait:
    """The wait of ``case`` (still waiting), or of a new case of ``tier`` opened now; ``lab``:
    the lab's pace at ``now``, when the caller has read it already for other cases."""
    now = lab.now if lab else (now or utcnow())
    ahead = select(func.count()).where(Case.status.in_(PENDING))
    if case is None:
        ahead = ahead.where(Case.tier <= tier)
    else:
        ahead = ahead.where(Case.id != case.id, ahead_of(case, settings.queue_order))
    position = (session.scalar(ahead) or 0) + 1
    lab = lab or lab_pace(session, settings=settings, now=now)
    at = answer_time(position - 0.5, lab.pace, lab.capacity, lab.start, settings.lab_timezone)
    return Wait(at, round((at - now).total_seconds() / 3600, 1), position, lab.pace)
