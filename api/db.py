"""Database connections and migrations: a SQLite file by default, PostgreSQL by one URL.

SQLite is set up for a small multi-threaded server: WAL (readers never wait for the writer), a
busy timeout (writers queue instead of failing) and enforced foreign keys. Python's sqlite3
driver begins a transaction only at the first write, so the queue's single-statement claim is
atomic there too (``api/services/queue.py``).
"""

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from api.settings import ApiSettings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S = 5  # PostgreSQL: how long opening a connection may take


def database_url(settings: ApiSettings) -> str:
    """The configured URL, or the embedded default: ``iriis.db`` under ``IRIIS_HOME``."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{(settings.home / 'iriis.db').resolve()}"


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; keyword arguments go to ``create_engine`` (tests pass
    ``connect_args`` to pin a PostgreSQL ``search_path``)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A database host that drops packets instead of refusing them fails a connection in
    # seconds (a 503 from api.outages), instead of holding the request for minutes.
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S, **kwargs.pop("connect_args", {})}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: services return objects that routes serialise after the commit.
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic ``upgrade head``); safe to rerun."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    log.info("database schema up to date (%s)", engine.url.render_as_string(hide_password=True))
