"""Operations: health, readiness, metrics, structured logs, the OpenAPI schema, migrations."""

import json
import logging

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.logs import JsonFormatter
from api.models import Base, Role
from api.services import queue
from api.settings import ApiSettings
from tests.api_support import Seeder, bearer


def test_migrations_build_exactly_the_models_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_health_readiness_and_metrics(
    client: TestClient, seed: Seeder, api_settings: ApiSettings, catalog
) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.json()["database"] == "ok"
    assert (ready.status_code == 200) == (ready.json()["model"] != "missing")
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    cases = [seed.case(grower) for _ in range(3)]
    queue.claim(seed.session, case=cases[0], specialist=specialist, settings=api_settings)
    queue.decide(
        seed.session,
        case=cases[0],
        specialist=specialist,
        action="confirm",
        label=None,
        message="Oui.",
        catalog=catalog,
    )
    client.get("/v1/cases", headers=bearer(client, grower))
    text = client.get("/metrics").text
    assert "iriis_queue_length 2.0" in text
    assert 'iriis_queue_length_by_tier{tier="1"} 2.0' in text
    assert 'iriis_queue_length_by_tier{tier="0"} 0.0' in text
    assert "iriis_answered_today 1.0" in text
    assert f"iriis_capacity_cases_per_day {float(api_settings.cases_per_day)}" in text
    # three identifications this week, each with its case
    assert "iriis_routed_share 1.0" in text and "iriis_median_hours_to_answer " in text
    assert 'iriis_decisions_total{action="confirm"} 1.0' in text
    assert 'iriis_cases{status="answered"} 1.0' in text
    assert 'iriis_http_requests_total{method="GET",route="/v1/cases",status="200"} 1.0' in text
    assert 'iriis_http_request_duration_seconds_count{method="GET",route="/v1/cases"} 1.0' in text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_access_log_is_one_json_object_per_request(
    client: TestClient, seed: Seeder, caplog: pytest.LogCaptureFixture
) -> None:
    grower = seed.user(Role.GROWER)
    headers = {**bearer(client, grower), "X-Request-ID": "abc123"}
    with caplog.at_level(logging.INFO, logger="api.access"):
        response = client.get("/v1/cases/3f0c2a9e-7b1d-4c55-9a6e-0b8f7d2c1e44", headers=headers)
    assert response.status_code == 404 and response.headers["x-request-id"] == "abc123"
    record = next(r for r in caplog.records if r.name == "api.access")
    entry = json.loads(JsonFormatter().format(record))
    assert entry["route"] == "/v1/cases/{case_id}" and entry["status"] == 404
    assert entry["user_id"] == grower.id and entry["request_id"] == "abc123"
    assert entry["level"] == "INFO" and entry["duration_ms"] >= 0
    assert "Bearer" not in json.dumps(entry)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_openapi_documents_every_operation_with_examples(app: FastAPI) -> None:
    schema = app.openapi()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("description") or operation.get("summary"), where
            assert operation.get("tags"), where
            if path.startswith("/v1/") and path != "/v1/auth/token":
                assert "401" in operation["responses"] or path in (
                    "/v1/auth/refresh",
                    "/v1/auth/register",
                ), where
    for name, component in schema["components"]["schemas"].items():
        if "enum" in component or name.startswith("Body_") or "ValidationError" in name:
            continue  # an enum lists its values; multipart bodies document their fields
        assert component.get("examples"), f"schema {name} has no example"
    security = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert security["flows"]["password"]["tokenUrl"] == "/v1/auth/token"
