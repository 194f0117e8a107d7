"""Cases through the HTTP API on both databases: asking a specialist, following one's own cases,
the queue's JSON endpoints, sending requested photos, and who may see what."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.models import Case, CaseDecision, CaseStatus, Photo, Role
from api.photostore import PhotoStore
from api.services.uploads import TOO_MANY_PHOTOS
from api.settings import ApiSettings
from model.result import Decision
from tests.api_support import Seeder, bearer
from tests.helpers import jpeg_bytes, textured_image


def _jpeg(seed: int) -> tuple[str, bytes, str]:
    return (f"photo{seed}.jpg", jpeg_bytes(textured_image(seed)), "image/jpeg")


def test_anyone_can_ask_a_specialist_about_a_confident_answer(
    client: TestClient, seed: Seeder
) -> None:
    grower = seed.user(Role.GROWER)
    identification = seed.identification(grower, probability=0.99, decision=Decision.ACCEPTED)
    assert identification.case is None
    headers = bearer(client, grower)
    url = f"/v1/identifications/{identification.id}/case"
    response = client.post(url, json={"message": "Sûr? Ça s'étend vite."}, headers=headers)
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["status"] == "open" and case["reason"] == "asked" and case["asked"]
    wait = case["expected_answer"]  # no decision yet: the lab's capacity alone
    assert wait["position"] == 1 and wait["hours"] == case["expected_response_hours"] > 0
    # A retry (the field app's outbox) returns the same case and creates nothing.
    again = client.post(url, json={"message": "Sûr? Ça s'étend vite."}, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == case["id"]
    assert seed.session.scalar(select(func.count()).select_from(Case)) == 1
    listed = client.get("/v1/cases", headers=headers).json()
    assert [c["id"] for c in listed] == [case["id"]]
    shown = client.get(f"/v1/identifications/{identification.id}", headers=headers).json()
    assert shown["case"]["id"] == case["id"]
    assert shown["name"] == "Tavelure du pommier"  # catalog name in the user's language
    assert shown["catalog"]["advice"]  # the grower's advice
    assert shown["catalog"]["profile"] == "grower"


def test_asking_about_a_case_the_model_opened_records_the_question(
    client: TestClient, seed: Seeder, api_settings: ApiSettings
) -> None:
    grower = seed.user(Role.GROWER)
    opened = seed.case(grower)  # the model's doubt opened it
    response = client.post(
        f"/v1/identifications/{opened.identification_id}/case",
        json={"message": "Voici plus de contexte."},
        headers=bearer(client, grower),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == opened.id and body["asked"]
    assert body["message"] == "Voici plus de contexte." and body["reason"] == "low_confidence"


def test_users_see_only_their_own_cases_identifications_and_photos(
    client: TestClient, seed: Seeder
) -> None:
    owner, other = seed.user(Role.GROWER), seed.user(Role.GROWER)
    advisor, admin = seed.user(Role.ADVISOR), seed.user(Role.ADMIN)
    case = seed.case(owner)
    sha = case.identification.photos[0].sha256
    for user in (other, advisor, admin):
        headers = bearer(client, user)
        assert client.get("/v1/cases", headers=headers).json() == []
        for url in (
            f"/v1/cases/{case.id}",
            f"/v1/identifications/{case.identification_id}",
            f"/v1/photos/{sha}",
        ):
            response = client.get(url, headers=headers)
            assert response.status_code == 404, (user.role, url)
            assert response.json() == {"detail": response.json()["detail"]}
        ask = client.post(
            f"/v1/identifications/{case.identification_id}/case", json={}, headers=headers
        )
        assert ask.status_code == 404
    owner_headers = bearer(client, owner)
    assert client.get(f"/v1/cases/{case.id}", headers=owner_headers).status_code == 200
    photo = client.get(f"/v1/photos/{sha}", headers=owner_headers)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert client.get("/v1/photos/not-a-hash", headers=owner_headers).status_code == 404


def test_staff_see_case_photos_as_their_role_needs(client: TestClient, seed: Seeder) -> None:
    grower = seed.user(Role.GROWER)
    specialist, researcher = seed.user(Role.SPECIALIST), seed.user(Role.RESEARCHER)
    case = seed.case(grower)
    private = seed.identification(grower, decision=Decision.ACCEPTED)  # no case: no staff
    sha, private_sha = case.identification.photos[0].sha256, private.photos[0].sha256
    specialist_headers, researcher_headers = bearer(client, specialist), bearer(client, researcher)
    assert client.get(f"/v1/photos/{sha}", headers=specialist_headers).status_code == 200
    assert client.get(f"/v1/photos/{private_sha}", headers=specialist_headers).status_code == 404
    # Researchers see photos of confirmed cases only: what the export holds.
    assert client.get(f"/v1/photos/{sha}", headers=researcher_headers).status_code == 404
    client.post("/v1/queue/claim", headers=specialist_headers)
    client.post(
        f"/v1/queue/cases/{case.id}/decisions",
        json={"action": "confirm", "message": "Tavelure, oui."},
        headers=specialist_headers,
    )
    assert client.get(f"/v1/photos/{sha}", headers=researcher_headers).status_code == 200


def test_a_correction_reaches_the_grower(client: TestClient, seed: Seeder) -> None:
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    case = seed.case(grower, label="apple.scab", runner_up="apple.black_rot")
    headers = bearer(client, specialist)
    queue = client.get("/v1/queue", headers=headers).json()
    assert queue["length"] == 1 and queue["waiting"][0]["id"] == case.id
    claimed = client.post("/v1/queue/claim", headers=headers)
    assert claimed.status_code == 200
    review = claimed.json()
    assert review["case"]["id"] == case.id and review["claimed_by"] == specialist.username
    assert [label["label"] for label in review["identification"]["top_k"]] == [
        "apple.scab",
        "apple.black_rot",
    ]
    assert review["identification"]["catalog"]["profile"] == "advisor"
    assert review["identification"]["photos"]
    assert client.get("/v1/queue", headers=headers).json()["mine"][0]["id"] == case.id
    decision = client.post(
        f"/v1/queue/cases/{case.id}/decisions",
        json={"action": "correct", "label": "apple.black_rot", "message": "Pourriture noire."},
        headers=headers,
    )
    assert decision.status_code == 201, decision.text
    assert decision.json()["case"]["decisions"][0]["specialist"] == specialist.username
    assert client.post("/v1/queue/claim", headers=headers).status_code == 204
    mine = client.get(f"/v1/cases/{case.id}", headers=bearer(client, grower)).json()
    assert mine["status"] == "answered" and mine["label"] == "apple.black_rot"
    assert mine["name"] == "Pourriture noire du pommier" and mine["answer"] == "Pourriture noire."
    assert mine["decisions"][0]["specialist"] is None  # the lab's staff stay anonymous
    assert mine["expected_response_hours"] is None


def test_a_decision_with_an_unknown_label_is_refused_and_changes_nothing(
    client: TestClient, seed: Seeder
) -> None:
    case = seed.case(seed.user(Role.GROWER))
    headers = bearer(client, seed.user(Role.SPECIALIST))
    client.post(f"/v1/queue/cases/{case.id}/claim", headers=headers)
    response = client.post(
        f"/v1/queue/cases/{case.id}/decisions",
        json={"action": "correct", "label": "apple.dragon", "message": "?"},
        headers=headers,
    )
    assert response.status_code == 422 and "étiquette inconnue" in response.json()["detail"]
    seed.session.refresh(case)
    assert case.status == CaseStatus.CLAIMED and case.label is None
    assert seed.session.scalar(select(func.count()).select_from(CaseDecision)) == 0


def test_requested_photos_bring_the_case_back_to_the_queue(
    client: TestClient, seed: Seeder, store: PhotoStore
) -> None:
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    case = seed.case(grower)
    staff, owner = bearer(client, specialist), bearer(client, grower)
    client.post("/v1/queue/claim", headers=staff)
    client.post(
        f"/v1/queue/cases/{case.id}/decisions",
        json={"action": "request_photos", "message": "Le revers de la feuille, svp."},
        headers=staff,
    )
    mine = client.get(f"/v1/cases/{case.id}", headers=owner).json()
    assert mine["status"] == "awaiting_photos" and mine["answer"] == "Le revers de la feuille, svp."
    files_before = len(store.files())
    url = f"/v1/cases/{case.id}/photos"
    photos = [("photos", _jpeg(901)), ("photos", _jpeg(902))]
    response = client.post(url, files=photos, headers=owner)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "open" and len(response.json()["photos"]) == 2
    assert len(store.files()) == files_before + 2
    # A retry of the same upload adds nothing.
    again = client.post(url, files=photos, headers=owner)
    assert len(again.json()["photos"]) == 2
    assert seed.session.scalar(select(func.count()).where(Photo.case_id == case.id)) == 2
    review = client.post("/v1/queue/claim", headers=staff).json()
    assert review["case"]["id"] == case.id and len(review["case"]["photos"]) == 2
    # Specialists can open the added photos.
    assert client.get(review["case"]["photos"][0], headers=staff).status_code == 200


def test_bad_photos_for_a_case_leave_nothing_behind(
    client: TestClient, seed: Seeder, store: PhotoStore, api_settings: ApiSettings
) -> None:
    grower = seed.user(Role.GROWER)
    case = seed.case(grower)
    headers = bearer(client, grower)
    files_before = store.files()
    url = f"/v1/cases/{case.id}/photos"
    truncated = jpeg_bytes(textured_image(7))[:500]
    cases = [
        ([("photos", _jpeg(1)), ("photos", ("notes.jpg", b"not an image", "image/jpeg"))], 422),
        ([("photos", _jpeg(2)), ("photos", ("cut.jpg", truncated, "image/jpeg"))], 422),
        # refused as the sixth part's headers arrive, before its bytes are read (api/limits.py)
        ([("photos", _jpeg(10 + i)) for i in range(6)], 400),
        ([], 422),
    ]
    for files, status in cases:
        response = client.post(
            url, files=files or None, data={} if files else {"x": "1"}, headers=headers
        )
        assert response.status_code == status, response.text
        if status == 400:  # the sixth photo: the project's sentence, in the grower's language
            assert response.json() == {"detail": TOO_MANY_PHOTOS["fr"]}
        assert store.files() == files_before
        assert seed.session.scalar(select(func.count()).where(Photo.case_id == case.id)) == 0


def test_answered_cases_take_no_more_photos(client: TestClient, seed: Seeder) -> None:
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    case = seed.case(grower)
    staff = bearer(client, specialist)
    client.post("/v1/queue/claim", headers=staff)
    client.post(
        f"/v1/queue/cases/{case.id}/decisions",
        json={"action": "answer", "message": "Ce n'est pas un ravageur."},
        headers=staff,
    )
    response = client.post(
        f"/v1/cases/{case.id}/photos", files=[("photos", _jpeg(3))], headers=bearer(client, grower)
    )
    assert response.status_code == 409


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_specialist_requests_are_rate_limited_per_user(
    client: TestClient, seed: Seeder, api_settings: ApiSettings
) -> None:
    limit = api_settings.specialist_requests_per_day
    grower, neighbour = seed.user(Role.GROWER), seed.user(Role.GROWER)
    identifications = [
        seed.identification(grower, decision=Decision.ACCEPTED) for _ in range(limit + 1)
    ]
    headers = bearer(client, grower)
    for identification in identifications[:limit]:
        url = f"/v1/identifications/{identification.id}/case"
        assert client.post(url, json={}, headers=headers).status_code == 201
    url = f"/v1/identifications/{identifications[-1].id}/case"
    response = client.post(url, json={}, headers=headers)
    assert response.status_code == 429
    assert "au plus 20 par 24 heures" in response.json()["detail"]
    assert 0 < int(response.headers["retry-after"]) <= 86400
    assert seed.session.scalar(select(func.count()).select_from(Case)) == limit
    # Another user is not affected.
    other = seed.identification(neighbour, decision=Decision.ACCEPTED)
    response = client.post(
        f"/v1/identifications/{other.id}/case", json={}, headers=bearer(client, neighbour)
    )
    assert response.status_code == 201


def test_a_phone_asks_only_for_the_cases_changed_since_its_last_sync(
    client: TestClient, seed: Seeder
) -> None:
    grower = seed.user(Role.GROWER)
    earlier = datetime(2026, 1, 1, tzinfo=UTC)
    old, new = seed.case(grower, opened_at=earlier), seed.case(grower)
    old.updated_at = earlier
    seed.session.commit()
    headers = bearer(client, grower)
    everything = client.get("/v1/cases", headers=headers)
    assert [c["id"] for c in everything.json()] == [new.id, old.id]  # the plain list, as before
    changed = client.get("/v1/cases", params={"since": "2026-06-01T00:00:00Z"}, headers=headers)
    assert [c["id"] for c in changed.json()] == [new.id]
    assert len(client.get("/v1/cases", params={"limit": 1}, headers=headers).json()) == 1
    identifications = client.get(
        "/v1/identifications", params={"since": "2999-01-01T00:00:00Z"}, headers=headers
    )
    assert identifications.status_code == 200 and identifications.json() == []
    refused = client.get("/v1/cases", params={"since": "yesterday"}, headers=headers)
    assert refused.status_code == 422  # in the account's language, French
    assert refused.json()["detail"] == (
        "champ « since » : donnez une date et une heure ISO 8601 (2026-06-14T15:02:11Z), "
        "années 1900 à 2999"
    )
