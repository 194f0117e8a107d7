"""Errors as clients see them: a server failure is a JSON 5xx that the access log and the metrics
count; dates are read as UTC or refused with a 422, never a 500; the OpenAPI schema lists the
errors the service really answers, in their real shapes."""

import json
import logging
import re
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.logs import JsonFormatter
from api.models import Role
from model.result import Decision
from tests.api_support import Seeder, bearer
from tests.helpers import jpeg_bytes, textured_image

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_server_error_is_a_json_500_logged_and_counted(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        caplog.at_level(logging.INFO, logger="api.access"),
    ):
        response = client.get("/broken", headers={"X-Request-ID": "req-42"})
        metrics = client.get("/metrics").text
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert "req-42" in response.json()["detail"] and response.headers["x-request-id"] == "req-42"
    assert 'iriis_http_requests_total{method="GET",route="/broken",status="500"} 1.0' in metrics
    record = next(r for r in caplog.records if r.name == "api.access" and "/broken" in r.message)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["status"] == 500 and entry["level"] == "ERROR" and entry["request_id"] == "req-42"


def test_dates_without_a_zone_are_utc_and_years_out_of_range_a_422(
    client: TestClient, seed: Seeder
) -> None:
    grower, researcher = seed.user(Role.GROWER), seed.user(Role.RESEARCHER)
    made = datetime(2026, 6, 14, 12, 0, tzinfo=UTC)
    identification = seed.identification(grower, "potato.late_blight", 0.97, Decision.ACCEPTED)
    identification.created_at = made  # made at noon UTC
    seed.session.commit()
    headers, research = bearer(client, grower), bearer(client, researcher)

    def listed(query: str) -> int:
        response = client.get(f"/v1/identifications?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return len(response.json())

    assert listed("since=2026-06-14T11:59:00") == 1  # UTC, not the server's zone
    assert listed("since=2026-06-14T12:01:00") == 0
    assert client.get("/v1/cases?since=2026-06-14T11:59:00", headers=headers).status_code == 200
    assert client.get("/v1/export?since=2026-06-14T11:59:00", headers=research).status_code == 200

    refused = {  # in the accounts' language, French
        "0001-01-01T00:00:00Z": "années 1900 à 2999",
        "0001-01-01T00:00:00": "années 1900 à 2999",
        "9999-12-31T23:00:00-05:00": "années 1900 à 2999",
        "1700000000": "ISO 8601",  # a Unix time, which the schema does not admit
    }
    photo = [("photos", ("p.jpg", jpeg_bytes(textured_image(1)), "image/jpeg"))]
    for value, words in refused.items():
        for path in ("/v1/identifications?since=", "/v1/cases?since="):
            response = client.get(path + value, headers=headers)
            assert response.status_code == 422 and words in response.json()["detail"], path
        response = client.get(f"/v1/export?since={value}", headers=research)
        assert response.status_code == 422 and words in response.json()["detail"]
        response = client.post(
            "/v1/identifications", headers=headers, files=photo, data={"observed_at": value}
        )
        assert response.status_code == 422 and "observed_at" in response.json()["detail"]


def test_a_405_allows_every_method_of_the_path(client: TestClient) -> None:
    response = client.request("OPTIONS", "/v1/users")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"  # GET /v1/users hid POST /v1/users
    assert response.json()["detail"] == "OPTIONS n'est pas permis ici ; utilisez GET ou POST"
    english = client.request("OPTIONS", "/v1/users", headers={"Accept-Language": "en"})
    assert english.json()["detail"] == "OPTIONS is not allowed here; use GET or POST"
    # /v1/users/me is a path of its own: PATCH /v1/users/{user_id} matches it, but is not its.
    assert client.request("OPTIONS", "/v1/users/me").headers["allow"] == "DELETE, GET, PATCH"


def test_openapi_lists_the_real_400_and_422(app: FastAPI, client: TestClient) -> None:
    schema = app.openapi()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            if "422" in responses:
                content = responses["422"]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/ValidationErrorOut"}, where
            if "requestBody" in operation:
                assert "400" in responses, where
            for media, body in operation.get("requestBody", {}).get("content", {}).items():
                reference = body["schema"]["$ref"].rsplit("/", 1)[-1]
                for name, field in components[reference].get("properties", {}).items():
                    # A form field is sent or left out: "null" would be the text null.
                    assert {"type": "null"} not in field.get("anyOf", ()) or "json" in media, (
                        where,
                        name,
                    )
    # What the schema says is what comes back.
    malformed = client.post(
        "/v1/auth/register", content=b"\xff{", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400 and isinstance(malformed.json()["detail"], str)
    invalid = client.post("/v1/auth/register", json={"username": "ab"})
    assert invalid.status_code == 422 and isinstance(invalid.json()["detail"], str)
    assert {tuple(error["loc"]) for error in invalid.json()["errors"]} >= {("body", "password")}


def test_the_schemas_text_rules_are_the_services(app: FastAPI) -> None:
    """Blank is what str.strip() removes, \\x1c included, which JSON Schema's \\s is not."""
    components = app.openapi()["components"]["schemas"]
    message = re.compile(components["DecisionIn"]["properties"]["message"]["pattern"])
    assert message.search("\x1c\x1c \u3000") is None and message.search(" ok ")
    username = re.compile(components["RegisterIn"]["properties"]["username"]["pattern"])
    assert username.search("\x1cferme.roy\x85") and not username.search("ferme roy")
    label = components["DecisionIn"]["then"]["properties"]["label"]
    assert "apple.scab" in label["enum"]  # a decision's label is one of the catalog's


def test_a_cell_of_zero_degrees_is_refused(client: TestClient, seed: Seeder) -> None:
    headers = bearer(client, seed.user(Role.GROWER))
    response = client.get("/v1/surveillance?cell=0", headers=headers)  # was the base cell
    assert response.status_code == 422 and "multiple entier de 0,1°" in response.json()["detail"]
