"""Backup and restore of a small service (``api.services.backup``): time and size.

Seeds ``--identifications`` identifications of 2 photos each (``--side`` px, as stored) and a
case for every fifth, answered, into a fresh SQLite home and a fresh PostgreSQL schema, then
takes a backup of each and restores it into a new empty one of the same kind, with photos in a
folder store. Figures: rows, photos and their bytes, the backup folder's size, and the
seconds of each backup and restore (the restore's check of every row count and photo hash
included).

    python bench/backup.py --identifications 200     # writes bench/results/backup.json
"""

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.db import make_engine, session_factory, upgrade
from api.models import Role
from api.photostore import FolderStore
from api.services.backup import backup, restore
from api.settings import ApiSettings
from bench.common import save
from model.catalog import load_catalog
from tests.api_support import Seeder, postgres_url
from tests.helpers import jpeg_bytes, textured_image


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _seed(url: str, store: FolderStore, count: int, side: int) -> None:
    settings = ApiSettings()
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as session:
        seed = Seeder(session, store, load_catalog(settings.catalog_dir))
        growers = [seed.user(Role.GROWER) for _ in range(5)]
        specialist = seed.user(Role.SPECIALIST)
        for n in range(count):
            images = [
                jpeg_bytes(textured_image(10 * n + i, size=(side, side * 3 // 4))) for i in range(2)
            ]
            if n % 5:
                seed.identification(growers[n % 5], location=(46.8, -71.2), images=images)
            else:
                case = seed.case(growers[n % 5], location=(46.8, -71.2), images=images)
                seed.answer(case, specialist, settings, "correct", "apple.black_rot")
    engine.dispose()


def _round_trip(name: str, source: str, target: str, root: Path) -> dict[str, Any]:
    store, restored = FolderStore(root / "photos"), FolderStore(root / "restored-photos")
    engine, into = make_engine(source), make_engine(target)
    upgrade(into)
    started = time.perf_counter()
    manifest = backup(engine, store, root / "backup")
    backed_up = time.perf_counter() - started
    started = time.perf_counter()
    restore(root / "backup", into, restored)
    restored_s = time.perf_counter() - started
    engine.dispose()
    into.dispose()
    return {
        "database": name,
        "rows": manifest.rows,
        "photos": len(manifest.photos),
        "photo_bytes": manifest.photo_bytes,
        "backup_bytes": _size(root / "backup"),
        "table_bytes": _size(root / "backup" / "tables"),
        "backup_s": round(backed_up, 2),
        "restore_s": round(restored_s, 2),
    }


def _schema(base: str) -> tuple[str, str]:
    schema = f"iriis_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    separator = "&" if "?" in base else "?"
    return schema, f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--identifications", type=int, default=200)
    parser.add_argument("--side", type=int, default=1024, help="stored photos' longer side")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "sqlite"
        source, target = f"sqlite:///{root / 'iriis.db'}", f"sqlite:///{root / 'restored.db'}"
        _seed(source, FolderStore(root / "photos"), args.identifications, args.side)
        runs.append(_round_trip("sqlite", source, target, root))
        base, schemas = postgres_url(), []
        try:
            for _ in range(2):
                schemas.append(_schema(base))
            root = Path(folder) / "postgresql"
            _seed(schemas[0][1], FolderStore(root / "photos"), args.identifications, args.side)
            runs.append(_round_trip("postgresql", schemas[0][1], schemas[1][1], root))
        finally:
            admin = make_engine(base)
            with admin.begin() as connection:
                for schema, _ in schemas:
                    connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    save("backup", {"identifications": args.identifications, "side": args.side, "runs": runs})


if __name__ == "__main__":
    main()
