"""The authorization matrix: every route of the API, for every role.

``MATRIX`` lists each route with who may use it: ``ALL`` (any signed-in user), a set of roles
(everyone else gets 403), or ``OWNER`` (object-level: only the owner, and the staff roles named,
get it; anyone else gets 404, which does not even confirm that the object exists). A route
missing from the matrix fails the test, so a new route cannot ship without its rule.
"""

from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from api.models import Role
from api.services import queue
from api.settings import ApiSettings
from tests.api_support import PASSWORD, Seeder, bearer
from tests.helpers import jpeg_bytes, textured_image

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ALL = frozenset(Role)
PUBLIC = "public"


@dataclass(frozen=True)
class Owner:
    """Object-level: the owner, plus these staff roles."""

    staff: frozenset[Role] = frozenset()


OWNER = Owner()
SPECIALIST = frozenset({Role.SPECIALIST})
STAFF = frozenset({Role.SPECIALIST, Role.ADMIN})

MATRIX: dict[tuple[str, str], frozenset[Role] | Owner | str] = {
    ("POST", "/v1/auth/token"): PUBLIC,
    ("POST", "/v1/auth/refresh"): PUBLIC,
    ("POST", "/v1/auth/register"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/v1/users/me"): ALL,
    ("PATCH", "/v1/users/me"): ALL,
    ("DELETE", "/v1/users/me"): ALL,  # with the account's password
    ("GET", "/v1/users"): frozenset({Role.ADMIN}),
    ("POST", "/v1/users"): frozenset({Role.ADMIN}),
    ("PATCH", "/v1/users/{user_id}"): frozenset({Role.ADMIN}),
    ("POST", "/v1/users/{user_id}/unlock"): frozenset({Role.ADMIN}),
    ("DELETE", "/v1/users/{user_id}"): frozenset({Role.ADMIN}),  # with the account's username
    ("POST", "/v1/identifications"): ALL,
    ("GET", "/v1/identifications"): ALL,
    ("GET", "/v1/identifications/{identification_id}"): OWNER,
    ("POST", "/v1/identifications/{identification_id}/case"): OWNER,
    ("GET", "/v1/cases"): ALL,
    ("GET", "/v1/cases/{case_id}"): OWNER,
    ("POST", "/v1/cases/{case_id}/photos"): OWNER,
    ("GET", "/v1/photos/{sha256}"): Owner(frozenset({Role.SPECIALIST, Role.RESEARCHER})),
    ("GET", "/v1/queue"): SPECIALIST,
    ("POST", "/v1/queue/claim"): SPECIALIST,
    ("GET", "/v1/queue/cases/{case_id}"): SPECIALIST,
    ("POST", "/v1/queue/cases/{case_id}/claim"): SPECIALIST,
    ("POST", "/v1/queue/cases/{case_id}/release"): SPECIALIST,
    ("POST", "/v1/queue/cases/{case_id}/decisions"): SPECIALIST,
    ("PUT", "/v1/queue/cases/{case_id}/references/{sha256}"): SPECIALIST,
    ("DELETE", "/v1/queue/cases/{case_id}/references/{sha256}"): SPECIALIST,
    ("GET", "/v1/export"): frozenset({Role.RESEARCHER, Role.ADMIN}),
    ("GET", "/v1/export/dwca"): frozenset({Role.RESEARCHER, Role.ADMIN}),
    ("GET", "/v1/surveillance"): ALL,
    ("GET", "/v1/alerts"): STAFF,
    ("GET", "/v1/alerts/feed"): STAFF,
    ("POST", "/v1/alerts/feed-key"): STAFF,
    ("DELETE", "/v1/alerts/feed-key"): STAFF,
    ("GET", "/v1/models/latest"): ALL,
    ("GET", "/v1/models/{version}/files/{name}"): ALL,
    ("GET", "/v1/gallery/thumbnails/{photo_id}"): ALL,
    ("GET", "/v1/lab/capacity"): ALL,
    ("PUT", "/v1/lab/capacity"): frozenset({Role.ADMIN}),
    ("GET", "/v1/lab/watchlist"): ALL,
    ("GET", "/v1/lab/wait"): ALL,
    ("PUT", "/v1/lab/watchlist/{label}"): frozenset({Role.ADMIN}),
    ("DELETE", "/v1/lab/watchlist/{label}"): frozenset({Role.ADMIN}),
}


def _photo() -> tuple[str, bytes, str]:
    return ("leaf.jpg", jpeg_bytes(textured_image(42)), "image/jpeg")


def test_the_matrix_covers_every_route(app: FastAPI) -> None:
    routes = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if not path.startswith("/lab")  # the specialists' pages have their own tests
    }
    assert routes == set(MATRIX)


def test_every_role_gets_exactly_what_the_matrix_grants(
    client: TestClient, seed: Seeder, api_settings: ApiSettings, catalog
) -> None:
    owner = seed.user(Role.GROWER)
    users = {role: seed.user(role) for role in Role}
    case = seed.case(owner)
    answered = seed.case(owner)
    queue.claim(
        seed.session, case=answered, specialist=users[Role.SPECIALIST], settings=api_settings
    )
    queue.decide(
        seed.session,
        case=answered,
        specialist=users[Role.SPECIALIST],
        action="confirm",
        label=None,
        message="Oui.",
        catalog=catalog,
    )
    sha = answered.identification.photos[0].sha256
    headers = {role: bearer(client, user) for role, user in users.items()}
    headers_owner = bearer(client, owner)
    model = client.get("/v1/models/latest", headers=headers_owner)
    version = model.json()["version"] if model.status_code == 200 else "none"

    def call(method: str, path: str, auth: dict[str, str]) -> Response:
        url = path.format(
            user_id=owner.id,
            identification_id=case.identification_id,
            case_id=case.id,
            sha256=sha,
            version=version,
            name="labels.json",
            photo_id="0" * 16,
            label="apple.scab",
        )
        kwargs: dict[str, object] = {}
        if path.endswith("/photos") or (path == "/v1/identifications" and method == "POST"):
            kwargs["files"] = [("photos", _photo())]
        elif path.endswith("/decisions"):
            kwargs["json"] = {"action": "answer", "message": "Voir le guide."}
        elif path == "/v1/users" and method == "POST":
            kwargs["json"] = {
                "username": f"new.{len(auth)}",
                "password": PASSWORD,
                "role": "citizen",
            }
        elif method in ("POST", "PATCH"):
            kwargs["json"] = {}
        return client.request(method, url, headers=auth, **kwargs)  # type: ignore[arg-type]

    checked: list[tuple[str, str, str, int]] = []
    for (method, path), rule in MATRIX.items():
        if rule == PUBLIC:
            continue
        for role, auth in headers.items():
            response = call(method, path, auth)
            status = response.status_code
            checked.append((method, path, role, status))
            if isinstance(rule, Owner):
                allowed = role in rule.staff
                assert (status == 404) != allowed, (method, path, role, status, response.text)
            else:
                assert (status == 403) != (role in rule), (method, path, role, status)
            assert status < 500 or status == 503, (method, path, role, status, response.text)
        if isinstance(rule, Owner):
            status = call(method, path, headers_owner).status_code
            assert status not in (401, 403, 404), (method, path, "owner", status)
    assert len(checked) == len(Role) * sum(rule != PUBLIC for rule in MATRIX.values())
