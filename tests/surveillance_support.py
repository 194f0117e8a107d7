"""The surveillance acceptance fixture: 500 observations over 40 cells and 6 weeks.

Written straight into the database (no photos: the aggregation reads rows only). Each planned
cell-week is a label, a source, a week, a cell and the users of its observations, one user per
observation; the fixture keeps which ones the rule must show and which it must suppress, and
adds identifications that must never count (unshared, doubtful, answered without a label).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from api.models import Case, CaseStatus, Identification, Role, User
from api.services.surveillance import Source
from model.result import Decision

FIRST_WEEK = date(2026, 6, 1)  # a Monday: ISO week 2026-W23
WEEKS = 6
CELL = 0.1


def cell_of(index: int) -> tuple[int, int]:
    """Base cell (row, column) of the fixture's cell ``index`` (0 to 39): pairs of neighbours
    (2k, 2k+1) share one 0.2-degree cell, so that coarse cells are tried against fine ones."""
    return 452 + 4 * (index // 10) + index % 2, -745 + 5 * ((index % 10) // 2)


@dataclass(frozen=True)
class Planned:
    label: str
    source: Source
    week: int  # 0 to 5
    cell: int  # 0 to 39
    users: tuple[int, ...]  # the user of each observation (indices)

    @property
    def key(self) -> tuple[str, Source, date, int, int]:
        return (
            self.label,
            self.source,
            FIRST_WEEK + timedelta(weeks=self.week),
            *cell_of(self.cell),
        )


def _many(count: int, people: int, start: int = 0) -> tuple[int, ...]:
    return tuple(start + i % people for i in range(count))


BLIGHT, SCAB, RUST, ARMYWORM, HEALTHY = (
    "potato.late_blight",
    "apple.scab",
    "corn.common_rust",
    "invertebrate.armyworm",
    "apple.healthy",
)
M, C = Source.MODEL, Source.CONFIRMED

SHOWN = (
    Planned(BLIGHT, M, 0, 0, _many(40, 5)),
    Planned(BLIGHT, M, 1, 0, _many(45, 6)),
    Planned(BLIGHT, M, 2, 1, _many(40, 5, 3)),
    Planned(BLIGHT, C, 2, 1, _many(5, 3, 10)),
    Planned(SCAB, M, 0, 2, _many(38, 4, 6)),
    Planned(SCAB, M, 3, 2, _many(38, 4, 8)),
    Planned(SCAB, C, 4, 3, _many(4, 2, 12)),
    Planned(RUST, M, 1, 4, _many(40, 5, 14)),
    Planned(RUST, M, 5, 5, _many(40, 5, 16)),
    Planned(ARMYWORM, M, 3, 6, _many(40, 5, 18)),
    Planned(ARMYWORM, M, 4, 6, _many(40, 5, 20)),
    Planned(HEALTHY, M, 2, 7, _many(40, 5, 22)),
    Planned(BLIGHT, M, 5, 8, _many(38, 4, 24)),
)
TOO_FEW = (  # fewer than 3 observations
    Planned(BLIGHT, M, 0, 1, (0, 1)),  # beside a shown cell, in the same 0.2 cell
    Planned(BLIGHT, C, 1, 0, (7,)),  # the same cell-week as a shown one, by the other source
    Planned(SCAB, M, 0, 3, (2, 9)),
    Planned(RUST, M, 1, 9, (3, 4)),
    Planned(ARMYWORM, M, 3, 10, (5,)),
    Planned(SCAB, C, 3, 2, (6, 11)),
    *(Planned(RUST, M, i % WEEKS, cell, (i,)) for i, cell in enumerate(range(14, 40))),
    Planned(RUST, M, 0, 14, (29,)),  # cell 14 week 0 holds 2
)
ONE_USER = (  # 3 or more observations, all of one user: the two-user rule
    Planned(BLIGHT, M, 2, 11, (25, 25, 25, 25)),
    Planned(SCAB, M, 4, 12, (26, 26, 26)),
    Planned(RUST, M, 5, 13, (27, 27, 27, 27, 27)),
    Planned(ARMYWORM, C, 4, 6, (28, 28, 28)),
)
USERS = 30


@dataclass
class SurveillanceFixture:
    users: list[User]
    suppressed_ids: list[str] = field(default_factory=list)  # identifications of suppressed ones
    points: list[tuple[float, float]] = field(default_factory=list)  # every exact location

    @property
    def shown(self) -> dict[tuple[str, Source, date, int, int], int]:
        return {planned.key: len(planned.users) for planned in SHOWN}

    @property
    def suppressed(self) -> dict[tuple[str, Source, date, int, int], int]:
        counts: dict[tuple[str, Source, date, int, int], int] = {}
        for planned in (*TOO_FEW, *ONE_USER):
            counts[planned.key] = counts.get(planned.key, 0) + len(planned.users)
        return counts


def _moment(week: int, n: int) -> datetime:
    return datetime.combine(
        FIRST_WEEK + timedelta(weeks=week, days=n % 7), datetime.min.time(), UTC
    ) + timedelta(hours=8 + n % 9, minutes=n % 53)


def _point(cell: int, n: int) -> tuple[float, float]:
    row, column = cell_of(cell)
    return (
        round((row + 0.1371 + 0.7 * (n % 7) / 7) * CELL, 6),
        round((column + 0.2113 + 0.6 * (n % 5) / 5) * CELL, 6),
    )


def identification_row(
    user: User,
    label: str,
    *,
    week: int,
    point: tuple[float, float] | None,
    n: int,
    shared: bool = True,
    decision: Decision = Decision.ACCEPTED,
) -> Identification:
    return Identification(
        user_id=user.id,
        observed_at=_moment(week, n),
        latitude=point[0] if point else None,
        longitude=point[1] if point else None,
        profile="grower",
        language="fr",
        model_version="2026.11.26.1",
        label=label,
        probability=0.97,
        decision=decision,
        result={},
        shared=shared,
    )


def answered_case(identification: Identification, label: str | None) -> Case:
    return Case(
        identification=identification,
        user_id=identification.user_id,
        status=CaseStatus.ANSWERED,
        reason="asked",
        tier=1,
        uncertainty=0.03,
        answered_at=identification.observed_at + timedelta(days=1),
        label=label,
    )


def seed_surveillance(session: Session) -> SurveillanceFixture:
    """The 500 observations and the identifications that must not count, committed."""
    users = [
        User(username=f"farm{i:02d}", password_hash="!", role=Role.GROWER) for i in range(USERS)
    ]
    session.add_all(users)
    session.flush()
    fixture = SurveillanceFixture(users)
    n = 0
    for kept, plans in ((True, SHOWN), (False, TOO_FEW), (False, ONE_USER)):
        for planned in plans:
            for user in planned.users:
                n += 1
                point = _point(planned.cell, n)
                confirmed = planned.source == Source.CONFIRMED
                row = identification_row(
                    users[user],
                    # a confirmed case: the model said something else, unsure, and did not share
                    "apple.black_rot" if confirmed else planned.label,
                    week=planned.week,
                    point=point,
                    n=n,
                    shared=not confirmed,
                    decision=Decision.NEEDS_SPECIALIST if confirmed else Decision.ACCEPTED,
                )
                session.add(answered_case(row, planned.label) if confirmed else row)
                fixture.points.append(point)
                if not kept:
                    session.flush()
                    fixture.suppressed_ids.append(row.id)
    # Never counted: unshared accepted answers that would lift a suppressed cell-week, cases
    # answered without a label, shared but doubtful answers, unlocated ones.
    for i in range(6):
        session.add(
            identification_row(users[i], BLIGHT, week=0, point=_point(1, i), n=i, shared=False)
        )
    for i in range(3):
        row = identification_row(users[i], SCAB, week=0, point=_point(3, i), n=i, shared=False)
        session.add(answered_case(row, None))
    for i in range(3):
        session.add(
            identification_row(
                users[i],
                SCAB,
                week=4,
                point=_point(12, i),
                n=i,
                decision=Decision.NEEDS_SPECIALIST,
            )
        )
    for i in range(3):
        session.add(identification_row(users[i], RUST, week=1, point=None, n=i))
    session.commit()
    return fixture


def observations() -> int:
    """How many observations the fixture plans (the acceptance's 500)."""
    return sum(len(planned.users) for planned in (*SHOWN, *TOO_FEW, *ONE_USER))
