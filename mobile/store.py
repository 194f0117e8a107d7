"""The field app's local storage: one SQLite database and durable file writes.

Phones get killed at any moment and lose power in the field. Everything the app promises to keep
is therefore written so that a kill at any instant leaves either the old state or the new one:
files are written to a temporary name, flushed to the disk and renamed; the database runs in WAL
mode with ``synchronous=FULL``, so a committed transaction survives a power cut. Each call opens
its own connection: the UI thread and the sync thread never share one.
"""

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Bump with a new entry in _MIGRATIONS; a database is upgraded in order on open.
_MIGRATIONS = (
    """
    CREATE TABLE prefs (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE observations (
        id TEXT PRIMARY KEY,              -- also the client id sent to the server
        created_at TEXT NOT NULL,         -- ISO 8601, UTC
        photo_count INTEGER NOT NULL,
        result TEXT NOT NULL,             -- the on-device Identification.to_dict(), JSON
        latitude REAL,
        longitude REAL,
        share INTEGER NOT NULL DEFAULT 0, -- the user shares it for the lab's surveillance
        ask INTEGER NOT NULL DEFAULT 0,   -- the user asked a specialist
        message TEXT,
        upload TEXT NOT NULL DEFAULT 'none',   -- none | pending | sent | refused
        ask_state TEXT NOT NULL DEFAULT 'none', -- none | pending | sent
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        server_id TEXT,
        case_id TEXT,
        case_status TEXT,
        answer TEXT,
        answer_label TEXT,
        answered_at TEXT
    );
    CREATE INDEX observations_to_send ON observations (upload, ask_state);
    """,
    # the server's expected answer of a waiting case, in words (api.services.capacity)
    "ALTER TABLE observations ADD COLUMN expected_answer TEXT",
)


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the app's database, created and upgraded on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    _upgrade(connection)
    return connection


def _upgrade(connection: sqlite3.Connection) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version >= len(_MIGRATIONS):
        return
    with transaction(connection):
        # Read again under the write lock: another thread may have just upgraded it.
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number}")


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: takes the write lock at once, so that two threads
    reading then updating the same row never interleave."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


@contextmanager
def opened(path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(path)
    try:
        yield connection
    finally:
        connection.close()


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` itself durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a kill leaves the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)
