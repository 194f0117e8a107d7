"""The researchers' export: confirmed cases in the bank's format, readable by the bank's tools."""

import io
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient

from api.models import Role
from api.settings import ApiSettings
from model.manifest import BANK_COLUMNS, read_manifest
from tests.api_support import Seeder, bearer


def test_confirmed_and_corrected_cases_export_as_a_bank(
    client: TestClient, seed: Seeder, api_settings: ApiSettings, catalog, tmp_path: Path
) -> None:
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    researcher, admin = seed.user(Role.RESEARCHER), seed.user(Role.ADMIN)
    confirmed = seed.case(grower, label="apple.scab", photos=2, location=(46.8, -71.2))
    corrected = seed.case(grower, label="apple.scab", probability=0.51)
    unlabelled = seed.case(grower)
    seed.case(grower)  # still waiting
    decisions = [
        (confirmed, "confirm", None),
        (corrected, "correct", "corn.common_rust"),
        (unlabelled, "answer", None),
    ]
    for case, action, label in decisions:
        seed.answer(case, specialist, api_settings, action, label)

    for user in (grower, specialist):
        assert client.get("/v1/export", headers=bearer(client, user)).status_code == 403
    assert client.get("/v1/export", headers=bearer(client, admin)).status_code == 200
    response = client.get("/v1/export", headers=bearer(client, researcher))
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    folder = tmp_path / "export"
    zipfile.ZipFile(io.BytesIO(response.content)).extractall(folder)
    rows = read_manifest(folder / "manifest.csv", required=BANK_COLUMNS)
    assert list(rows[0])[: len(BANK_COLUMNS)] == list(BANK_COLUMNS)
    assert [(row["label"], row["model_label"], row["case_id"]) for row in rows] == [
        ("apple.scab", "apple.scab", confirmed.id),
        ("apple.scab", "apple.scab", confirmed.id),
        ("corn.common_rust", "apple.scab", corrected.id),
    ]
    assert rows[2]["category"] == "disease" and rows[2]["model_probability"] == "0.5100"
    for row in rows:
        photo = folder / row["file"]
        assert photo.is_file() and row["file"].startswith(f"images/{row['label']}/")
        assert row["setting"] == "field" and row["license"] == api_settings.export_license
    text = (folder / "manifest.csv").read_text()
    assert "46.8" not in text and grower.username not in text and specialist.username not in text
    later = client.get(
        "/v1/export",
        params={"since": "2999-01-01T00:00:00Z"},
        headers=bearer(client, researcher),
    )
    names = zipfile.ZipFile(io.BytesIO(later.content)).namelist()
    assert names == ["manifest.csv"]


def test_a_photo_gone_from_the_store_or_a_label_gone_from_the_catalog_is_left_out(
    client: TestClient, seed: Seeder, api_settings: ApiSettings, catalog, tmp_path: Path
) -> None:
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    researcher = seed.user(Role.RESEARCHER)
    lost, kept, renamed = (seed.case(grower, label="apple.scab") for _ in range(3))
    for case in (lost, kept, renamed):
        seed.answer(case, specialist, api_settings)
    seed.store.discard(lost.identification.photos[0].sha256)
    renamed.label = "apple.label_a_later_catalog_dropped"
    seed.session.commit()

    response = client.get("/v1/export", headers=bearer(client, researcher))
    assert response.status_code == 200
    folder = tmp_path / "export"
    zipfile.ZipFile(io.BytesIO(response.content)).extractall(folder)
    rows = read_manifest(folder / "manifest.csv", required=BANK_COLUMNS)
    assert [row["case_id"] for row in rows] == [kept.id]
