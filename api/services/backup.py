"""Backup and restore of the service's state: its database and its photo store, consistent while
the service runs (``iriis backup DEST``, ``iriis restore SRC``).

A backup is a folder::

    manifest.json               written last: what the backup holds, with SHA-256s
    tables/<table>.jsonl        one JSON object per row, in primary key order
    photos/<sha256[:2]>/<sha256>.jpg   every photo a row names (a folder store's layout)

The tables are read in one snapshot transaction (PostgreSQL: REPEATABLE READ, read only; SQLite:
one read transaction, which its write-ahead log keeps at its first read), so that the rows
agree with each other whatever the service writes meanwhile. The photos the snapshot's rows
name are copied after it, through the store's interface (folder or S3) and checked against
their names: photos are content-addressed and a photo no row names is the only kind ever
removed, so every one of them is still there, unless its rows were erased since (then the
backup fails and is run again). The dump is logical, not a database's own format: one backup
restores into SQLite or PostgreSQL alike, from either.

A restore goes into an empty database (migrated to this software's schema, which must be the
backup's) and a store: photos first, then the rows in one transaction (so no row ever names a
missing photo, as in the service), then both are compared with the manifest: every table's row
count, every photo read back with the right hash. The backup is written to ``DEST.partial``
and renamed, so that a folder named ``DEST`` is always a complete backup.
"""

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Date, DateTime, Engine, Table, event, func, select, text

from api.clock import utcnow
from api.db import MIGRATIONS_DIR, make_engine
from api.models import Base, Photo
from api.photostore import FolderStore, PhotoStore, PreparedPhoto

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
_BATCH = 1000  # rows per INSERT


class BackupError(Exception):
    """A backup or restore that cannot be made as asked; the message says why and what to do."""


@dataclass
class Manifest:
    """What a backup holds: ``tables`` maps each table to its rows and its file's SHA-256,
    ``photos`` each photo's SHA-256 to its size in bytes."""

    created_at: str
    database: str  # the dialect it was taken from
    revision: str  # the schema's Alembic revision
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    photos: dict[str, int] = field(default_factory=dict)
    format: int = FORMAT

    @property
    def rows(self) -> int:
        return sum(table["rows"] for table in self.tables.values())

    @property
    def photo_bytes(self) -> int:
        return sum(self.photos.values())

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")

    @classmethod
    def read(cls, folder: Path) -> "Manifest":
        try:
            data = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise BackupError(f"{folder} is not a complete backup: {exc}") from exc
        if data.get("format") != FORMAT:
            raise BackupError(
                f"backup format {data.get('format')} is not this software's ({FORMAT})"
            )
        return cls(**data)


def backup(engine: Engine, store: PhotoStore, dest: Path) -> Manifest:
    """Back up the database behind ``engine`` and the photos its rows name into the new folder
    ``dest``."""
    if dest.exists():
        raise BackupError(f"{dest} exists: a backup goes into a new folder")
    partial = dest.with_name(dest.name + ".partial")
    if partial.exists():
        raise BackupError(f"{partial} exists: a backup was interrupted there; remove it first")
    (partial / "tables").mkdir(parents=True)
    try:
        manifest = _write(engine, store, partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    os.replace(partial, dest)
    log.info(
        "backup %s: %d rows in %d tables, %d photos (%d bytes)",
        dest,
        manifest.rows,
        len(manifest.tables),
        len(manifest.photos),
        manifest.photo_bytes,
    )
    return manifest


def _write(engine: Engine, store: PhotoStore, partial: Path) -> Manifest:
    with _snapshot(engine) as connection:
        revision = _revision(connection)
        if revision != head_revision():
            raise BackupError(
                f"the database's schema is {revision}, this software's {head_revision()}: "
                "back it up with the software that serves it, or run `iriis db upgrade` first"
            )
        manifest = Manifest(
            created_at=utcnow().isoformat(timespec="seconds"),
            database=engine.dialect.name,
            revision=revision,
        )
        photos: dict[str, dict[str, Any]] = {}
        for table in Base.metadata.sorted_tables:
            rows, digest = 0, hashlib.sha256()
            with (partial / "tables" / f"{table.name}.jsonl").open("wb") as out:
                for row in _rows(connection, table):
                    line = (json.dumps(_encoded(row), sort_keys=True) + "\n").encode()
                    out.write(line)
                    digest.update(line)
                    rows += 1
                    if table is Photo.__table__:
                        photos.setdefault(row["sha256"], row)
            manifest.tables[table.name] = {"rows": rows, "sha256": digest.hexdigest()}
    # After the snapshot: the photos its rows name are all still in the store.
    copy = FolderStore(partial / "photos")
    for sha256, row in sorted(photos.items()):
        try:
            data = store.read(sha256)
        except FileNotFoundError:
            raise BackupError(
                f"photo {sha256} is gone from the store since the snapshot (its rows were "
                "erased meanwhile): run the backup again"
            ) from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BackupError(f"photo {sha256} reads from the store other than its name says")
        copy.put(_prepared(row, data))
        manifest.photos[sha256] = len(data)
    manifest.write(partial)
    return manifest


def restore(source: Path, engine: Engine, store: PhotoStore) -> Manifest:
    """Restore the backup in ``source`` into the empty, migrated database behind ``engine`` and
    into ``store``, then check both against its manifest."""
    manifest = Manifest.read(source)
    with engine.connect() as connection:
        revision = _revision(connection)
        if revision != manifest.revision:
            raise BackupError(
                f"the backup's schema is {manifest.revision}, this database's {revision}: "
                "restore it with the software that made it, then upgrade"
            )
        filled = [t.name for t in Base.metadata.sorted_tables if _count(connection, t)]
        if filled:
            raise BackupError(
                f"the database is not empty ({', '.join(filled)}): restore into a new one"
            )
    for table in Base.metadata.sorted_tables:
        _check_file(source, table, manifest)
    described: dict[str, dict[str, Any]] = {}
    for row in _read_rows(source, Photo.__table__):  # type: ignore[arg-type]
        described.setdefault(row["sha256"], row)
    copy = FolderStore(source / "photos")
    for sha256 in sorted(manifest.photos):
        data = copy.read(sha256)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BackupError(f"photo {sha256} of the backup is damaged")
        store.put(_prepared(described[sha256], data))
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            batch: list[dict[str, Any]] = []
            for row in _read_rows(source, table):
                batch.append(row)
                if len(batch) == _BATCH:
                    connection.execute(table.insert(), batch)
                    batch = []
            if batch:
                connection.execute(table.insert(), batch)
        if engine.dialect.name == "postgresql":
            _continue_sequences(connection)
    check(manifest, engine, store)
    log.info("restored %s: %d rows, %d photos", source, manifest.rows, len(manifest.photos))
    return manifest


def check(manifest: Manifest, engine: Engine, store: PhotoStore) -> None:
    """BackupError unless the database holds each table's rows of ``manifest`` and the store
    each of its photos, read back with the right hash."""
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            found, expected = _count(connection, table), manifest.tables[table.name]["rows"]
            if found != expected:
                raise BackupError(f"{table.name}: {found} rows restored, {expected} backed up")
    for sha256 in manifest.photos:
        if hashlib.sha256(store.read(sha256)).hexdigest() != sha256:
            raise BackupError(f"photo {sha256} reads back other than backed up")


def head_revision() -> str:
    """This software's schema revision (the newest migration)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _revision(connection: Connection) -> str:
    return MigrationContext.configure(connection).get_current_revision() or "none"


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one moment of the database."""
    if engine.dialect.name != "sqlite":
        with (
            engine.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            ) as connection,
            connection.begin(),
        ):
            yield connection
        return
    # Python's sqlite3 begins a transaction at the first write only, so each SELECT would see
    # a moment of its own: an engine of its own that says BEGIN itself (SQLAlchemy's recipe).
    snapshots = make_engine(engine.url.render_as_string(hide_password=False))
    event.listen(snapshots, "connect", _driver_begins_nothing)
    event.listen(snapshots, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    try:
        with snapshots.connect() as connection, connection.begin():
            yield connection
    finally:
        snapshots.dispose()


def _driver_begins_nothing(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _rows(connection: Connection, table: Table) -> Iterator[dict[str, Any]]:
    query = select(table).order_by(*table.primary_key.columns)
    for row in connection.execution_options(yield_per=_BATCH).execute(query):
        yield dict(row._mapping)


def _count(connection: Connection, table: Table) -> int:
    return connection.scalar(select(func.count()).select_from(table)) or 0


def _encoded(row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, date) else value for name, value in row.items()
    }


def _check_file(source: Path, table: Table, manifest: Manifest) -> None:
    path, digest = source / "tables" / f"{table.name}.jsonl", hashlib.sha256()
    with path.open("rb") as lines:
        for line in lines:
            digest.update(line)
    if digest.hexdigest() != manifest.tables.get(table.name, {}).get("sha256"):
        raise BackupError(f"{path} does not match the manifest: the backup is damaged")


def _read_rows(source: Path, table: Table) -> Iterator[dict[str, Any]]:
    """A table's rows from the backup, dates and times turned back from their ISO text as the
    columns' types say."""
    decoders: dict[str, Any] = {}
    for column in table.columns:
        kind = getattr(column.type, "impl", column.type)  # UTCDateTime's is a DateTime
        if isinstance(kind, DateTime):
            decoders[column.name] = datetime.fromisoformat
        elif isinstance(kind, Date):
            decoders[column.name] = date.fromisoformat
    with (source / "tables" / f"{table.name}.jsonl").open("rb") as lines:
        for line in lines:
            row = json.loads(line)
            for name, decode in decoders.items():
                if row.get(name) is not None:
                    row[name] = decode(row[name])
            yield row


def _prepared(row: dict[str, Any], data: bytes) -> PreparedPhoto:
    """A stored photo as its row describes it."""
    return PreparedPhoto(
        data=data,
        sha256=row["sha256"],
        origin_sha256=row["origin_sha256"],
        width=row["width"],
        height=row["height"],
    )


def _continue_sequences(connection: Connection) -> None:
    """PostgreSQL's sequences of integer keys past the restored rows: the next row the
    service adds takes the next free id."""
    for table in Base.metadata.sorted_tables:
        key = list(table.primary_key.columns)
        if len(key) == 1 and key[0].autoincrement is not False and key[0].type.python_type is int:
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{key[0].name}'), "
                    f"COALESCE(MAX({key[0].name}), 0) + 1, false) FROM {table.name}"
                )
            )
