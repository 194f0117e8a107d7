"""The staff's alerts: both rules fire on a hand-built fixture and not at their thresholds."""

from datetime import date, timedelta

from sqlalchemy.orm import Session

from api.models import Role, WatchedLabel, WatchKind
from api.services.alerts import AlertKind, alerts
from api.settings import ApiSettings
from model.result import Decision
from tests.api_support import Seeder
from tests.surveillance_support import FIRST_WEEK, answered_case, identification_row

WATCHED, OTHER = "apple.scab", "apple.black_rot"
SURGING, QUIET, SUDDEN = "potato.late_blight", "corn.common_rust", "invertebrate.armyworm"


def _at(row: int, column: int) -> tuple[float, float]:
    """A point inside base cell (row, column) of the 0.1-degree grid."""
    return round((row + 0.37) * 0.1, 6), round((column + 0.61) * 0.1, 6)


def _week(index: int) -> date:
    return FIRST_WEEK + timedelta(weeks=index)


class Fixture:
    """Observations written straight into the database, as the surveillance tests do."""

    def __init__(self, session: Session, seed: Seeder) -> None:
        self.session, self.n = session, 0
        self.growers = [seed.user(Role.GROWER) for _ in range(2)]
        admin = seed.user(Role.ADMIN)
        session.add(WatchedLabel(label=WATCHED, kind=WatchKind.WATCHED, set_by=admin.id))

    def shared(self, label: str, week: int, cell: tuple[int, int], count: int) -> None:
        """``count`` shared accepted answers, from two growers in turn."""
        for _ in range(count):
            self.n += 1
            self.session.add(
                identification_row(
                    self.growers[self.n % 2], label, week=week, point=_at(*cell), n=self.n
                )
            )

    def confirmed(self, label: str, week: int, cell: tuple[int, int]) -> None:
        """A case a specialist answered with ``label`` (the model had said another, unsure)."""
        self.n += 1
        row = identification_row(
            self.growers[self.n % 2],
            OTHER,
            week=week,
            point=_at(*cell),
            n=self.n,
            shared=False,
            decision=Decision.NEEDS_SPECIALIST,
        )
        self.session.add(answered_case(row, label))


def _seed(session: Session, seed: Seeder) -> None:
    """Rule 1 (26 weeks by default): cell A seen 26 weeks before its confirmation (no alert),
    cell B 27 weeks before (alert), cell C never (alert, 2 cases), then again a week later (no
    alert: seen); an unwatched label confirmed in a new cell (no alert).
    Rule 2 (8 weeks, 3 sd, at least 10): SURGING at 9 a week (under the minimum) for 8 weeks,
    then 18 (mean 9 + 3 * sqrt(9): at the threshold, not above) with 2 more in a cell of their
    own (suppressed: never counted), then 20 (above 19.67); QUIET 9 out of nothing (under the
    minimum), SUDDEN 10 out of nothing (alert)."""
    fixture = Fixture(session, seed)
    a, b, c, elsewhere = (463, -713), (465, -713), (467, -713), (469, -713)
    fixture.shared(WATCHED, 0, a, 1)
    fixture.confirmed(WATCHED, 26, a)
    fixture.shared(WATCHED, 0, b, 1)
    fixture.confirmed(WATCHED, 27, b)
    fixture.confirmed(WATCHED, 3, c)
    fixture.confirmed(WATCHED, 3, c)
    fixture.confirmed(WATCHED, 4, c)
    fixture.confirmed(OTHER, 3, elsewhere)
    for week in range(8):
        fixture.shared(SURGING, week, (460, -720), 9)
    fixture.shared(SURGING, 8, (460, -720), 18)
    fixture.shared(SURGING, 8, (470, -730), 2)
    fixture.shared(SURGING, 9, (460, -720), 20)
    fixture.shared(QUIET, 2, (461, -721), 9)
    fixture.shared(SUDDEN, 2, (462, -722), 10)
    session.commit()


def test_both_rules_fire_above_their_threshold_and_not_at_it(
    db: Session, seed: Seeder, api_settings: ApiSettings
) -> None:
    _seed(db, seed)
    found = alerts(db, settings=api_settings)
    new = {
        (a.label, a.week, a.cell.centre if a.cell else None, a.count)
        for a in found
        if a.kind == AlertKind.NEW_IN_CELL
    }
    assert new == {
        (WATCHED, _week(27), (46.55, -71.25), 1),
        (WATCHED, _week(3), (46.75, -71.25), 2),
    }
    surges = {(a.label, a.week, a.count, a.threshold) for a in found if a.kind == AlertKind.SURGE}
    assert surges == {(SURGING, _week(9), 20, 19.67), (SUDDEN, _week(2), 10, 0.0)}
    assert [a.week for a in found] == sorted((a.week for a in found), reverse=True)
