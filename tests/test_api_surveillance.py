"""The surveillance view: settled labels only, grid cells of at least 0.1 degree, small cells
suppressed, no exact location in the answer."""

import json
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from api.models import Role
from api.services import queue
from api.settings import ApiSettings
from model.result import Decision
from tests.api_support import Seeder, bearer

FIELD = (46.8123, -71.2456)  # a farm near Quebec City; cell (468, -713) at 0.1 degree


def _near(offset: float) -> tuple[float, float]:
    return (FIELD[0] + offset, FIELD[1] + offset)


def test_detections_per_label_week_and_cell_with_small_cells_suppressed(
    client: TestClient, seed: Seeder, api_settings: ApiSettings, catalog
) -> None:
    grower = seed.user(Role.GROWER)
    specialist = seed.user(Role.SPECIALIST)
    for i in range(3):  # three accepted detections in one cell: shown
        seed.identification(
            grower, "potato.late_blight", 0.97, Decision.ACCEPTED, location=_near(i * 0.01)
        )
    for i in range(2):  # two in another cell: suppressed
        seed.identification(
            grower,
            "potato.late_blight",
            0.97,
            Decision.ACCEPTED,
            location=(45.51, -73.56 + i * 0.01),
        )
    # Doubtful answers count only once a specialist settles them, under the specialist's label.
    doubtful = [seed.case(grower, label="apple.scab", location=_near(0.02)) for _ in range(3)]
    seed.identification(grower, "apple.scab", 0.2, Decision.OUT_OF_SCOPE, location=_near(0.03))
    seed.identification(grower, "apple.scab", 0.99, Decision.ACCEPTED)  # no location
    headers = bearer(client, grower)
    before = client.get("/v1/surveillance", headers=headers)
    assert before.status_code == 200
    assert before.headers["content-type"] == "application/geo+json"
    features = before.json()["features"]
    assert [(f["properties"]["label"], f["properties"]["count"]) for f in features] == [
        ("potato.late_blight", 3)
    ]
    assert before.json()["properties"]["suppressed_cells"] == 1
    for case in doubtful:
        queue.claim(seed.session, case=case, specialist=specialist, settings=api_settings)
        queue.decide(
            seed.session,
            case=case,
            specialist=specialist,
            action="correct",
            label="apple.black_rot",
            message="Non.",
            catalog=catalog,
        )
    after = client.get("/v1/surveillance", headers=headers).json()["features"]
    assert sorted((f["properties"]["label"], f["properties"]["count"]) for f in after) == [
        ("apple.black_rot", 3),
        ("potato.late_blight", 3),
    ]
    week = datetime.now(UTC).isocalendar()
    assert after[0]["properties"]["week"] == f"{week.year}-W{week.week:02d}"
    ring = after[0]["geometry"]["coordinates"][0]
    assert ring[0] == [-71.3, 46.8] and ring[2] == [-71.2, 46.9]  # the cell, not the farm
    text = json.dumps(after)
    for coordinate in (*FIELD, *_near(0.01), *_near(0.02)):
        assert str(coordinate) not in text
    only = client.get("/v1/surveillance?label=apple.black_rot", headers=headers).json()
    assert [f["properties"]["label"] for f in only["features"]] == ["apple.black_rot"]


def test_coarser_cells_are_multiples_of_the_base_and_finer_ones_are_refused(
    client: TestClient, seed: Seeder
) -> None:
    grower = seed.user(Role.GROWER)
    # Two cells of 0.1 degree with 2 observations each: both suppressed; one 0.2 cell holds 4.
    for latitude in (46.81, 46.82, 46.91, 46.92):
        seed.identification(
            grower, "corn.common_rust", 0.95, Decision.ACCEPTED, location=(latitude, -71.25)
        )
    headers = bearer(client, grower)
    assert client.get("/v1/surveillance", headers=headers).json()["features"] == []
    coarse = client.get("/v1/surveillance?cell=0.2", headers=headers).json()
    assert [f["properties"]["count"] for f in coarse["features"]] == [4]
    for cell in ("0.05", "0.15"):
        response = client.get(f"/v1/surveillance?cell={cell}", headers=headers)
        assert response.status_code == 422
        assert "multiple entier de 0,1°" in response.json()["detail"]
