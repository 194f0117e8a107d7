"""The Darwin Core Archive of the surveillance, read back by an independent reader
(python-dwca-reader): the acceptance fixture's shown cell-weeks and nothing else, every term
GBIF requires, no place finer than a cell, the same through the API and ``iriis export dwca``."""

import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from dwca.read import DwCAReader
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.models import Role
from api.services.surveillance import Source, shown_cells
from api.settings import ApiSettings, get_api_settings
from model.catalog import Catalog
from model.cli import main
from tests.api_support import Seeder, bearer
from tests.surveillance_support import seed_surveillance

DWC = "http://rs.tdwg.org/dwc/terms/"
# GBIF's required Occurrence terms, and those this archive promises besides.
REQUIRED = ("occurrenceID", "basisOfRecord", "scientificName", "eventDate")
PROMISED = (
    "organismQuantity",
    "organismQuantityType",
    "identificationVerificationStatus",
    "identifiedBy",
    "vernacularName",
    "decimalLatitude",
    "decimalLongitude",
    "coordinateUncertaintyInMeters",
    "geodeticDatum",
    "dataGeneralizations",
)


def _read(path: Path) -> list[dict[str, str]]:
    with DwCAReader(str(path)) as archive:
        assert archive.descriptor.core.type == f"{DWC}Occurrence"
        assert "IRIIS Phyto" in archive.metadata.find("dataset/title").text
        return [
            {term.rsplit("/", 1)[1]: value for term, value in row.data.items()} for row in archive
        ]


def test_the_archive_holds_one_row_per_shown_cell_week_with_a_taxon(
    client: TestClient,
    db: Session,
    seed: Seeder,
    api_settings: ApiSettings,
    catalog: Catalog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fixture = seed_surveillance(db)
    for role in (Role.GROWER, Role.SPECIALIST):
        refused = client.get("/v1/export/dwca", headers=bearer(client, seed.user(role)))
        assert refused.status_code == 403
    response = client.get("/v1/export/dwca", headers=bearer(client, seed.user(Role.RESEARCHER)))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    path = tmp_path / "dwca.zip"
    path.write_bytes(response.content)
    rows = _read(path)

    with_taxon = [c for c in shown_cells(db, settings=api_settings) if c.label != "apple.healthy"]
    assert len(rows) == len(with_taxon) == len(fixture.shown) - 1  # healthy leaves: no taxon
    assert sorted(int(r["organismQuantity"]) for r in rows) == sorted(c.count for c in with_taxon)
    assert len({r["occurrenceID"] for r in rows}) == len(rows)
    names = {catalog.labels[c.label].scientific_name for c in with_taxon}
    assert {r["scientificName"] for r in rows} == names
    for row in rows:
        assert all(row[term] for term in (*REQUIRED, *PROMISED)), row
        assert row["basisOfRecord"] == "HumanObservation"
        assert row["license"].startswith("http://creativecommons.org/licenses/")
        assert row["identifiedBy"] == "lab specialist" or row["identifiedBy"].startswith(
            "IRIIS Phyto model 2026.11.26.1"
        )
        start, end = (date.fromisoformat(day) for day in row["eventDate"].split("/"))
        assert start.weekday() == 0 and end - start == timedelta(days=6)  # an ISO week
        latitude, longitude = float(row["decimalLatitude"]), float(row["decimalLongitude"])
        # the centre of a 0.1-degree cell, never finer
        assert abs(latitude * 20 - round(latitude * 20)) < 1e-6 and round(latitude * 20) % 2
        assert abs(longitude * 20 - round(longitude * 20)) < 1e-6 and round(longitude * 20) % 2
        assert 6_500 < int(row["coordinateUncertaintyInMeters"]) < 7_500  # half a diagonal
    confirmed = [r for r in rows if r["identifiedBy"] == "lab specialist"]
    assert {r["identificationVerificationStatus"] for r in confirmed} == {
        "verified by a lab specialist"
    }
    assert len(confirmed) == sum(1 for c in with_taxon if c.source == Source.CONFIRMED)
    with zipfile.ZipFile(path) as archive:
        text = "".join(archive.read(name).decode() for name in archive.namelist())
    for point in fixture.points:
        assert f"{point[0]}" not in text and f"{point[1]}" not in text
    assert not any(user.username in text for user in fixture.users)

    # The command writes the same rows (the ids are stable from one export to the next).
    for name, value in (
        ("IRIIS_HOME", str(api_settings.home)),
        ("IRIIS_DATABASE_URL", api_settings.database_url),
        ("IRIIS_SECRET_KEY", api_settings.secret_key),
    ):
        assert value is not None
        monkeypatch.setenv(name, value)
    get_api_settings.cache_clear()
    try:
        assert main(["export", "dwca", "--out", str(tmp_path / "cli.zip")]) == 0
    finally:
        get_api_settings.cache_clear()
    assert _read(tmp_path / "cli.zip") == rows
