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
- **pace**: answers per working day, the capacity blended with the decisions of the last
  ``pace_window_days`` over the working time when cases waited then (the union of the cases'
  stays in the queue, working hours only): ``(capacity * PRIOR_DAYS + decisions) / (PRIOR_DAYS
  + busy working days)``, so that a few days of real pace move it and one odd day, or a burst
  of seven decisions in a minute, does not. Hours when nothing waited measure the demand, not
  the specialists, and count not (before, whole working days counted, and only while a day's
  capacity waited: in a week replayed at 100 a day, the idle hours of Monday slowed the pace
  enough that cases opened on Thursday afternoon were promised Monday and answered Friday).
- **the work in hand**: the cases specialists hold (claimed, the claim not expired) are being
  answered; ``n`` held at once take ``n`` answers' time each from their claim, so what is left
  of them is ``sum(max(0, n - time since the claim / one answer's time)) / n`` answers. A case
  waits for that, the waiting cases ahead of it, and its own answer; a case held waits for the
  work in hand only. (Before, every wait counted half an answer for whatever was in hand: a
  new case reaching an idle lab was promised half the time its answer takes.)
- **time**: the answers at that pace spread evenly over the working hours, walked forward from
  now through the working days: nights, weekends and the lab's **days off** (holidays, planned
  absences, entered by an admin as dates) pass without answers.
- **a silent lab**: when, within today's working hours, cases have waited and no specialist has
  claimed or decided anything for the time ``SILENCE_ANSWERS`` answers take at the pace (a gap
  that answers given at that pace leave about once in fifty, e^-4), the lab is taken to be away
  for the rest of the day (an absence nobody entered as a day off): the walk starts at the end
  of today's working hours, not now; the next claim or decision ends it. Measured (on the
  bench's earlier specialists, who answered on a fixed grid): with one working day of the
  replayed week where nobody answered, the waits shown that day promised an answer within
  minutes to cases then answered three days later; with the rule, 77% of the cases at 100 a day
  and 70% at 200 were shown a wait within 30% of the real one, against 73% and 64%.

The wait is shown before the user asks (``Wait`` of a new case of their tier) and on each waiting
case, in words and as a date (``model.wording.expected_answer``).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from api.errors import InvalidInput
from api.models import Case, CaseDecision, CaseStatus, LabCapacity, User, utcnow
from api.services.queue import PENDING, ahead_of, claimable
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
    # Dates nobody answers though their weekday is worked: holidays, a planned absence.
    days_off: frozenset[date] = frozenset()

    def works_on(self, day: date) -> bool:
        """Whether the specialists answer on ``day`` (its weekday is worked, and it is no day
        off): the one test every walk through the working days makes."""
        return day.isoweekday() in self.work_days and day not in self.days_off

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


def _day(text: str | date) -> date:
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            {
                "fr": f"date invalide : {text!r} (AAAA-MM-JJ)",
                "en": f"invalid date: {text!r} (YYYY-MM-DD)",
            }
        ) from None


def make_capacity(
    cases_per_day: int,
    day_start: str,
    day_end: str,
    work_days: list[int],
    days_off: Iterable[str | date] = (),
) -> Capacity:
    """A capacity from its settings, checked: what cannot describe a working week is refused."""
    start, end = _clock(day_start), _clock(day_end)
    off = frozenset(_day(day) for day in days_off)
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
    return Capacity(cases_per_day, start, end, days, off)


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
    days_off = row.days_off.split(",") if row.days_off else []
    return make_capacity(row.cases_per_day, row.day_start, row.day_end, days, days_off)


def set_capacity(
    session: Session,
    *,
    admin: User,
    cases_per_day: int,
    day_start: str,
    day_end: str,
    work_days: list[int],
    days_off: Iterable[str | date] = (),
) -> Capacity:
    """Set the lab's capacity (admins; the route checks the role): it takes effect at once."""
    capacity = make_capacity(cases_per_day, day_start, day_end, work_days, days_off)
    row = session.get(LabCapacity, 1) or LabCapacity(id=1)
    row.cases_per_day = capacity.cases_per_day
    row.day_start, row.day_end = day_start, day_end
    row.work_days = ",".join(str(day) for day in sorted(capacity.work_days))
    row.days_off = ",".join(day.isoformat() for day in sorted(capacity.days_off))
    row.set_by, row.set_at = admin.id, utcnow()
    session.add(row)
    session.commit()
    log.info("capacity set by admin %d: %s", admin.id, capacity)
    return capacity


def working_hours(start: datetime, end: datetime, capacity: Capacity, zone: ZoneInfo) -> float:
    """The lab's working hours between two moments (its days off and nights left out)."""
    start, end = _local(start, zone), _local(end, zone)
    hours, day = 0.0, start.date()
    while day <= end.date():
        if capacity.works_on(day):
            opens = datetime.combine(day, capacity.day_start, zone)
            closes = datetime.combine(day, capacity.day_end, zone)
            hours += max(0.0, (min(end, closes) - max(start, opens)).total_seconds() / 3600)
        day += timedelta(days=1)
    return hours


def _busy_days(
    session: Session, *, capacity: Capacity, zone: ZoneInfo, since: datetime, now: datetime
) -> float:
    """The working time since ``since`` when at least one case waited on the lab, in working
    days: the union of the cases' stays in the queue (from opening to answer; a case that left
    the queue otherwise, to its last change), working hours only."""
    left = func.coalesce(Case.answered_at, Case.updated_at)
    stays = session.execute(
        select(Case.opened_at, Case.status, left).where(
            Case.opened_at < now, or_(Case.status.in_(PENDING), left > since)
        )
    ).all()
    spans = sorted(
        (max(_local(opened, UTC), since), now if status in PENDING else _local(out, UTC))
        for opened, status, out in stays
    )
    merged: list[list[datetime]] = []  # overlapping stays joined: [first in, last out]
    for first, last in spans:
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    hours = sum(working_hours(first, last, capacity, zone) for first, last in merged)
    return hours / capacity.hours_per_day


def _oldest_waiting(session: Session) -> datetime | None:
    """When the oldest case waiting for the lab was opened (None: none waits)."""
    return session.scalar(select(func.min(Case.opened_at)).where(Case.status.in_(PENDING)))


def daily_pace(
    session: Session, *, capacity: Capacity, settings: ApiSettings, now: datetime
) -> float:
    """Answers per working day: the capacity blended with the decisions of the last
    ``pace_window_days`` over the working time cases waited then (module doc)."""
    since = _local(now, UTC) - timedelta(days=settings.pace_window_days)
    count = session.scalar(select(func.count()).where(CaseDecision.created_at > since)) or 0
    if not count:
        return float(capacity.cases_per_day)
    zone = ZoneInfo(settings.lab_timezone)
    busy = _busy_days(session, capacity=capacity, zone=zone, since=since, now=_local(now, UTC))
    return (capacity.cases_per_day * PRIOR_DAYS + count) / (PRIOR_DAYS + busy)


def _local(moment: datetime, zone: tzinfo) -> datetime:
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
        if capacity.works_on(day) and moment < end:
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
    last_claim: datetime | None,
) -> datetime:
    """Where the wait's walk starts: ``now``, or the end of today's working hours when the lab
    has been silent while cases waited (module doc); ``oldest``: when the oldest waiting case
    was opened (None: none waits)."""
    lab = ZoneInfo(settings.lab_timezone)
    local = _local(now, lab)
    opens = datetime.combine(local.date(), capacity.day_start, lab)
    closes = datetime.combine(local.date(), capacity.day_end, lab)
    if not capacity.works_on(local.date()) or not opens <= local < closes or not oldest:
        return now
    decided = session.scalar(select(func.max(CaseDecision.created_at)))
    since = max([opens] + [_local(m, lab) for m in (oldest, decided, last_claim) if m is not None])
    silent_hours = (local - since).total_seconds() / 3600
    return closes if silent_hours >= SILENCE_ANSWERS * capacity.hours_per_day / pace else now


def _claims(session: Session, *, settings: ApiSettings) -> list[datetime]:
    """When each claimed case was claimed, its claim expired or not (the claim's expiry less
    the claim timeout)."""
    timeout = timedelta(minutes=settings.claim_timeout_minutes)
    expiries = session.scalars(
        select(Case.claim_expires_at).where(Case.status == CaseStatus.CLAIMED)
    ).all()
    return [_local(expiry, UTC) - timeout for expiry in expiries if expiry is not None]


def _in_hand(
    claims: list[datetime], *, capacity: Capacity, settings: ApiSettings, pace: float, now: datetime
) -> tuple[int, float]:
    """The cases the specialists hold (claimed within the claim timeout), and the answers'
    worth of work left on them (module doc): ``n`` held at once take ``n`` answers' time each,
    from their claim."""
    timeout = timedelta(minutes=settings.claim_timeout_minutes)
    now = _local(now, UTC)
    elapsed = [now - claimed for claimed in claims if claimed + timeout > now]
    if not elapsed:
        return 0, 0.0
    held, answer = len(elapsed), timedelta(hours=capacity.hours_per_day / pace)
    return held, sum(max(0.0, held - spent / answer) for spent in elapsed) / held


@dataclass(frozen=True)
class LabPace:
    """What every wait of one moment shares: the lab's capacity, its pace in answers per
    working day, where the walk starts, and the work in hand (cases held, answers' worth left);
    read once for all the cases of a request."""

    now: datetime
    capacity: Capacity
    pace: float
    start: datetime
    held: int
    in_hand: float


def lab_pace(session: Session, *, settings: ApiSettings, now: datetime) -> LabPace:
    capacity = current_capacity(session, settings=settings)
    oldest = _oldest_waiting(session)
    pace = daily_pace(session, capacity=capacity, settings=settings, now=now)
    claims = _claims(session, settings=settings)  # one query for the walk's start and the hand
    start = walk_start(
        session,
        capacity=capacity,
        settings=settings,
        pace=pace,
        now=now,
        oldest=oldest,
        last_claim=max(claims, default=None),
    )
    held, work = _in_hand(claims, capacity=capacity, settings=settings, pace=pace, now=now)
    return LabPace(now, capacity, pace, start, held, work)


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
    lab = lab or lab_pace(session, settings=settings, now=now)
    if case is not None and case.status_at(now) == CaseStatus.CLAIMED:
        # in hand: answered when the work in hand is done
        position, work = lab.held, lab.in_hand
    else:
        ahead = select(func.count()).where(claimable(now))
        if case is None:
            ahead = ahead.where(Case.tier <= tier)
        else:
            ahead = ahead.where(Case.id != case.id, ahead_of(case, settings.queue_order))
        waiting = session.scalar(ahead) or 0
        position, work = waiting + lab.held + 1, waiting + lab.in_hand + 1
    at = answer_time(work, lab.pace, lab.capacity, lab.start, settings.lab_timezone)
    return Wait(at, round((at - now).total_seconds() / 3600, 1), position, lab.pace)
