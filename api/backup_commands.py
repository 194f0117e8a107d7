"""``iriis backup DEST`` and ``iriis restore SRC``: the service's database and photo store,
consistent while it runs (``api.services.backup``)."""

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from api.db import database_url, make_engine, upgrade
from api.photostore import PhotoStore, open_store
from api.services.backup import BackupError, Manifest, backup, restore
from api.settings import ApiSettings, get_api_settings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    taking = subparsers.add_parser(
        "backup",
        help="back up the service's database and every photo its rows name into a new folder, "
        "while the service runs",
    )
    taking.add_argument("dest", type=Path, help="the backup's folder (must not exist)")
    taking.set_defaults(handler=_backup)
    restoring = subparsers.add_parser(
        "restore",
        help="restore a backup into an empty database and photo store (by default the "
        "configured ones; these options name others), then check them against it",
    )
    restoring.add_argument("source", type=Path, help="the backup's folder")
    restoring.add_argument("--home", type=Path, help="IRIIS_HOME of the restored service")
    restoring.add_argument("--database-url", help="IRIIS_DATABASE_URL of the restored service")
    restoring.add_argument("--photos-url", help="IRIIS_PHOTOS_URL of the restored service")
    restoring.set_defaults(handler=_restore)


def _backup(args: argparse.Namespace) -> int:
    settings = get_api_settings()
    return _run(
        settings,
        lambda engine, store: backup(engine, store, args.dest),
        lambda manifest, seconds: (
            f"{args.dest}: {manifest.rows} rows, {len(manifest.photos)} "
            f"photos ({manifest.photo_bytes} bytes) in {seconds:.1f} s"
        ),
    )


def _restore(args: argparse.Namespace) -> int:
    named: dict[str, Any] = {
        "home": args.home,
        "database_url": args.database_url,
        "photos_url": args.photos_url,
    }
    settings = ApiSettings(**{key: value for key, value in named.items() if value is not None})

    def into(engine: Engine, store: PhotoStore) -> Manifest:
        upgrade(engine)
        return restore(args.source, engine, store)

    return _run(
        settings,
        into,
        lambda manifest, seconds: (
            f"restored {args.source}: {manifest.rows} rows, "
            f"{len(manifest.photos)} photos, checked, in {seconds:.1f} s"
        ),
    )


def _run(
    settings: ApiSettings,
    work: Callable[[Engine, PhotoStore], Manifest],
    said: Callable[[Manifest, float], str],
) -> int:
    """Run a backup or a restore on the settings' database and store; a ``BackupError`` is
    logged (exit 1), anything else propagates."""
    engine = make_engine(database_url(settings))
    started = time.perf_counter()
    try:
        manifest = work(engine, open_store(settings))
    except BackupError as exc:
        log.error("%s", exc)
        return 1
    finally:
        engine.dispose()
    sys.stdout.write(said(manifest, time.perf_counter() - started) + "\n")
    return 0
