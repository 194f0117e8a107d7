"""The service under faults, with growers retrying their uploads as the field app does: the real
server (``iriis serve``, two worker processes) on a PostgreSQL cluster of the test's own.

- the server and its workers killed (SIGKILL) in the middle of concurrent uploads (while some
  have written their photos and wait to commit their rows), then started again;
- PostgreSQL restarted under load, cleanly (``-m fast``) then as a crash (``-m immediate``):
  every request meanwhile is answered 503 with ``Retry-After``, never 500;
- the photo store full (a real tmpfs filled to the last page), then read-only (remounted so):
  503 with ``Retry-After``, nothing kept of a refused request, the retry works once it is freed.

After each, the audit (``tests.audit_support``): every client id sent answered, each stored
once and as answered (lost 0, duplicated 0), every photo row's file there, and no file without
a row once the photo sweep has run with no grace period (orphaned 0). Each run's figures
(requests, answers by status, recovery times) go to ``var/faults/<fault>-<run>.json``.

One run of each here; ``make faults`` runs each ``IRIIS_FAULT_RUNS`` times (3).
"""

import errno
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api.db import make_engine
from api.models import Identification
from model.settings import Settings
from tests.fault_support import (
    FAULT_RUNS,
    Growers,
    Service,
    Tally,
    ThrowawayPostgres,
    can_unshare,
    inserts_held,
    postgres_bin,
    record,
    swept_audit,
    unreferenced_files,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL programs under /usr/lib/postgresql (initdb, pg_ctl)")
    cluster = ThrowawayPostgres(bin_dir).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _checked(
    name: str, tally: Tally, sent: set[tuple[str, str]], database: str, store: Path, **extra: Any
) -> dict[str, Any]:
    """Audit, record and check a run: nothing lost, duplicated or orphaned, no 500."""
    found, swept = swept_audit(database, store, tally)
    figures = {
        **tally.figures(),
        "client_ids": len(sent),
        "audit": found.as_dict(),
        "files_swept": swept,
        **extra,
    }
    record(name, figures)
    assert found.clean, figures
    assert set(tally.acknowledged) == sent and found.unacknowledged == 0, figures
    assert figures["answers_500"] == 0 and figures["503_without_retry_after"] == 0, figures
    return figures


def _under_load(
    cluster: ThrowawayPostgres, tmp_path: Path, settings: Settings, per_grower: int
) -> tuple[str, Service, Tally, Growers]:
    """A database of the cluster's, the server on it, and 6 growers sending ``per_grower``
    identifications each, started."""
    database = cluster.new_database()
    service = Service(tmp_path / "home", database, bundles_dir=settings.bundles_dir)
    service.start()
    tally = Tally()
    return (
        database,
        service,
        tally,
        Growers(service.url, count=6, per_grower=per_grower, tally=tally).start(),
    )


@pytest.mark.parametrize("run", FAULT_RUNS)
def test_the_server_killed_during_uploads(
    run: int, cluster: ThrowawayPostgres, tmp_path: Path, settings: Settings
) -> None:
    database, service, tally, growers = _under_load(cluster, tmp_path, settings, per_grower=5)
    try:
        growers.wait_for(lambda: len(tally.acknowledged) >= 8)
        # Killed while requests have written their photos and wait to commit their rows.
        with inserts_held(database):
            growers.wait_for(lambda: unreferenced_files(database, service.store_root) >= 2)
            service.kill()
            killed = time.monotonic()
        left_by_kill = unreferenced_files(database, service.store_root)
        ready = service.start()
        growers.join()
    finally:
        growers.stop()
        service.stop()
    _checked(
        f"sigkill-{run}",
        tally,
        growers.sent,
        database,
        service.store_root,
        files_left_by_kill=left_by_kill,
        restart_s=round(ready - killed, 3),
        recovery_s=tally.first_success_after(killed),
    )
    assert left_by_kill >= 2  # the kill cut requests between their files and their rows


@pytest.mark.parametrize("run", FAULT_RUNS)
def test_postgres_restarted_under_load(
    run: int, cluster: ThrowawayPostgres, tmp_path: Path, settings: Settings
) -> None:
    database, service, tally, growers = _under_load(cluster, tmp_path, settings, per_grower=6)
    outages: dict[str, Any] = {}
    try:
        for mode, after in (("fast", 6), ("immediate", 18)):
            growers.wait_for(lambda after=after: len(tally.acknowledged) >= after)
            began = time.monotonic()
            back = cluster.restart(mode)
            outages[f"outage_{mode}_s"] = round(back - began, 3)
            growers.wait_for(lambda back=back: tally.first_success_after(back) is not None)
            outages[f"recovery_{mode}_s"] = tally.first_success_after(back)
        growers.join()
    finally:
        growers.stop()
        service.stop()
    figures = _checked(
        f"postgres-restart-{run}", tally, growers.sent, database, service.store_root, **outages
    )
    assert figures["answers_503"] > 0  # the restarts were met by requests


def _fill(folder: Path) -> Path:
    """A file taking every free byte of ``folder``'s file system; its path."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    with open(filler, "ab", buffering=0) as handle:  # the last partial page
        try:
            while True:
                handle.write(b"\0")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def _kept(database: str, store: Path) -> tuple[int, int]:
    """Identification rows, and photo files with the leftovers of writes, in the store."""
    engine = make_engine(database)
    try:
        with engine.connect() as connection:
            rows = connection.scalar(select(func.count()).select_from(Identification))
    finally:
        engine.dispose()
    return int(rows or 0), len([*store.glob("*/*.jpg"), *store.glob("*/*.part")])


@pytest.mark.parametrize("run", FAULT_RUNS)
def test_the_photo_store_full_then_read_only(
    run: int, cluster: ThrowawayPostgres, tmp_path: Path, settings: Settings
) -> None:
    why = can_unshare()
    if why is not None:
        pytest.skip(f"no tmpfs of its own for the server: {why}")
    database = cluster.new_database()
    service = Service(
        tmp_path / "home", database, bundles_dir=settings.bundles_dir, tmpfs_photos_kib=1024
    )
    service.start()
    tally = Tally()
    figures: dict[str, Any] = {}
    sent: set[tuple[str, str]] = set()
    growers: list[Growers] = []
    try:
        store = service.store_root
        for fault in ("full", "read_only"):
            kept = _kept(database, store)
            if fault == "full":
                filler = _fill(store)
            else:
                service.remount_photos("ro")
            refused_before = tally.statuses[503]
            growers.append(Growers(service.url, count=3, per_grower=2, tally=tally).start())
            growers[-1].wait_for(lambda before=refused_before: tally.statuses[503] >= before + 9)
            assert _kept(database, store) == kept  # nothing of the refused requests
            if fault == "full":
                filler.unlink()
            else:
                service.remount_photos("rw")
            freed = time.monotonic()
            growers[-1].join()
            sent |= growers[-1].sent
            figures[f"recovery_{fault}_s"] = tally.first_success_after(freed)
        figures = _checked(f"photo-store-{run}", tally, sent, database, store, **figures)
    finally:
        for some in growers:
            some.stop()
        service.stop()
    assert figures["answers_503"] >= 18 and figures["answers_2xx"] == 12
