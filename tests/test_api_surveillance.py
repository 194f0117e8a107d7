"""Surveillance: one aggregation, suppression applied once. The acceptance fixture (500
observations, 40 cells, 6 weeks) checked cell-week by cell-week, every pair of allowed queries
tried against it, and the endpoint's answer free of exact locations."""

import itertools
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from api.models import Case, Identification, Role
from api.services.surveillance import (
    Filters,
    Source,
    parse_week,
    selected,
    shown_cells,
    totals,
    week_name,
    weekly,
)
from api.settings import ApiSettings
from model.catalog import Catalog
from model.result import Decision
from tests.api_support import Seeder, bearer
from tests.surveillance_support import (
    FIRST_WEEK,
    ONE_USER,
    TOO_FEW,
    WEEKS,
    observations,
    seed_surveillance,
)

Key = tuple[str, Source, date, int, int]


def _shown(session: Session, settings: ApiSettings) -> dict[Key, int]:
    return {
        (c.label, c.source, c.week, c.row, c.column): c.count
        for c in shown_cells(session, settings=settings)
    }


def test_the_fixture_shows_cell_weeks_of_three_observations_from_two_people_only(
    db: Session, api_settings: ApiSettings
) -> None:
    fixture = seed_surveillance(db)
    assert observations() == 500
    assert len({(p.cell) for p in (*TOO_FEW, *ONE_USER)} | {0, 1, 2, 3, 4, 5, 6, 7, 8}) == 40
    shown = _shown(db, api_settings)
    assert shown == fixture.shown and len(shown) >= 10
    too_few = {p.key for p in TOO_FEW}
    one_user = {p.key for p in ONE_USER}
    assert len(too_few) >= 5 and all(fixture.suppressed[key] < 3 for key in too_few)
    assert len(one_user) >= 3 and all(fixture.suppressed[key] >= 3 for key in one_user)
    assert not (too_few | one_user) & shown.keys()


def _queries() -> Iterator[tuple[Filters, int, bool]]:
    """Every query the faces allow on the fixture, one dimension crossed with another: labels,
    groups and categories with each source, every whole-week range, two cell sizes, by week
    (the map's features, the trend plots) or over the range (the page's map)."""
    labels = [None, *sorted({p.label for p in (*TOO_FEW, *ONE_USER)}), "apple.healthy"]
    weeks = [FIRST_WEEK + timedelta(weeks=i) for i in range(WEEKS)]
    ranges = [(None, None), *((a, b) for a, b in itertools.product(weeks, weeks) if a <= b)]
    sources = [None, Source.CONFIRMED, Source.MODEL]
    for label, source, (first, last) in itertools.product(labels, sources, ranges):
        yield Filters(label=label, source=source, first_week=first, last_week=last), 1, True
    for group, category, source in itertools.product(
        [None, "blights", "leaf_spots", "caterpillars"], [None, "disease", "insect"], sources
    ):
        for multiple, by_week in itertools.product((1, 2, 5), (True, False)):
            yield Filters(group=group, category=category, source=source), multiple, by_week


def _answers(
    session: Session, settings: ApiSettings, catalog: Catalog
) -> list[dict[tuple[str, str, float, float], int]]:
    cells = shown_cells(session, settings=settings)
    answers = []
    for filters, multiple, by_week in _queries():
        kept = selected(cells, filters, catalog)
        answer = {
            (label, week_name(week) if week else "", square.south, square.west): count
            for label, week, square, count in totals(
                kept, multiple=multiple, settings=settings, by_week=by_week
            )
        }
        answer.update(
            {
                (label, week_name(week), 0.0, 0.0): n
                for label, s in weekly(kept).items()
                for week, n in s.items()
            }
        )
        answer[("", "", 0.0, 0.0)] = sum(cell.count for cell in kept)  # the total
        answers.append(answer)
    return answers


def test_no_pair_of_allowed_queries_gives_back_a_suppressed_count(
    sqlite_engine: Engine, tmp_path: Path, catalog: Catalog
) -> None:
    """Every answer, and so every difference of two, is the same with and without the
    suppressed observations: none of them can be read back from any pair (one database: the
    aggregation's SQL is one plain query, run on both by the other tests)."""
    settings = ApiSettings(
        home=tmp_path,
        database_url=sqlite_engine.url.render_as_string(hide_password=False),
        secret_key="test secret key, not for production use",
    )
    with Session(sqlite_engine) as session:
        fixture = seed_surveillance(session)
        full = _answers(session, settings, catalog)
        session.execute(delete(Case).where(Case.identification_id.in_(fixture.suppressed_ids)))
        session.execute(delete(Identification).where(Identification.id.in_(fixture.suppressed_ids)))
        session.commit()
        assert _shown(session, settings) == fixture.shown
        without = _answers(session, settings, catalog)
    assert len(full) > 400
    assert full == without
    pairs = 0
    for (a, a_without), (b, b_without) in itertools.combinations(
        zip(full, without, strict=True), 2
    ):
        for key in a.keys() | b.keys():
            difference = a.get(key, 0) - b.get(key, 0)
            assert difference == a_without.get(key, 0) - b_without.get(key, 0)
        pairs += 1
    assert pairs == len(full) * (len(full) - 1) // 2


def test_the_endpoint_publishes_cells_and_counts_never_a_place_or_a_suppressed_count(
    client: TestClient, db: Session, api_settings: ApiSettings, seed: Seeder
) -> None:
    fixture = seed_surveillance(db)
    headers = bearer(client, seed.user(Role.CITIZEN))
    answer = client.get("/v1/surveillance", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/geo+json"
    body = answer.json()
    assert "suppressed_cells" not in json.dumps(body)
    assert sum(f["properties"]["count"] for f in body["features"]) == sum(fixture.shown.values())
    first = body["features"][0]["properties"]
    assert set(first) == {"label", "names", "group", "category", "week", "count"}
    assert first["names"]["fr"] and first["names"]["en"]
    for feature in body["features"]:
        for longitude, latitude in feature["geometry"]["coordinates"][0]:
            assert abs(latitude * 10 - round(latitude * 10)) < 1e-6
            assert abs(longitude * 10 - round(longitude * 10)) < 1e-6
    text = answer.text
    numbers = {float(n) for n in re.findall(r"-?\d+\.\d+", text)}
    assert not numbers & {c for point in fixture.points for c in point}
    coarse = client.get(
        "/v1/surveillance?cell=0.2&source=model&label=potato.late_blight"
        "&from_week=2026-W23&to_week=2026-W23",
        headers=headers,
    ).json()["features"]
    # cell 0's 40 shown; cell 1's 2 suppressed ones, in the same 0.2 cell, add nothing
    assert [f["properties"]["count"] for f in coarse] == [40]


@pytest.mark.parametrize(
    "query",
    [
        "from_week=2026-06-01T10:00",
        "to_week=2026-W54x",
        "cell=0.05",
        "cell=0.15",
        "source=grower",
    ],
)
def test_instants_finer_cells_and_unknown_sources_are_refused(
    client: TestClient, seed: Seeder, query: str
) -> None:
    headers = bearer(client, seed.user(Role.GROWER))
    assert client.get(f"/v1/surveillance?{query}", headers=headers).status_code == 422


def test_a_grower_three_photos_are_never_shown_and_only_shared_or_confirmed_count(
    client: TestClient, seed: Seeder, api_settings: ApiSettings
) -> None:
    grower, neighbour = seed.user(Role.GROWER), seed.user(Role.GROWER)
    field = (46.8123, -71.2456)
    rows = [
        seed.identification(grower, "potato.late_blight", 0.97, Decision.ACCEPTED, location=field)
        for _ in range(3)
    ]
    for row in rows:
        row.shared = True
    seed.session.commit()
    headers = bearer(client, grower)
    assert client.get("/v1/surveillance", headers=headers).json()["features"] == []
    other = seed.identification(
        neighbour, "potato.late_blight", 0.97, Decision.ACCEPTED, location=(46.85, -71.21)
    )
    assert client.get("/v1/surveillance", headers=headers).json()["features"] == []  # unshared
    other.shared = True
    seed.session.commit()
    features = client.get("/v1/surveillance", headers=headers).json()["features"]
    assert [f["properties"]["count"] for f in features] == [4]


def test_week_53_of_a_52_week_year_reads_as_the_week_after_its_week_52() -> None:
    # the documented pattern admits W53 for every year: a schema-valid bound is never refused
    assert parse_week("2026-W53") == parse_week("2026-W52") + timedelta(weeks=1)
    assert parse_week("2020-W53") == date(2020, 12, 28)  # 2020 has a week 53
    assert parse_week("9999-W53") == parse_week("9999-W52")  # the calendar's end
