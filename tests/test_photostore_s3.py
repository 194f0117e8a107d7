"""The service with its photos in a real SeaweedFS (``IRIIS_PHOTOS_URL=s3://...``): uploads land
in the bucket and are served back from it; a store killed in the middle of an upload leaves
nothing half-written and no row, answers a 503 with ``Retry-After``, and the retry after it
comes back works."""

import hashlib
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.app import create_app
from api.db import session_factory
from api.models import Identification, Photo, Role
from api.photostore import prepare
from api.photostore_s3 import S3Store
from api.services.users import create_user
from api.settings import ApiSettings
from tests.api_support import PASSWORD, bearer
from tests.helpers import jpeg_bytes, textured_image
from tests.mobile_support import Fault, FaultProxy
from tests.seaweed_support import Seaweed

pytestmark = pytest.mark.slow


@contextmanager
def _client(tmp_path: Path, engine: Engine, photos_url: str) -> Iterator[TestClient]:
    settings = ApiSettings(
        home=tmp_path / "home",
        database_url=engine.url.render_as_string(hide_password=False),
        secret_key="test secret key, not for production use",
        photos_url=photos_url,
    )
    with session_factory(engine)() as session:
        create_user(session, username="ferme.gagnon", password=PASSWORD, role=Role.GROWER)
    with TestClient(create_app(settings)) as client:
        yield client


def _upload(
    client: TestClient, headers: dict[str, str], photo: bytes, client_id: str
) -> httpx.Response:
    return client.post(
        "/v1/identifications",
        headers=headers,
        files=[("photos", ("leaf.jpg", photo, "image/jpeg"))],
        data={"client_id": client_id},
    )


def _rows(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Identification, Photo)
        )


def test_uploads_are_stored_in_the_bucket_and_served_from_it(
    tmp_path: Path, sqlite_engine: Engine, seaweed: Seaweed, seaweed_bucket: str
) -> None:
    url = seaweed.url(seaweed_bucket, prefix=f"api-{uuid.uuid4().hex[:8]}")
    bucket = S3Store.from_url(url)
    photo = jpeg_bytes(textured_image(11))
    sha256 = prepare(photo).sha256
    with _client(tmp_path, sqlite_engine, url) as client:
        headers = bearer(client, "ferme.gagnon")
        assert _upload(client, headers, photo, str(uuid.uuid4())).status_code == 201
        assert bucket.hashes() == [sha256]
        assert not (tmp_path / "home" / "photos").exists()  # nothing in the local folder
        served = client.get(f"/v1/photos/{sha256}", headers=headers)
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        assert hashlib.sha256(served.content).hexdigest() == sha256
        assert served.headers["etag"] == f'"{sha256}"'
        cached = client.get(
            f"/v1/photos/{sha256}", headers={**headers, "If-None-Match": served.headers["etag"]}
        )
        assert cached.status_code == 304 and cached.content == b""


def test_a_store_killed_mid_upload_keeps_nothing_answers_503_and_the_retry_works(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    """The store (a SeaweedFS of this test's own) is killed with SIGKILL while the photo's PUT
    is half sent, held there by a proxy between the service and the store."""
    store = Seaweed(tmp_path / "seaweed").start()
    proxy = FaultProxy(store.ports["s3.port"])
    try:
        bucket = store.bucket()
        direct = S3Store.from_url(store.url(bucket))
        through_proxy = store.url(bucket).replace(store.endpoint, proxy.url)
        photo, client_id = jpeg_bytes(textured_image(12)), str(uuid.uuid4())
        sha256 = prepare(photo).sha256
        with _client(tmp_path, sqlite_engine, through_proxy) as client:
            headers = bearer(client, "ferme.gagnon")
            held = proxy.inject(Fault("hold", "PUT ", after=len(photo) // 4))

            def kill_when_held() -> None:
                assert held.reached.wait(60), "the photo's PUT never reached the store"
                store.kill()
                held.release.set()

            killer = threading.Thread(target=kill_when_held)
            killer.start()
            refused = _upload(client, headers, photo, client_id)
            killer.join(60)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0 and refused.json()["detail"]
            assert _rows(sqlite_engine) == (0, 0)

            store.start()  # the same data, the same ports
            assert direct.hashes() == []  # the half-sent photo was never written
            retried = _upload(client, headers, photo, client_id)
            assert retried.status_code == 201, retried.text
            assert _rows(sqlite_engine) == (1, 1)
            assert direct.hashes() == [sha256]
            assert hashlib.sha256(direct.read(sha256)).hexdigest() == sha256

            store.kill()  # the store out while its photo is asked for: a 503, not a 404
            out = client.get(f"/v1/photos/{sha256}", headers=headers)
            assert out.status_code == 503 and int(out.headers["Retry-After"]) > 0, out.text
    finally:
        proxy.close()
        store.kill()
