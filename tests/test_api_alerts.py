"""The staff's alerts: both rules fire on a hand-built fixture and not at their thresholds, the
Atom feed, the JSON and the surveillance page list the same alerts, and only staff get them
(by token or by a feed key that stops working once revoked)."""

import re
from datetime import date, timedelta
from xml.etree import ElementTree

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models import Role, User, WatchedLabel, WatchKind
from api.services import feedkeys
from api.services.alerts import AlertKind, alerts
from api.settings import ApiSettings
from model.catalog import Catalog
from model.result import Decision
from tests.api_support import PASSWORD, Seeder, bearer
from tests.surveillance_support import FIRST_WEEK, answered_case, identification_row

ATOM = "{http://www.w3.org/2005/Atom}"
WATCHED, OTHER = "apple.scab", "apple.black_rot"
SURGING, QUIET, SUDDEN = "potato.late_blight", "corn.common_rust", "invertebrate.armyworm"
HEALTHY = "apple.healthy"


def _at(row: int, column: int) -> tuple[float, float]:
    """A point inside base cell (row, column) of the 0.1-degree grid."""
    return round((row + 0.37) * 0.1, 6), round((column + 0.61) * 0.1, 6)


POINTS = {_at(*cell) for cell in ((463, -713), (465, -713), (467, -713), (469, -713))}


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
    minimum), SUDDEN 10 out of nothing (alert), healthy leaves 12 out of nothing (no organism: no
    alert)."""
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
    fixture.shared(HEALTHY, 2, (463, -723), 12)
    session.commit()


def test_both_rules_fire_above_their_threshold_and_not_at_it(
    db: Session, seed: Seeder, api_settings: ApiSettings, catalog: Catalog
) -> None:
    _seed(db, seed)
    found = alerts(db, settings=api_settings, catalog=catalog)
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


def _page_ids(client: TestClient, user: User) -> list[str]:
    signed_in = client.post("/lab/sign-in", data={"username": user.username, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    page = client.get("/lab/surveillance")
    assert page.status_code == 200
    return re.findall(r'class="alert alert-\w+" data-id="([^"]+)"', page.text)


def test_the_feed_the_json_and_the_page_list_the_same_alerts_for_staff_only(
    client: TestClient, db: Session, seed: Seeder
) -> None:
    _seed(db, seed)
    specialist, admin = seed.user(Role.SPECIALIST), seed.user(Role.ADMIN)
    listed = client.get("/v1/alerts", headers=bearer(client, specialist))
    assert listed.status_code == 200
    body = listed.json()["alerts"]
    assert len(body) == 4
    made = client.post("/v1/alerts/feed-key", headers=bearer(client, specialist))
    assert made.status_code == 201
    key, url = made.json()["key"], made.json()["feed_url"]
    assert url.endswith(f"/v1/alerts/feed?key={key}")
    feed = client.get("/v1/alerts/feed", params={"key": key})
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(feed.content)
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{name}") is not None
    assert key not in feed.text  # the feed's own link is the URL without the key
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [a["id"] for a in body]
    assert [e.findtext(f"{ATOM}title") for e in entries] == [a["title"] for a in body]
    for entry in entries:
        assert entry.findtext(f"{ATOM}updated")
        assert "/lab/surveillance?label=" in entry.find(f"{ATOM}link").get("href", "")
    assert _page_ids(client, specialist) == [a["id"] for a in body]
    assert client.get("/v1/alerts", headers=bearer(client, admin)).json()["alerts"] == body
    # nothing but cells and weeks: no user, no point
    text = listed.text + feed.text
    growers = db.scalars(select(User.username).where(User.role == Role.GROWER))
    assert not any(username in text for username in growers)
    numbers = {float(n) for n in re.findall(r"-?\d+\.\d+", text)}
    assert not numbers & {c for point in POINTS for c in point}


def test_growers_citizens_unknown_and_revoked_keys_are_refused(
    client: TestClient, db: Session, seed: Seeder
) -> None:
    for role in (Role.GROWER, Role.CITIZEN):
        user = seed.user(role)
        headers = bearer(client, user)
        assert client.get("/v1/alerts", headers=headers).status_code == 403
        assert client.get("/v1/alerts/feed", headers=headers).status_code == 403
        assert client.post("/v1/alerts/feed-key", headers=headers).status_code == 403
        # a key of theirs (as if made while they were staff) opens nothing either
        key = feedkeys.make_key(db, user=user)
        assert client.get("/v1/alerts/feed", params={"key": key}).status_code == 403
    assert client.get("/v1/alerts/feed").status_code == 401
    assert client.get("/v1/alerts/feed", params={"key": "not-a-key"}).status_code == 401
    specialist = seed.user(Role.SPECIALIST)
    headers = bearer(client, specialist)
    first = client.post("/v1/alerts/feed-key", headers=headers).json()["key"]
    second = client.post("/v1/alerts/feed-key", headers=headers).json()["key"]
    assert client.get("/v1/alerts/feed", params={"key": first}).status_code == 401  # replaced
    assert client.get("/v1/alerts", params={"key": second}).status_code == 200
    assert client.delete("/v1/alerts/feed-key", headers=headers).status_code == 204
    assert client.get("/v1/alerts/feed", params={"key": second}).status_code == 401
    assert client.delete("/v1/alerts/feed-key", headers=headers).status_code == 404
