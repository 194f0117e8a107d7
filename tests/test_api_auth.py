"""Accounts and tokens through the HTTP API: registration, sign-in, refresh, expiry, roles."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.models import Role, User
from api.security import ACCESS, REFRESH, create_token
from tests.api_support import PASSWORD, Seeder, bearer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Every route but these requires a token.
PUBLIC = {
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/register"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}


def test_growers_and_citizens_register_themselves_and_sign_in(client: TestClient) -> None:
    for name, role in (("ferme.tremblay", "grower"), ("Jardin.Roy@example.org", "citizen")):
        response = client.post(
            "/v1/auth/register", json={"username": name, "password": PASSWORD, "role": role}
        )
        assert response.status_code == 201, response.text
        assert response.json()["role"] == role
        assert "password" not in response.text
        me = client.get("/v1/users/me", headers=bearer(client, name.lower()))
        assert me.json()["username"] == name.lower()


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        # in French: the language of a request without an account or Accept-Language
        ({"username": "dr.house", "role": "specialist"}, 403, "demandez un autre rôle"),
        ({"username": "root", "role": "admin"}, 403, "demandez un autre rôle"),
        ({"username": "x", "role": "grower"}, 422, "de 3 à 64 caractères"),
        ({"username": "ferme2", "role": "grower", "password": "court"}, 422, "au moins 8"),
        ({"username": "ferme3", "role": "farmer"}, 422, "role"),
    ],
)
def test_registration_refusals_are_clear_and_create_nothing(
    client: TestClient, seed: Seeder, body: dict[str, str], status: int, detail: str
) -> None:
    response = client.post("/v1/auth/register", json={"password": PASSWORD, **body})
    assert response.status_code == status
    answer = response.json()
    assert isinstance(answer["detail"], str) and detail in answer["detail"]  # a sentence
    if detail == "role":  # FastAPI's own validation, in the same shape: a sentence and details
        assert answer["detail"].startswith("champ « role » : doit être ") and answer["errors"]
        english = client.post(
            "/v1/auth/register",
            json={"password": PASSWORD, **body},
            headers={"Accept-Language": "en"},
        ).json()["detail"]
        assert english.startswith("field 'role': Input should be ")
    assert seed.session.scalar(select(func.count()).select_from(User)) == 0


def test_a_taken_username_is_a_conflict(client: TestClient, seed: Seeder) -> None:
    seed.user(Role.GROWER, name="ferme.roy")
    response = client.post(
        "/v1/auth/register", json={"username": "FERME.ROY", "password": PASSWORD, "role": "grower"}
    )
    assert response.status_code == 409 and "déjà pris" in response.json()["detail"]


def test_wrong_credentials_and_disabled_accounts_cannot_sign_in(
    client: TestClient, seed: Seeder
) -> None:
    user = seed.user(Role.GROWER)
    for name, password in ((user.username, "wrong password"), ("nobody", PASSWORD)):
        response = client.post("/v1/auth/token", data={"username": name, "password": password})
        assert response.status_code == 401
        assert response.json() == {"detail": "nom d'utilisateur ou mot de passe incorrect"}
    headers = bearer(client, user)
    user.active = False
    seed.session.commit()
    assert (
        client.post(
            "/v1/auth/token", data={"username": user.username, "password": PASSWORD}
        ).status_code
        == 401
    )
    response = client.get("/v1/users/me", headers=headers)  # a token issued before
    assert response.status_code == 401 and "désactivé" in response.json()["detail"]


def test_tokens_expire_and_refresh(client: TestClient, app: FastAPI, seed: Seeder) -> None:
    user = seed.user(Role.GROWER)
    key = app.state.secret_key
    expired = create_token(key, user.id, ACCESS, timedelta(seconds=-1))
    response = client.get("/v1/users/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "le jeton a expiré ; reconnectez-vous ou renouvelez-le"
    assert response.headers["www-authenticate"] == "Bearer"
    other_key = "another key, thirty-two bytes or more"
    forged = create_token(other_key, user.id, ACCESS, timedelta(minutes=5))
    response = client.get("/v1/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and response.json()["detail"] == "jeton non valide"

    tokens = client.post(
        "/v1/auth/token", data={"username": user.username, "password": PASSWORD}
    ).json()
    # A refresh token is not an access token, and the other way round.
    refresh_as_access = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    assert client.get("/v1/users/me", headers=refresh_as_access).status_code == 401
    wrong = client.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert wrong.status_code == 401
    renewed = client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200
    headers = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert client.get("/v1/users/me", headers=headers).json()["id"] == user.id
    stale = create_token(key, user.id, REFRESH, timedelta(seconds=-1))
    assert client.post("/v1/auth/refresh", json={"refresh_token": stale}).status_code == 401


def test_every_route_but_the_public_ones_needs_a_token(client: TestClient, app: FastAPI) -> None:
    checked = 0
    for path, item in app.openapi()["paths"].items():
        for method in item:
            if (method.upper(), path) in PUBLIC:
                continue
            url = path.replace("{", "").replace("}", "")  # any value: auth comes first
            response = client.request(method.upper(), url)
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked >= 20


def test_admins_grant_roles_and_others_cannot(client: TestClient, seed: Seeder) -> None:
    admin, grower = seed.user(Role.ADMIN), seed.user(Role.GROWER)
    body = {"username": "m.gagnon", "password": PASSWORD, "role": "specialist"}
    assert client.post("/v1/users", json=body, headers=bearer(client, grower)).status_code == 403
    response = client.post("/v1/users", json=body, headers=bearer(client, admin))
    assert response.status_code == 201 and response.json()["role"] == "specialist"
    promoted = client.patch(
        f"/v1/users/{grower.id}", json={"role": "advisor"}, headers=bearer(client, admin)
    )
    assert promoted.json()["role"] == "advisor"
    assert client.get("/v1/users/me", headers=bearer(client, grower)).json()["role"] == "advisor"
    # The last admin cannot remove themselves.
    response = client.patch(
        f"/v1/users/{admin.id}", json={"active": False}, headers=bearer(client, admin)
    )
    assert response.status_code == 409 and "dernier administrateur" in response.json()["detail"]
