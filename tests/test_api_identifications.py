"""POST /v1/identifications on the real bundle and both databases: the answer, automatic
cases, the idempotency contract, and bad input that leaves nothing behind."""

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import _load_identifier
from api.models import Case, Identification, Photo, Role, User
from api.photostore import PhotoStore
from api.services.uploads import TOO_MANY_PHOTOS
from api.settings import ApiSettings, get_api_settings
from model.bundle import latest_bundle
from model.catalog import Catalog
from model.identifier import MAX_PHOTOS, Identifier
from model.manifest import read_manifest
from model.settings import Settings
from tests.api_support import Seeder, bearer
from tests.bundle_support import contract_bundle
from tests.helpers import jpeg_bytes, textured_image

Files = list[tuple[str, tuple[str, bytes, str]]]


@pytest.fixture(scope="module")
def contract(
    tmp_path_factory: pytest.TempPathFactory, catalog: Catalog
) -> tuple[Path, dict[str, bytes]]:
    """The API's contract runs without the bank: the committed bundle with a policy that accepts
    the surer of synthetic photos and doubts the other (``tests.bundle_support``), and the
    pair, ``accepted`` and ``doubted``."""
    source = latest_bundle(get_api_settings().bundles_dir).resolve()
    dest = tmp_path_factory.mktemp("contract-bundles") / source.name
    photos = [jpeg_bytes(textured_image(seed)) for seed in range(8)]
    folder, accepted, doubted = contract_bundle(source, dest, photos, catalog)
    return folder, {"accepted": accepted, "doubted": doubted}


@pytest.fixture
def api_settings(api_settings: ApiSettings, contract: tuple[Path, dict[str, bytes]]) -> ApiSettings:
    """This module's service serves the contract bundle."""
    return api_settings.model_copy(update={"bundles_dir": contract[0].parent})


@pytest.fixture(scope="module")
def identifier(contract: tuple[Path, dict[str, bytes]]) -> Identifier:
    """The API's own identifier (the same cached instance the routes use)."""
    settings = get_api_settings()
    return _load_identifier(
        contract[0],
        settings.serve_model_variant,
        settings.serve_model_threads,
        settings.catalog_dir,
    )


@pytest.fixture(scope="module")
def samples(contract: tuple[Path, dict[str, bytes]]) -> dict[str, bytes]:
    """A photo the contract policy accepts and one it doubts."""
    return contract[1]


def _files(*photos: bytes) -> Files:
    return [("photos", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)]


def _counts(session: Session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Identification, Photo, Case)
    )


@pytest.fixture
def grower(seed: Seeder) -> User:
    return seed.user(Role.GROWER)


def test_the_answer_combines_result_catalog_and_photos(
    client: TestClient,
    grower: User,
    samples: dict[str, bytes],
    identifier: Identifier,
    catalog: Catalog,
    store: PhotoStore,
    db: Session,
) -> None:
    photo = samples["accepted"]
    hosts = catalog.labels[identifier.identify([photo]).label].hosts  # a crop it is found on
    crop = hosts[0] if hosts else None
    data = {"latitude": "46.8123", "longitude": "-71.2456", "lang": "en"}
    response = client.post(
        "/v1/identifications",
        files=_files(photo),
        data={**data, "crop": crop} if crop else data,
        headers=bearer(client, grower),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    expected = identifier.identify([photo], crop=crop)
    assert body["decision"] == "accepted" and body["case"] is None
    assert body["label"] == expected.label
    assert body["probability"] == pytest.approx(expected.probability)
    assert [item["label"] for item in body["top_k"]] == [s.label for s in expected.top_k]
    assert body["model_version"] == identifier.version
    assert body["language"] == "en" and body["profile"] == "grower"
    assert body["decision_words"] == "Identification accepted" and body["reason_words"] is None
    assert body["confidence_words"] in ("very likely", "likely", "possible", "uncertain")
    assert body["catalog"]["label"] == expected.label and body["catalog"]["profile"] == "grower"
    assert body["name"] == body["catalog"]["name"]  # English name
    assert body["located"] is True and "46.8123" not in response.text
    assert "-71.2456" not in response.text
    [url] = body["photos"]
    stored = client.get(url, headers=bearer(client, grower))
    assert stored.status_code == 200 and stored.content == store.read(url.rsplit("/", 1)[1])
    row = db.get(Identification, body["id"])
    assert row is not None and (row.latitude, row.longitude) == (46.8123, -71.2456)
    assert row.crop == crop


def test_a_bank_photo_is_accepted_by_the_release(
    api_settings: ApiSettings, grower: User, bank_dir: Path, settings: Settings
) -> None:
    """The smoke test on the bank: the committed release accepts a lab photo of late blight (the
    label it is surest of) and names it, on the real policy."""
    served = api_settings.model_copy(update={"bundles_dir": get_api_settings().bundles_dir})
    rows = [r for r in read_manifest(settings.splits_path) if r["split"] == "test"]
    rows = [r for r in rows if r["label"] == "potato.late_blight"]
    with TestClient(create_app(served)) as client:
        headers = bearer(client, grower)
        labels = []
        for row in sorted(rows, key=lambda r: r["file"])[:5]:
            files = _files((bank_dir / row["file"]).read_bytes())
            body = client.post("/v1/identifications", files=files, headers=headers).json()
            labels.append((body["decision"], body["label"]))
    assert ("accepted", "potato.late_blight") in labels, labels


def test_a_doubtful_answer_opens_a_case_with_an_expected_response_time(
    client: TestClient, grower: User, samples: dict[str, bytes], db: Session
) -> None:
    response = client.post(
        "/v1/identifications", files=_files(samples["doubted"]), headers=bearer(client, grower)
    )
    assert response.status_code == 201
    body = response.json()
    assert body["decision"] == "needs_specialist"
    case = body["case"]
    assert case["status"] == "open" and case["reason"] == body["reason"] and not case["asked"]
    assert case["expected_response_hours"] > 0
    assert _counts(db) == (1, 1, 1)


def test_only_doubtful_answers_for_the_farms_open_a_case_unless_asked(
    client: TestClient, seed: Seeder, samples: dict[str, bytes], db: Session
) -> None:
    """model.routing through the API: a dark photo asks for a retake; a doubtful answer opens a
    case for a grower, offers one to a citizen; asking always opens one."""
    grower, citizen = seed.user(Role.GROWER), seed.user(Role.CITIZEN)
    dark = jpeg_bytes(Image.eval(textured_image(3), lambda value: value // 40))

    def send(user: User, photo: bytes, **data: str) -> dict[str, Any]:
        response = client.post(
            "/v1/identifications", files=_files(photo), data=data, headers=bearer(client, user)
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    retake = send(grower, dark)
    assert retake["reason"] == "too_dark" and retake["case"] is None
    assert retake["reading"]["next_step"]["code"] == "retake"
    assert send(grower, dark, ask_specialist="true")["case"]["asked"]
    assert send(grower, samples["doubted"])["case"]["reason"] == "low_confidence"
    # a request's profile changes the words, not the queue
    offered = send(citizen, samples["doubted"], profile="grower")
    assert offered["decision"] == "needs_specialist" and offered["case"] is None
    assert offered["reading"]["next_step"]["code"] == "ask_specialist"
    assert send(citizen, samples["doubted"], ask_specialist="true")["case"]["asked"]
    assert _counts(db)[2] == 3


def test_the_same_photo_gets_the_same_answer_with_an_empty_or_a_full_queue(
    client: TestClient, seed: Seeder, samples: dict[str, bytes]
) -> None:
    grower, citizen = seed.user(Role.GROWER), seed.user(Role.CITIZEN)

    def answers() -> list[tuple[str, str | None, bool]]:
        found = []
        for photo in (samples["accepted"], samples["doubted"]):
            response = client.post(
                "/v1/identifications", files=_files(photo), headers=bearer(client, grower)
            )
            body = response.json()
            found.append((body["decision"], body["reason"], body["case"] is not None))
        return found

    empty = answers()
    for _ in range(60):
        seed.case(citizen)
    assert answers() == empty


def test_an_identification_counts_for_surveillance_only_when_its_user_shares_it(
    client: TestClient, seed: Seeder, db: Session, samples: dict[str, bytes]
) -> None:
    grower = seed.user(Role.GROWER)
    shared = {}
    for share in ("true", "false", None):
        response = client.post(
            "/v1/identifications",
            files=_files(samples["accepted"]),
            data={} if share is None else {"share_surveillance": share},
            headers=bearer(client, grower),
        )
        assert response.status_code == 201, response.text
        shared[share] = db.get(Identification, response.json()["id"]).shared
    assert shared == {"true": True, "false": False, None: False}  # not shared unless asked


def test_a_second_message_on_an_open_case_is_added_and_an_answered_one_refuses_it(
    client: TestClient, seed: Seeder, api_settings: ApiSettings
) -> None:
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    case = seed.case(grower)
    url = f"/v1/identifications/{case.identification_id}/case"
    headers = bearer(client, grower)
    for message in ("Des taches brunes.", "Elles grossissent.", "Elles grossissent."):
        response = client.post(url, json={"message": message}, headers=headers)
        assert response.status_code == 200, response.text
    assert response.json()["message"] == "Des taches brunes.\n\nElles grossissent."
    seed.answer(case, specialist, api_settings)
    refused = client.post(url, json={"message": "Et maintenant?"}, headers=headers)
    assert refused.status_code == 409 and "déjà répondu" in refused.json()["detail"]
    again = client.post(url, json={}, headers=headers)  # a retry without a message: the case
    assert again.status_code == 200 and again.json()["status"] == "answered"


def test_asking_a_specialist_with_the_photos(
    client: TestClient, grower: User, samples: dict[str, bytes]
) -> None:
    response = client.post(
        "/v1/identifications",
        files=_files(samples["accepted"], samples["doubted"]),
        data={"ask_specialist": "true", "message": "Deux feuilles du même plant."},
        headers=bearer(client, grower),
    )
    assert response.status_code == 201
    body = response.json()
    assert len(body["photos"]) == 2
    assert body["case"]["asked"] and body["case"]["message"] == "Deux feuilles du même plant."


def test_a_retry_with_the_same_client_id_returns_the_first_answer(
    client: TestClient,
    seed: Seeder,
    grower: User,
    samples: dict[str, bytes],
    db: Session,
    store: PhotoStore,
) -> None:
    headers = bearer(client, grower)
    data = {"client_id": "0b6a1f0e-outbox-0001"}
    first = client.post(
        "/v1/identifications", files=_files(samples["doubted"]), data=data, headers=headers
    )
    assert first.status_code == 201
    again = client.post(
        "/v1/identifications", files=_files(samples["doubted"]), data=data, headers=headers
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["case"]["id"] == first.json()["case"]["id"]
    assert _counts(db) == (1, 1, 1) and len(store.files()) == 1
    other = client.post(
        "/v1/identifications", files=_files(samples["accepted"]), data=data, headers=headers
    )
    assert other.status_code == 409 and "client_id" in other.json()["detail"]
    assert _counts(db) == (1, 1, 1) and len(store.files()) == 1
    # Client ids belong to their user: another user's same id is a new identification.
    neighbour = seed.user(Role.GROWER)
    theirs = client.post(
        "/v1/identifications",
        files=_files(samples["doubted"]),
        data=data,
        headers=bearer(client, neighbour),
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


def test_concurrent_retries_create_one_identification(
    client: TestClient, grower: User, samples: dict[str, bytes], db: Session, store: PhotoStore
) -> None:
    headers = bearer(client, grower)
    data = {"client_id": "0b6a1f0e-outbox-0002", "ask_specialist": "true"}
    results: list[Any] = []
    start = threading.Barrier(6)

    def send() -> None:
        start.wait()
        response = client.post(
            "/v1/identifications", files=_files(samples["accepted"]), data=data, headers=headers
        )
        results.append((response.status_code, response.json().get("id")))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1 and statuses.count(200) == 5, results
    assert len({identification for _, identification in results}) == 1
    assert _counts(db) == (1, 1, 1) and len(store.files()) == 1


@pytest.fixture
def tight_client(api_settings: ApiSettings, identifier: Identifier) -> Iterator[TestClient]:
    """An application with small limits: 1 MB photos, 2 identifications an hour."""
    settings = api_settings.model_copy(update={"max_photo_mb": 1.0, "identifications_per_hour": 2})
    with TestClient(create_app(settings)) as client:
        yield client


def _bad_requests(samples: dict[str, bytes]) -> list[tuple[str, Files, dict[str, str], int, str]]:
    good = samples["accepted"]
    big = jpeg_bytes(textured_image(5, size=(1800, 1400)), quality=100)
    assert len(big) > 1_000_000
    return [
        # the grower's account is French: so are the service's errors
        ("not an image", _files(good, b"GIF89a but not really"), {}, 422, "photo 2 : ce n'est pas"),
        ("truncated", _files(good[: len(good) // 2]), {}, 422, "photo 1 : l'image est tronquée"),
        ("six photos", _files(*[good] * (MAX_PHOTOS + 1)), {}, 400, TOO_MANY_PHOTOS["fr"]),
        ("no photo", [], {"crop": "apple"}, 422, "photos"),
        ("over the size limit", _files(good, big), {}, 413, "la photo 2 dépasse 1 Mo"),
        ("latitude only", _files(good), {"latitude": "46.8"}, 422, "la latitude et la longitude"),
        ("latitude out of range", _files(good), {"latitude": "146", "longitude": "1"}, 422, ""),
        ("bad client id", _files(good), {"client_id": "a b"}, 422, "client_id"),
        ("unknown profile", _files(good), {"profile": "farmer"}, 422, "profile"),
        ("in the future", _files(good), {"observed_at": "2999-01-01T00:00:00Z"}, 422, "horloge"),
    ]


def test_bad_input_is_a_clear_error_and_leaves_nothing_behind(
    tight_client: TestClient,
    grower: User,
    samples: dict[str, bytes],
    db: Session,
    store: PhotoStore,
) -> None:
    headers = bearer(tight_client, grower)
    for name, files, data, status, detail in _bad_requests(samples):
        response = tight_client.post(
            "/v1/identifications", files=files or None, data=data, headers=headers
        )
        assert response.status_code == status, (name, response.text)
        assert detail in str(response.json()["detail"]), name
        assert _counts(db) == (0, 0, 0), name
        assert store.files() == [], name


def test_an_oversized_request_is_refused_before_it_is_read(
    tight_client: TestClient, grower: User
) -> None:
    headers = {**bearer(tight_client, grower), "Content-Type": "multipart/form-data; boundary=x"}
    response = tight_client.post("/v1/identifications", content=b"x" * 6_500_000, headers=headers)
    assert response.status_code == 413 and "requête trop grande" in response.json()["detail"]


def test_identifications_are_rate_limited_per_user_but_retries_pass(
    tight_client: TestClient, grower: User, samples: dict[str, bytes], db: Session
) -> None:
    headers = bearer(tight_client, grower)
    post: Callable[[str], Any] = lambda client_id: tight_client.post(  # noqa: E731
        "/v1/identifications",
        files=_files(samples["accepted"]),
        data={"client_id": client_id},
        headers=headers,
    )
    assert [post(f"outbox-000{i}").status_code for i in range(2)] == [201, 201]
    refused = post("outbox-0002")
    assert refused.status_code == 429 and "au plus 2 par heure" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) > 3000
    assert post("outbox-0000").status_code == 200  # a retry is never refused
    assert _counts(db)[0] == 2


def test_without_a_bundle_identification_is_unavailable(
    api_settings: ApiSettings, grower: User, tmp_path: Path, samples: dict[str, bytes]
) -> None:
    settings = api_settings.model_copy(update={"bundles_dir": tmp_path / "no-bundles"})
    (tmp_path / "no-bundles").mkdir()
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/identifications", files=_files(samples["accepted"]), headers=bearer(client, grower)
        )
        assert response.status_code == 503
        # in the account's language: French unless the user chose English
        assert response.json() == {"detail": "aucun paquet de modèle n'est installé sur ce serveur"}
        assert client.get("/readyz").status_code == 503
