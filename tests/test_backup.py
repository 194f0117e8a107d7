"""Backup and restore (``api.services.backup``): a backup taken while the service writes from
another thread restores, into a new SQLite home and into a new PostgreSQL schema, exactly the
rows of one moment and every photo they name; damaged, misplaced or clashing backups are
refused."""

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.db import make_engine, session_factory, upgrade
from api.models import Base, Identification, Photo, Role, User
from api.photostore import FolderStore, PhotoStore
from api.services.backup import BackupError, Manifest, backup, restore
from api.services.users import create_user
from api.settings import ApiSettings
from model.catalog import Catalog
from tests.api_support import Seeder, postgres_schema

PHOTOS_EACH = 2  # every identification of these tests carries two photos


def _rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as connection:
        return {
            table.name: [
                dict(row._mapping)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


def _key(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    primary = Base.metadata.tables[table].primary_key.columns
    return tuple(row[column.name] for column in primary)


class Writer(threading.Thread):
    """The service at work: identifications with their photos, one commit each, until
    stopped."""

    def __init__(self, engine: Engine, store: PhotoStore, catalog: Catalog, user_id: int):
        super().__init__(daemon=True)
        self.seed = Seeder(session_factory(engine)(), store, catalog, counter=1000)
        self.user_id = user_id
        self.commits = 0
        self.stopped = threading.Event()
        self.progress = threading.Condition()

    def run(self) -> None:
        with self.seed.session:
            user = self.seed.session.get_one(User, self.user_id)
            while not self.stopped.is_set():
                self.seed.identification(user, location=(46.8, -71.2), photos=PHOTOS_EACH)
                with self.progress:
                    self.commits += 1
                    self.progress.notify_all()

    def wait_for(self, commits: int) -> None:
        with self.progress:
            assert self.progress.wait_for(lambda: self.commits >= commits, timeout=60)


@pytest.fixture(params=["folder", pytest.param("s3", marks=pytest.mark.slow)])
def source_store(request: pytest.FixtureRequest, tmp_path: Path) -> PhotoStore:
    if request.param == "folder":
        return FolderStore(tmp_path / "source" / "photos")
    store: PhotoStore = request.getfixturevalue("s3_store")
    return store


@pytest.fixture
def targets(tmp_path: Path) -> Iterator[list[tuple[str, Engine, FolderStore]]]:
    """Two empty, migrated services to restore into: a new SQLite home and a new PostgreSQL
    schema, each with its photo folder."""
    sqlite = make_engine(f"sqlite:///{tmp_path / 'restored' / 'iriis.db'}")
    upgrade(sqlite)
    with postgres_schema() as url:
        postgres = make_engine(url)
        yield [
            ("sqlite", sqlite, FolderStore(tmp_path / "restored" / "photos")),
            ("postgresql", postgres, FolderStore(tmp_path / "restored-pg" / "photos")),
        ]
        postgres.dispose()
    sqlite.dispose()


def test_a_backup_taken_while_the_service_writes_restores_one_moment_whole(
    tmp_path: Path,
    engine: Engine,
    catalog: Catalog,
    api_settings: ApiSettings,
    source_store: PhotoStore,
    targets: list[tuple[str, Engine, FolderStore]],
) -> None:
    with session_factory(engine)() as session:
        seed = Seeder(session, source_store, catalog)
        grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
        for _ in range(3):
            seed.identification(grower, location=(46.81, -71.21), photos=PHOTOS_EACH)
        case = seed.case(grower, photos=PHOTOS_EACH)
        seed.answer(case, specialist, api_settings, action="correct", label="apple.black_rot")
    writer = Writer(engine, source_store, catalog, grower.id)
    writer.start()
    try:
        writer.wait_for(2)
        manifest = backup(engine, source_store, tmp_path / "backup")
        writer.wait_for(writer.commits + 2)  # it went on writing after the snapshot
    finally:
        writer.stopped.set()
        writer.join(60)
    source = _rows(engine)
    taken = manifest.tables[Identification.__tablename__]["rows"]
    assert 4 + 2 <= taken < len(source["identifications"])
    assert len(manifest.photos) == len({row["sha256"] for row in source["photos"][: taken * 2]})

    for name, target, store in targets:
        assert restore(tmp_path / "backup", target, store) == Manifest.read(tmp_path / "backup")
        restored = _rows(target)
        for table, rows in restored.items():
            assert len(rows) == manifest.tables[table]["rows"], (name, table)
            # the source's rows of that moment, unchanged (the writer only adds)
            earlier = {_key(table, row): row for row in source[table]}
            assert rows == [earlier[_key(table, row)] for row in rows], (name, table)
        # One moment: every identification with all its photos, none with part of them.
        with Session(target) as session:
            for identification in session.scalars(select(Identification)):
                assert len(identification.photos) == PHOTOS_EACH, name
            assert store.hashes() == sorted(set(session.scalars(select(Photo.sha256))))
            # the service goes on: new rows take new ids (PostgreSQL's sequences continued)
            added = create_user(session, username="after.restore", password="x" * 12, role="grower")
            assert added.id > max(row["id"] for row in restored["users"])


def test_a_backup_refuses_an_existing_folder_and_leaves_no_partial_one(
    tmp_path: Path, sqlite_engine: Engine, catalog: Catalog
) -> None:
    store = FolderStore(tmp_path / "photos")
    (tmp_path / "taken").mkdir()
    with pytest.raises(BackupError, match="new folder"):
        backup(sqlite_engine, store, tmp_path / "taken")
    # A row whose photo is not in the store (as when an erasure removes it after the snapshot).
    with session_factory(sqlite_engine)() as session:
        seed = Seeder(session, FolderStore(tmp_path / "elsewhere"), catalog)
        seed.identification(seed.user(Role.GROWER))
    with pytest.raises(BackupError, match="run the backup again"):
        backup(sqlite_engine, store, tmp_path / "failed")
    assert not (tmp_path / "failed").exists() and not (tmp_path / "failed.partial").exists()


def test_a_restore_refuses_a_damaged_backup_and_a_database_in_use(
    tmp_path: Path, sqlite_engine: Engine, catalog: Catalog
) -> None:
    store = FolderStore(tmp_path / "photos")
    with session_factory(sqlite_engine)() as session:
        seed = Seeder(session, store, catalog)
        seed.identification(seed.user(Role.GROWER))
    backup(sqlite_engine, store, tmp_path / "backup")
    with pytest.raises(BackupError, match="not empty"):
        restore(tmp_path / "backup", sqlite_engine, store)
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(fresh)
    users = tmp_path / "backup" / "tables" / "users.jsonl"
    users.write_text(users.read_text().replace("grower", "admin"))
    with pytest.raises(BackupError, match="damaged"):
        restore(tmp_path / "backup", fresh, FolderStore(tmp_path / "fresh-photos"))
    assert _rows(fresh)["users"] == []
    fresh.dispose()
