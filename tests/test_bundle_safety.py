"""A bundle that cannot break the server: a release of a newer bundle format, with a broken
decision policy or graph, is refused whole by the identifier's loading; the service keeps
answering with (and distributing) the bundle before it; stored answers with a decision, reason
or label this software does not know are shown, never a crash."""

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from api.models import Role
from api.settings import ApiSettings
from model.bundle import (
    FORMAT_VERSION,
    MANIFEST,
    SERVER_ONLY,
    BundleError,
    latest_bundle,
    verify,
    version_key,
    write_manifest,
)
from model.catalog import Catalog
from model.identifier import check_identifier, open_identifier
from model.settings import Settings
from tests.api_support import Seeder, bearer
from tests.bundle_support import BROKEN_POLICIES, break_release, bundle_copy, relist
from tests.helpers import jpeg_bytes, textured_image

COMMITTED = "2026.12.07.1"
NEWER = "2026.12.31"
BROKEN = ["format", *BROKEN_POLICIES]


@pytest.fixture(scope="module")
def committed(settings: Settings) -> Path:
    folder = latest_bundle(settings.bundles_dir)
    assert folder.name == COMMITTED
    return folder


def test_a_manifest_without_format_loads_as_format_1(committed: Path, tmp_path: Path) -> None:
    assert json.loads((committed / MANIFEST).read_text(encoding="utf-8"))["format"] == 1
    older = tmp_path / COMMITTED  # as bundles written before the format existed
    shutil.copytree(committed, older)
    manifest = json.loads((older / MANIFEST).read_text(encoding="utf-8"))
    del manifest["format"]
    (older / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    identifier = open_identifier(older, variant="int8")
    trial = check_identifier(identifier)
    assert trial.label in identifier.labels and trial.model_version == COMMITTED


@pytest.mark.parametrize("kind", BROKEN)
def test_a_newer_format_or_a_broken_policy_is_refused_by_loading(
    committed: Path, tmp_path: Path, kind: str
) -> None:
    folder = bundle_copy(committed, tmp_path / NEWER, NEWER)
    message = break_release(folder, kind)
    if kind != "format":
        verify(folder)  # every file matches its manifest
    for variant in ("fp32", "int8"):
        with pytest.raises(BundleError, match=message):
            open_identifier(folder, variant=variant)


def test_a_broken_graph_is_refused_by_loading(committed: Path, tmp_path: Path) -> None:
    folder = bundle_copy(committed, tmp_path / NEWER, NEWER, leave_out={"model.onnx"})
    (folder / "model.int8.onnx").write_bytes(b"not an ONNX graph")
    relist(folder)
    with pytest.raises(BundleError, match="cannot be opened by ONNX Runtime"):
        open_identifier(folder, variant="int8", check=False)


def test_versions_compare_as_numbers(tmp_path: Path) -> None:
    # The tenth release of a day is newer than the second: as strings it was older, and the
    # service, the distribution and the phones would have kept the second.
    ordered = ["2026.9.30", "2026.11.26", "2026.11.26.2", "2026.11.26.10", "2026.12.04.1"]
    assert sorted(reversed(ordered), key=version_key) == ordered
    for version in ordered:
        (tmp_path / version).mkdir()
        (tmp_path / version / MANIFEST).write_text("{}", encoding="utf-8")
    (tmp_path / "2026.12.31").mkdir()  # still being written: no manifest
    assert latest_bundle(tmp_path).name == "2026.12.04.1"


def test_a_manifest_written_now_says_its_format(committed: Path, tmp_path: Path) -> None:
    folder = bundle_copy(committed, tmp_path / NEWER, NEWER)
    assert write_manifest(folder, NEWER)["format"] == FORMAT_VERSION == 1
    assert verify(folder)["format"] == 1


# --- the service


@pytest.fixture
def bundles(tmp_path: Path, committed: Path) -> Path:
    """IRIIS_BUNDLES_DIR with the committed bundle (a link: the identifier already loaded)."""
    folder = tmp_path / "bundles"
    folder.mkdir()
    (folder / COMMITTED).symlink_to(committed, target_is_directory=True)
    return folder


@contextmanager
def _client(api_settings: ApiSettings, bundles: Path) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings.model_copy(update={"bundles_dir": bundles}))) as c:
        yield c


def _photo() -> bytes:
    return jpeg_bytes(textured_image(7, size=(400, 300)))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kind", ["format", "string_temperature"])
def test_the_service_keeps_answering_with_the_last_bundle_that_works(
    api_settings: ApiSettings,
    bundles: Path,
    committed: Path,
    seed: Seeder,
    tmp_path: Path,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    newer = bundle_copy(committed, bundles / NEWER, NEWER)
    break_release(newer, kind)
    grower = seed.user(Role.GROWER)
    with (
        caplog.at_level(logging.ERROR, logger="api.deps"),
        _client(api_settings, bundles) as client,
    ):
        headers = bearer(client, grower)
        for _ in range(2):  # the broken release is tried once, not on every request
            answer = client.post(
                "/v1/identifications",
                files=[("photos", ("p.jpg", _photo(), "image/jpeg"))],
                headers=headers,
            )
            assert answer.status_code == 201, answer.text
            assert answer.json()["model_version"] == COMMITTED
            release = client.get("/v1/models/latest", headers=headers).json()
            assert release["version"] == COMMITTED
            assert all(f"/{COMMITTED}/" in item["url"] for item in release["files"])
        assert client.get(f"/v1/models/{NEWER}/files/MODEL_CARD.md", headers=headers).is_error
        assert client.get("/readyz").json()["model"] == COMMITTED
        refusals = [r for r in caplog.records if NEWER in r.getMessage()]
        assert len(refusals) == 1 and refusals[0].levelno == logging.ERROR

        # The release fixed in place (its files change): tried again, and served.
        fixed = bundle_copy(committed, tmp_path / "fixed", NEWER)
        for path in fixed.iterdir():
            path.replace(newer / path.name)
        assert client.get("/v1/models/latest", headers=headers).json()["version"] == NEWER


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_bundle_published_under_iriis_home_is_served_without_a_restart(
    api_settings: ApiSettings, bundles: Path, committed: Path, seed: Seeder
) -> None:
    # The lab's server publishes a retrained model into IRIIS_HOME/models, beside the committed
    # bundles: the running service answers with it and offers it to phones from the next request.
    grower = seed.user(Role.GROWER)
    photo = [("photos", ("p.jpg", _photo(), "image/jpeg"))]
    with _client(api_settings, bundles) as client:
        headers = bearer(client, grower)
        before = client.post("/v1/identifications", files=photo, headers=headers)
        assert before.json()["model_version"] == COMMITTED
        bundle_copy(committed, api_settings.published_dir / NEWER, NEWER)
        after = client.post("/v1/identifications", files=photo, headers=headers)
        assert after.status_code == 201 and after.json()["model_version"] == NEWER
        assert client.get("/v1/models/latest", headers=headers).json()["version"] == NEWER
    assert not (bundles / NEWER).exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_a_usable_bundle_the_service_is_not_ready(
    api_settings: ApiSettings, tmp_path: Path, committed: Path, seed: Seeder
) -> None:
    bundles = tmp_path / "bundles"
    break_release(bundle_copy(committed, bundles / NEWER, NEWER), "projection_shape")
    with _client(api_settings, bundles) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["model"] == "unusable"
        headers = bearer(client, seed.user(Role.GROWER))
        latest = client.get("/v1/models/latest", headers=headers)
        assert latest.status_code == 503 and "projection has shape" in latest.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_torch_weights_are_never_distributed(
    api_settings: ApiSettings, tmp_path: Path, committed: Path, seed: Seeder
) -> None:
    bundles = tmp_path / "bundles"
    folder = bundle_copy(committed, bundles / NEWER, NEWER, extra={"weights.pt": b"torch" * 100})
    assert "weights.pt" in SERVER_ONLY and "weights.pt" in verify(folder)["files"]
    with _client(api_settings, bundles) as client:
        headers = bearer(client, seed.user(Role.GROWER))
        release = client.get("/v1/models/latest", headers=headers).json()
        assert release["version"] == NEWER
        listed = {item["name"] for item in release["files"]}
        assert listed == (set(verify(folder)["files"]) - set(SERVER_ONLY)) | {MANIFEST}
        download = client.get(f"/v1/models/{NEWER}/files/weights.pt", headers=headers)
        assert download.status_code == 404


# --- stored answers this software does not fully know


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_stored_answer_with_an_unknown_decision_reason_and_label_is_shown(
    client: TestClient, seed: Seeder, db: Session, catalog: Catalog
) -> None:
    grower = seed.user(Role.GROWER)
    row = seed.identification(grower, label="invertebrate.new_bug", runner_up="apple.scab")
    row.decision = "deferred"
    row.result = {
        **row.result,
        "decision": "deferred",
        "reason": "new_reason",
        "group": {"group": "new_group", "probability": 0.9},
    }
    db.commit()
    headers = bearer(client, grower)
    for url in (f"/v1/identifications/{row.id}", "/v1/identifications"):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json() if url.endswith(row.id) else response.json()[0]
        assert body["decision"] == "needs_specialist" and body["decision_words"] == "deferred"
        assert body["reason"] == "new_reason" and body["reason_words"] == "new_reason"
        assert body["label"] == body["name"] == "invertebrate.new_bug"
        assert body["catalog"] is None and body["group"]["name"] == "new_group"
        names = [item["name"] for item in body["top_k"]]
        assert names == ["invertebrate.new_bug", catalog.name("apple.scab", "fr")]
