"""Photo files of a failed request never stay: a real server process killed (SIGKILL) between
writing an upload's photos and committing their rows leaves files that the sweep removes once
they are older than its grace period, with the temporary files a killed write leaves; with the
database down the sweep removes nothing and tries again later."""

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from api.db import make_engine, session_factory
from api.models import Role
from api.photostore import SWEEP_GRACE_S, FolderStore, prepare
from api.services.photos import PhotoSweeper, sweep_photos
from api.services.uploads import stored
from api.settings import ApiSettings
from mobile.localserver import LocalServer
from model.catalog import Catalog
from model.settings import Settings
from tests.api_support import Seeder
from tests.helpers import jpeg_bytes, textured_image

PASSWORD = "un champ de pommiers"
LONG_AGO = time.time() - 2 * SWEEP_GRACE_S


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.05)


def _aged(*paths: Path) -> None:
    for path in paths:
        os.utime(path, (LONG_AGO, LONG_AGO))


def test_a_server_killed_before_its_commit_leaves_no_file_for_long(
    tmp_path: Path, settings: Settings
) -> None:
    home = tmp_path / "server"
    server = LocalServer(home, settings.bundles_dir).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            account = {"username": "ferme.gagnon", "password": PASSWORD, "role": "grower"}
            assert client.post("/v1/auth/register", json=account).status_code == 201
            token = client.post("/v1/auth/token", data=account).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}

            def upload(seed: int) -> httpx.Response:
                photo = jpeg_bytes(textured_image(seed))
                files = [("photos", ("p.jpg", photo, "image/jpeg"))]
                return client.post("/v1/identifications", headers=headers, files=files)

            assert upload(1).status_code == 201  # committed: its photo must stay
            store = FolderStore(home / "photos")
            kept = store.files()
            # The database's writer lock held: the next upload writes its photo, then waits
            # for its commit, and the server is killed there.
            lock = sqlite3.connect(home / "iriis.db", isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            outcome: list[object] = []

            def doomed() -> None:
                try:
                    outcome.append(upload(2))
                except httpx.HTTPError as exc:
                    outcome.append(exc)

            waiting = threading.Thread(target=doomed)
            waiting.start()
            _until(lambda: len(store.files()) > len(kept), 60, "the upload's photo on disk")
            server.kill()
            waiting.join(10)
            lock.rollback()
            lock.close()
            assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError), outcome
        left = [path for path in store.files() if path not in kept]
        assert len(left) == 1  # the file nothing references: what the kill leaves
        part = left[0].parent / "tmp1234.part"  # what a kill during a write leaves
        part.write_bytes(b"half a photo")
        fresh = left[0].parent / "tmp5678.part"  # a write under way: within the grace period
        fresh.write_bytes(b"a photo being written")
        _aged(*kept, *left, part)
        server.start()  # the sweep runs at start
        _until(lambda: not left[0].exists() and not part.exists(), 30, "the sweep")
        assert store.files() == kept and fresh.exists()
    finally:
        server.stop()


@pytest.fixture
def sweep_store(tmp_path: Path, sqlite_engine: Engine, catalog: Catalog) -> tuple[Seeder, Path]:
    """A store with a referenced photo and an unreferenced one, both past the grace period,
    and an unreferenced one within it; the path of the old unreferenced one."""
    store = FolderStore(tmp_path / "photos")
    seed = Seeder(session_factory(sqlite_engine)(), store, catalog)
    seed.identification(seed.user(Role.GROWER))
    orphan, recent = (prepare(jpeg_bytes(textured_image(n))) for n in (90, 91))
    store.put(orphan)
    store.put(recent)
    _aged(*(path for path in store.files() if path != store.path(recent.sha256)))
    return seed, store.path(orphan.sha256)


def _dead_database() -> sessionmaker[Session]:
    """Sessions on a PostgreSQL server that is not there (as during a restart)."""
    url = "postgresql+psycopg://iriis@127.0.0.1:9/iriis?connect_timeout=1"
    return session_factory(make_engine(url))


def test_the_sweep_removes_nothing_while_the_database_is_down(
    sweep_store: tuple[Seeder, Path],
) -> None:
    seed, orphan = sweep_store
    files = seed.store.files()
    assert sweep_photos(_dead_database(), store=seed.store) is None
    assert seed.store.files() == files
    assert sweep_photos(session_factory(seed.session.get_bind()), store=seed.store) == 1
    assert not orphan.exists() and len(seed.store.files()) == len(files) - 1


def test_the_sweeper_tries_again_after_a_failed_round(sweep_store: tuple[Seeder, Path]) -> None:
    seed, orphan = sweep_store
    tries: list[int] = []
    working = session_factory(seed.session.get_bind())

    def flaky() -> Session:  # down for the first round, back for the next
        tries.append(1)
        if len(tries) == 1:
            raise OperationalError("connect", {}, ConnectionRefusedError("restarting"))
        return working()

    sweeper = PhotoSweeper(flaky, seed.store, interval_s=0.05)  # type: ignore[arg-type]
    sweeper.start()
    try:
        _until(lambda: not orphan.exists(), 10, "the second round")
    finally:
        sweeper.stop()
    assert len(tries) >= 2 and len(seed.store.files()) == 2


def test_a_photo_another_requests_clean_up_removed_before_this_one_committed_is_written_again(
    db: Session, api_settings: ApiSettings
) -> None:
    store = FolderStore(api_settings.photos_dir)
    photo = prepare(jpeg_bytes(textured_image(21)))
    store.put(photo)  # a first request's, still running
    with stored(db, store=store, photos=[photo]):  # the second finds it stored
        store.discard(photo.sha256)  # the first fails: its clean-up sees no row yet
        db.commit()  # the second commits its rows
    assert store.written_at(photo.sha256) is not None
    assert store.read(photo.sha256) == photo.data
