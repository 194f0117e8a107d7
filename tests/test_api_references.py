"""Shareable reference photos: a grower's photo reaches other users only with their consent and a
specialist's mark (``api.services.references``), and leaves again when either is taken back."""

import io
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient

from api.models import Role
from api.services import references
from api.settings import ApiSettings
from model.manifest import read_manifest
from tests.api_support import Seeder, bearer


def _exported(client: TestClient, headers: dict[str, str], folder: Path) -> dict[str, str]:
    """sha256 of each exported photo -> its ``reference`` column."""
    response = client.get("/v1/export", headers=headers)
    assert response.status_code == 200, response.text
    zipfile.ZipFile(io.BytesIO(response.content)).extractall(folder)
    rows = read_manifest(folder / "manifest.csv")
    return {Path(row["file"]).stem: row["reference"] for row in rows}


def test_a_reference_needs_consent_and_an_answer_and_both_can_be_taken_back(
    client: TestClient, seed: Seeder, api_settings: ApiSettings, tmp_path: Path
) -> None:
    grower, other = seed.user(Role.GROWER), seed.user(Role.GROWER)
    specialist, researcher = seed.user(Role.SPECIALIST), seed.user(Role.RESEARCHER)
    case = seed.case(grower, label="apple.scab", photos=2)
    sha = case.identification.photos[0].sha256
    url = f"/v1/queue/cases/{case.id}/references/{sha}"
    as_specialist, as_grower = bearer(client, specialist), bearer(client, grower)

    # Not answered yet, and no consent: refused, and the reasons are said.
    refused = client.put(url, headers=as_specialist)
    assert refused.status_code == 409 and refused.json()["detail"] == references.NO_CONSENT["fr"]
    me = client.patch("/v1/users/me", json={"share_photos": True}, headers=as_grower)
    assert me.status_code == 200 and me.json()["share_photos"] is True
    refused = client.put(url, headers=as_specialist)
    assert refused.status_code == 409 and refused.json()["detail"] == references.NOT_LABELLED["fr"]

    seed.answer(case, specialist, api_settings)
    assert client.put(url, headers=bearer(client, other)).status_code == 403
    absent = client.put(f"/v1/queue/cases/{case.id}/references/{'0' * 64}", headers=as_specialist)
    assert absent.status_code == 404
    made = client.put(url, headers=as_specialist)
    assert made.status_code == 200 and made.json() == {
        "photo": f"/v1/photos/{sha}",
        "reference": True,
    }

    as_researcher = bearer(client, researcher)
    second = case.identification.photos[1].sha256
    assert _exported(client, as_researcher, tmp_path / "1") == {sha: "1", second: ""}

    # Consent withdrawn: private again, the mark kept for if it is given again.
    client.patch("/v1/users/me", json={"share_photos": False}, headers=as_grower)
    assert _exported(client, as_researcher, tmp_path / "2") == {sha: "", second: ""}
    client.patch("/v1/users/me", json={"share_photos": True}, headers=as_grower)
    assert _exported(client, as_researcher, tmp_path / "3")[sha] == "1"

    # The mark taken back.
    taken = client.delete(url, headers=as_specialist)
    assert taken.status_code == 200 and taken.json()["reference"] is False
    assert _exported(client, as_researcher, tmp_path / "4")[sha] == ""


def test_a_user_sets_their_own_language_and_consent_only(client: TestClient, seed: Seeder) -> None:
    grower = seed.user(Role.GROWER)
    headers = bearer(client, grower)
    assert client.get("/v1/users/me", headers=headers).json()["share_photos"] is False
    changed = client.patch("/v1/users/me", json={"language": "en"}, headers=headers)
    assert changed.status_code == 200
    assert changed.json()["language"] == "en" and changed.json()["share_photos"] is False
    assert client.patch("/v1/users/me", json={"role": "admin"}, headers=headers).json()["role"] == (
        "grower"
    )
    assert client.patch("/v1/users/me", json={"language": "de"}, headers=headers).status_code == 422
