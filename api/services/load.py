"""The lab's load, as the specialists and Prometheus see it: the queue by tier, the answers of
the day against the capacity, the time to answer, and the share of identifications routed to a
specialist each day of the last week (``model.routing`` decides which).

Read from the database on each look, so that every process and every face (the queue page,
``/metrics``) shows the same figures.
"""

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.models import Case, CaseDecision, CaseStatus, Identification, utcnow
from api.services.capacity import current_capacity, daily_pace
from api.services.queue import PENDING
from api.settings import ApiSettings

# Decisions that answer a case (a request for photos gives it back to the user instead).
_ANSWERS = ("confirm", "correct", "answer")
WEEK = 7


@dataclass(frozen=True)
class Day:
    day: date
    identifications: int
    cases: int

    @property
    def routed(self) -> float:
        return self.cases / self.identifications if self.identifications else 0.0


@dataclass(frozen=True)
class Load:
    waiting_by_tier: dict[int, int]
    answered_today: int
    capacity: int  # cases per working day, as the lab set it
    pace: float  # answers per working day, the capacity blended with the real pace
    median_hours_to_answer: float | None  # cases answered over the last week
    days: list[Day]  # the last week, oldest first

    @property
    def waiting(self) -> int:
        return sum(self.waiting_by_tier.values())

    @property
    def routed_week(self) -> float:
        identifications = sum(day.identifications for day in self.days)
        return sum(day.cases for day in self.days) / identifications if identifications else 0.0


def lab_load(session: Session, *, settings: ApiSettings, now: datetime | None = None) -> Load:
    now = now or utcnow()
    zone = ZoneInfo(settings.lab_timezone)
    today = now.astimezone(zone).date()
    midnight = datetime.combine(today, datetime.min.time(), zone)
    waiting = dict(
        session.execute(
            select(Case.tier, func.count()).where(Case.status.in_(PENDING)).group_by(Case.tier)
        ).all()
    )
    answered_today = session.scalar(
        select(func.count()).where(
            CaseDecision.action.in_(_ANSWERS), CaseDecision.created_at >= midnight
        )
    )
    week_ago = midnight - timedelta(days=WEEK - 1)
    answered = session.execute(
        select(Case.opened_at, Case.answered_at).where(
            Case.status == CaseStatus.ANSWERED, Case.answered_at >= week_ago
        )
    ).all()
    hours = [(done - opened).total_seconds() / 3600 for opened, done in answered if done]
    capacity = current_capacity(session, settings=settings)
    return Load(
        waiting_by_tier={int(tier): int(count) for tier, count in waiting.items()},
        answered_today=answered_today or 0,
        capacity=capacity.cases_per_day,
        pace=daily_pace(session, capacity=capacity, settings=settings, now=now),
        median_hours_to_answer=round(statistics.median(hours), 1) if hours else None,
        days=_days(session, week_ago, today, zone),
    )


def _days(session: Session, since: datetime, today: date, zone: ZoneInfo) -> list[Day]:
    """Identifications and the cases opened with them (the model's or the user's), by day."""
    rows = session.execute(
        select(Identification.created_at, Case.id)
        .outerjoin(Case, Case.identification_id == Identification.id)
        .where(Identification.created_at >= since)
    ).all()
    counts: dict[date, list[int]] = {
        today - timedelta(days=n): [0, 0] for n in range(WEEK - 1, -1, -1)
    }
    for created, case_id in rows:
        day = created.astimezone(zone).date()
        if day in counts:
            counts[day][0] += 1
            counts[day][1] += case_id is not None
    return [Day(day, total, cases) for day, (total, cases) in counts.items()]
