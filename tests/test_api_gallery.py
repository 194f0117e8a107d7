"""Similar reference photos through the API: in answers, as thumbnails, and as the field app's
pack in the model distribution — on a real gallery built from bank photos with the real bundle."""

import hashlib
import io
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.models import Role, User
from api.services.references import CASE_SOURCE
from api.settings import ApiSettings
from model.bundle import latest_bundle
from model.gallery import photo_id
from model.gallery.build import build_gallery
from model.gallery.folder import GalleryFolder
from model.gallery.pack import write_pack
from model.identifier import open_identifier
from model.manifest import read_manifest
from tests.api_support import PASSWORD, Seeder, bearer
from tests.helpers import write_bank

PER_LABEL = 2


@pytest.fixture(scope="module")
def small_bank(tmp_path_factory: pytest.TempPathFactory, bank_dir: Path) -> Path:
    """Two photos of each of six labels, in the bank's format."""
    rows = read_manifest(bank_dir / "manifest.csv")
    labels = ["apple.scab", "bean.rust", "corn.common_rust", "invertebrate.bee", "weed.lantana"]
    chosen = [r for label in labels for r in [r for r in rows if r["label"] == label][:PER_LABEL]]
    entries = [
        {"file": r["file"], "label": r["label"], "data": (bank_dir / r["file"]).read_bytes()}
        for r in chosen
    ]
    return write_bank(tmp_path_factory.mktemp("bank"), entries)


@pytest.fixture
def with_gallery(api_settings: ApiSettings, small_bank: Path) -> Path:
    """The small bank's gallery and pack, where the server looks for the latest model's."""
    identifier = open_identifier(latest_bundle(api_settings.bundles_dir), threads=2)
    folder = GalleryFolder(api_settings.galleries_dir / identifier.version)
    build_gallery(identifier, small_bank, folder, projection_dims=8)
    return write_pack(folder)


def _photo(bank_dir: Path, label: str) -> bytes:
    rows = read_manifest(bank_dir / "manifest.csv")
    return (bank_dir / next(r for r in rows if r["label"] == label)["file"]).read_bytes()


def test_answers_show_similar_reference_photos_with_thumbnails(
    client: TestClient, seed: Seeder, with_gallery: Path, bank_dir: Path
) -> None:
    grower: User = seed.user(Role.GROWER)
    headers = bearer(client, grower)
    response = client.post(
        "/v1/identifications",
        files=[("photos", ("leaf.jpg", _photo(bank_dir, "apple.scab"), "image/jpeg"))],
        headers=headers,
    )
    assert response.status_code == 201, response.text
    similar = response.json()["similar"]
    assert len(similar) == 6 and response.json()["gallery"] is None
    assert client.get("/readyz").json()["gallery"] == "ready"
    assert similar[0]["label"] == "apple.scab" and similar[0]["similarity"] > 0.99
    thumbnail = client.get(similar[0]["thumbnail_url"], headers=headers)
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(thumbnail.content))
    assert max(image.size) <= 160 and not image.getexif()
    assert client.get(similar[0]["thumbnail_url"]).status_code == 401
    missing = client.get("/v1/gallery/thumbnails/ffffffffffffffff", headers=headers)
    assert missing.status_code == 404


def test_the_field_apps_release_carries_the_gallery_pack(
    client: TestClient, seed: Seeder, with_gallery: Path
) -> None:
    headers = bearer(client, seed.user(Role.CITIZEN))
    release = client.get("/v1/models/latest", headers=headers).json()
    [pack] = [item for item in release["files"] if item["kind"] == "gallery"]
    assert pack["name"] == with_gallery.name and pack["size"] == with_gallery.stat().st_size
    download = client.get(pack["url"], headers=headers)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == pack["sha256"]


def test_without_a_gallery_answers_have_no_similar_photos(
    client: TestClient, seed: Seeder, bank_dir: Path
) -> None:
    headers = bearer(client, seed.user(Role.GROWER))
    response = client.post(
        "/v1/identifications",
        files=[("photos", ("leaf.jpg", _photo(bank_dir, "bean.rust"), "image/jpeg"))],
        headers=headers,
    )
    assert response.status_code == 201 and response.json()["similar"] == []
    assert response.json()["gallery"] == "missing"  # says why (built by no one: not building)
    assert client.get("/readyz").json()["gallery"] == "missing"
    release = client.get("/v1/models/latest", headers=headers).json()
    assert all(item["kind"] == "bundle" for item in release["files"])


def test_a_case_photo_withdrawn_after_the_gallery_was_built_is_shown_to_no_one(
    client: TestClient,
    seed: Seeder,
    api_settings: ApiSettings,
    small_bank: Path,
    bank_dir: Path,
    tmp_path: Path,
) -> None:
    # A grower who shares their photos; their apple scab photo confirmed and marked a reference.
    grower, other = seed.user(Role.GROWER), seed.user(Role.CITIZEN)
    specialist = seed.user(Role.SPECIALIST)
    as_grower, as_other = bearer(client, grower), bearer(client, other)
    client.patch("/v1/users/me", json={"share_photos": True}, headers=as_grower)
    leaf = _photo(bank_dir, "apple.scab")
    case = seed.case(grower, label="apple.scab", images=[leaf])
    sha = case.identification.photos[0].sha256
    seed.answer(case, specialist, api_settings)
    mark = f"/v1/queue/cases/{case.id}/references/{sha}"
    assert client.put(mark, headers=bearer(client, specialist)).status_code == 200
    # The next publication's gallery holds it, as a retraining's bank version lists it.
    bank = tmp_path / "bank"
    shutil.copytree(small_bank, bank)
    file = f"cases/apple.scab/{sha}.jpg"
    entry = {"file": file, "label": "apple.scab", "source": CASE_SOURCE}
    write_bank(bank, [{**entry, "data": seed.store.read(sha)}])
    identifier = open_identifier(latest_bundle(api_settings.bundles_dir), threads=2)
    folder = GalleryFolder(api_settings.galleries_dir / identifier.version)
    build_gallery(identifier, bank, folder, projection_dims=8)
    write_pack(folder)
    reference = photo_id(sha)

    def shown() -> tuple[bool, int, list[str]]:
        """Whether another user's answer shows the photo, its thumbnail's status, and what the
        field app is told to leave out."""
        answer = client.post(
            "/v1/identifications",
            files=[("photos", ("leaf.jpg", leaf, "image/jpeg"))],
            headers=as_other,
        ).json()
        thumbnail = client.get(f"/v1/gallery/thumbnails/{reference}", headers=as_other)
        release = client.get("/v1/models/latest", headers=as_other).json()
        in_answer = reference in [photo["photo_id"] for photo in answer["similar"]]
        return in_answer, thumbnail.status_code, release["withdrawn_references"]

    assert shown() == (True, 200, [])
    # Consent withdrawn: gone from every answer, thumbnail and phone at once, not at the next
    # publication; given again, back.
    client.patch("/v1/users/me", json={"share_photos": False}, headers=as_grower)
    assert shown() == (False, 404, [reference])
    client.patch("/v1/users/me", json={"share_photos": True}, headers=as_grower)
    assert shown() == (True, 200, [])
    # The account erased: the photo's rows are gone, and so is the photo from the gallery.
    erased = client.request(
        "DELETE", "/v1/users/me", headers=as_grower, json={"password": PASSWORD}
    )
    assert erased.status_code == 204, erased.text
    assert shown() == (False, 404, [reference])
