"""Outages are answered 503 with ``Retry-After``, never 500 (``api.outages``): a photo store that
cannot take a photo (a real read-only folder) keeps nothing of the refused request and takes its
retry once freed; a database that does not answer is a 503 too, the error's language looked up
without it; a bug of the database layer is still a 500."""

import socket
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from api.app import create_app
from api.db import make_engine
from api.models import Identification
from api.outages import DATABASE_RETRY_AFTER_S, STORE_DOWN, STORE_RETRY_AFTER_S, outage
from api.photostore import PhotoStore, prepare
from api.security import ACCESS, create_token
from api.settings import ApiSettings
from tests.api_support import Seeder, bearer
from tests.fault_support import read_only
from tests.helpers import jpeg_bytes, textured_image

on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@on_sqlite
def test_a_read_only_store_is_a_503_that_keeps_nothing_and_its_retry_works(
    client: TestClient, seed: Seeder, store: PhotoStore, db: Session
) -> None:
    headers = bearer(client, seed.user())
    photos = [jpeg_bytes(textured_image(n)) for n in (1, 2)]
    files = [("photos", (f"{n}.jpg", photo, "image/jpeg")) for n, photo in enumerate(photos)]
    form = {"client_id": "outbox-entry-0001"}
    # The first photo's folder takes it, the second's cannot be made: the first is removed again.
    first, second = (store.path(prepare(photo).sha256).parent for photo in photos)
    assert first != second
    first.mkdir(parents=True)
    with read_only(store.root):
        refused = client.post("/v1/identifications", headers=headers, files=files, data=form)
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == str(STORE_RETRY_AFTER_S)
    assert refused.json()["detail"] in STORE_DOWN.values()
    assert store.files() == [] and list(store.root.rglob("*.part")) == []
    assert db.scalar(select(func.count()).select_from(Identification)) == 0
    retried = client.post("/v1/identifications", headers=headers, files=files, data=form)
    assert retried.status_code == 201, retried.text
    assert len(store.files()) == 2


@on_sqlite
def test_a_database_that_does_not_answer_is_a_503(api_settings: ApiSettings) -> None:
    nowhere = "postgresql+psycopg://iriis@127.0.0.1:9/iriis?connect_timeout=1"
    app = create_app(api_settings.model_copy(update={"database_url": nowhere}))
    # A signed-in request: the error's language is looked up in the database that is down.
    token = create_token(app.state.secret_key, 1, ACCESS, timedelta(minutes=5))
    with TestClient(app) as client:
        responses = [
            client.post("/v1/auth/token", data={"username": "a", "password": "b"}),
            client.get("/v1/identifications", headers={"Authorization": f"Bearer {token}"}),
        ]
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_S)


def test_a_failed_statement_is_no_outage() -> None:
    broken = IntegrityError("INSERT ...", {}, Exception("duplicate key"))
    assert outage(broken) is None
    cut = OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    cut.connection_invalidated = True
    assert outage(cut) is not None


def test_a_database_host_that_never_answers_fails_a_connection_instead_of_hanging() -> None:
    # A listener that accepts and never speaks, as a host dropping packets behind a firewall
    # looks to a client: without a connect timeout the request would hang (the test's timeout).
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        engine = make_engine(f"postgresql+psycopg://iriis@127.0.0.1:{port}/iriis")
        with pytest.raises(OperationalError) as raised:
            engine.connect()
        engine.dispose()
    assert outage(raised.value) is not None
