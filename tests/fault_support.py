"""Helpers of the fault tests (``tests/test_faults.py``): real faults made on real components.

- ``read_only``: a folder that refuses new files, for real (as root, whom permissions do not
  stop, by the immutable attribute; else by its permissions).
- ``ThrowawayPostgres``: a PostgreSQL cluster of the test's own (``initdb``/``pg_ctl`` in a
  temporary folder, on a free port of 127.0.0.1), which the test may restart: never the
  system's server.
- ``Service``: ``iriis serve`` with its worker processes, in a process group of its own that a
  SIGKILL takes down at once, optionally in a mount namespace of its own (``unshare``) whose
  photo store is a small tmpfs the test fills or remounts read-only.
- ``Growers``: clients that post ``/v1/identifications`` with a ``client_id`` and retry on
  connection errors and 5xx until answered, as the field app's outbox does, counting every
  answer (``Tally``).
- ``swept_audit``: the photo sweep with no grace period, then ``tests.audit_support.audit``.
- ``record``: a fault run's figures into ``var/faults/<name>.json`` (``python -m
  tests.fault_support`` prints them as a table).
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.db import make_engine, session_factory
from api.photostore import FolderStore
from api.services.photos import sweep_photos
from mobile.localserver import free_port
from model.paths import REPO_ROOT
from tests.audit_support import Audit, audit
from tests.helpers import jpeg_bytes, textured_image

log = logging.getLogger(__name__)

FIGURES_DIR = REPO_ROOT / "var" / "faults"
# Runs of each fault test: one in ``make test``, ``make faults`` asks for more.
FAULT_RUNS = range(int(os.environ.get("IRIIS_FAULT_RUNS", "1")))
PASSWORD = "un verger sous la pluie"
# Clients wait at most this long between tries, whatever ``Retry-After`` says: the figures
# measure how soon the service answers again, not how patient a phone is.
MAX_CLIENT_WAIT_S = 0.25


@contextmanager
def read_only(*folders: Path) -> Iterator[None]:
    """``folders`` refuse new files (EPERM or EACCES) within the block, whoever writes."""
    done: list[Path] = []
    try:
        for folder in folders:
            if os.geteuid() == 0:  # root writes through 0555: the immutable attribute stops it
                subprocess.run(["chattr", "+i", str(folder)], check=True)
            else:
                folder.chmod(0o555)
            done.append(folder)
        yield
    finally:
        for folder in done:
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(folder)], check=True)
            else:
                folder.chmod(0o755)


def _as_postgres(command: Sequence[str]) -> list[str]:
    """``initdb`` refuses to run as root: as root, PostgreSQL's programs run as ``postgres``."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


def postgres_bin() -> Path | None:
    """The newest PostgreSQL's programs (Debian's layout), None when none is installed."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
    )
    return found[-1].parent if found else None


class ThrowawayPostgres:
    """A PostgreSQL cluster in ``folder``, listening on a free port of 127.0.0.1 only, its
    socket in ``folder`` too: restarting it touches nothing else."""

    def __init__(self, bin_dir: Path) -> None:
        # Not under pytest's temporary folder: the postgres account must reach it.
        self.folder = Path(tempfile.mkdtemp(prefix="iriis-pg-"))
        self.bin = bin_dir
        self.data = self.folder / "data"
        self.port = free_port()
        self.log = self.folder / "postgres.log"

    def _run(self, program: str, *args: str) -> None:
        command = _as_postgres([str(self.bin / program), *args])
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")

    def _pg_ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, *args
        )

    def start(self) -> "ThrowawayPostgres":
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._pg_ctl("start")
        return self

    def restart(self, mode: str) -> float:
        """``pg_ctl restart -m mode`` (``fast``: sessions cut, a clean shutdown; ``immediate``:
        a crash and recovery), waiting for it to take connections again; when it did
        (``time.monotonic``)."""
        self._pg_ctl("restart", "-m", mode)
        return time.monotonic()

    def stop(self) -> None:
        """Stop it and remove its folder."""
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"faults_{uuid.uuid4().hex[:10]}"
        engine = make_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return self.url(name)


class Service:
    """``iriis serve --workers N`` on 127.0.0.1 with its state under ``home``, on
    ``database_url``. ``tmpfs_photos_kib``: in a mount namespace of its own (``unshare``), its
    photo store a tmpfs of that size, which only it and the test (through ``/proc/<pid>/root``)
    see."""

    def __init__(
        self,
        home: Path,
        database_url: str,
        *,
        bundles_dir: Path,
        workers: int = 2,
        tmpfs_photos_kib: int | None = None,
    ) -> None:
        self.home = home
        self.workers = workers
        self.tmpfs_photos_kib = tmpfs_photos_kib
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.photos_dir = home / "photos"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "IRIIS_HOME": str(home),
            "IRIIS_DATABASE_URL": database_url,
            "IRIIS_BUNDLES_DIR": str(bundles_dir),
            "IRIIS_PHOTOS_URL": "",
            "IRIIS_SECRET_KEY": "fault tests: a key the restarted server keeps",
            "IRIIS_LOG_LEVEL": "WARNING",
            "IRIIS_IDENTIFICATIONS_PER_HOUR": "100000",
            "IRIIS_REGISTRATIONS_PER_ADDRESS_PER_DAY": "100000",
            "IRIIS_REGISTRATIONS_PER_DAY": "100000",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        serve = [sys.executable, "-m", "model.cli", "serve", "--port", str(self.port)]
        serve += ["--workers", str(self.workers)]
        if self.tmpfs_photos_kib is None:
            return serve
        mount = f'mount -t tmpfs -o size={self.tmpfs_photos_kib}k iriis-photos "$0" && exec "$@"'
        return [*_unshare(), "sh", "-c", mount, str(self.photos_dir), *serve]

    def start(self, timeout: float = 90) -> float:
        """Start it and wait until it answers; when it did (``time.monotonic``)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.photos_dir.mkdir(exist_ok=True)
        with open(self.home / "server.log", "ab") as output:
            self.process = subprocess.Popen(
                self._command(),
                env=self.env,
                cwd=REPO_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers in its group: one SIGKILL for all
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return time.monotonic()
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.server_log()}")
            time.sleep(0.1)

    def server_log(self) -> str:
        return (self.home / "server.log").read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the server and all its workers at once, as a crash or an OOM kill of the
        container would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def store_root(self) -> Path:
        """The photo store's folder as the server sees it (its tmpfs, when it has one)."""
        if self.tmpfs_photos_kib is None or self.process is None:
            return self.photos_dir
        return Path(f"/proc/{self.process.pid}/root") / self.photos_dir.relative_to("/")

    def remount_photos(self, options: str) -> None:
        """Remount the tmpfs photo store (``ro``, ``rw``) inside the server's namespace."""
        assert self.process is not None and self.tmpfs_photos_kib is not None
        enter = ["nsenter", "-t", str(self.process.pid), "--mount"]
        if os.geteuid() != 0:
            enter.append("--user")
        remount = ["mount", "-o", f"remount,{options}", str(self.photos_dir)]
        subprocess.run([*enter, *remount], check=True, capture_output=True, timeout=30)


def _unshare() -> list[str]:
    """A mount namespace of its own; a user namespace too where the test is not root."""
    return ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])


def can_unshare() -> str | None:
    """Why a server cannot get a tmpfs of its own here, None when it can."""
    probe = [*_unshare(), "sh", "-c", "mount -t tmpfs -o size=64k probe /mnt"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        return str(exc)
    return None if done.returncode == 0 else f"unshare and mount refused: {done.stderr.strip()}"


@dataclass
class Tally:
    """Every answer the clients got, and which identification each client id was told of."""

    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    without_retry_after: int = 0  # 503 answers without the header
    unexpected: list[str] = field(default_factory=list)  # 4xx: the request can never succeed
    acknowledged: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    answered_at: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, status)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, key: tuple[str, str], response: httpx.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            self.answered_at.append((time.monotonic(), response.status_code))
            if response.status_code == 503 and "retry-after" not in response.headers:
                self.without_retry_after += 1
            if response.is_success:
                self.acknowledged.setdefault(key, set()).add(response.json()["id"])
            elif response.status_code < 500 and response.status_code != 429:
                self.unexpected.append(f"{response.status_code} {response.text[:200]}")

    def failed_to_connect(self) -> None:
        with self.lock:
            self.transport_errors += 1

    def first_success_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the first 2xx answered after it."""
        with self.lock:
            times = [t for t, status in self.answered_at if t >= moment and 200 <= status < 300]
        return round(min(times) - moment, 3) if times else None

    def figures(self) -> dict[str, Any]:
        with self.lock:
            statuses = dict(sorted(self.statuses.items()))
            return {
                "requests_sent": sum(statuses.values()) + self.transport_errors,
                "answers_2xx": sum(n for status, n in statuses.items() if 200 <= status < 300),
                "answers_503": statuses.get(503, 0),
                "answers_500": statuses.get(500, 0),
                "statuses": {str(status): n for status, n in statuses.items()},
                "connection_errors": self.transport_errors,
                "503_without_retry_after": self.without_retry_after,
            }


class Growers:
    """``count`` growers registered on ``service``, each sending ``per_grower`` identifications
    one after the other from a thread of its own, each with a ``client_id`` and photos of its
    own, retried on connection errors, 5xx and 429 until answered (``give_up_s`` at most)."""

    def __init__(
        self, url: str, *, count: int, per_grower: int, tally: Tally, give_up_s: float = 240
    ) -> None:
        self.url = url
        self.per_grower = per_grower
        self.tally = tally
        self.give_up_s = give_up_s
        self.run_id = uuid.uuid4().hex[:6]
        self.names = [f"grower.{self.run_id}.{n}" for n in range(count)]
        self.sent: set[tuple[str, str]] = set()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self.failures: list[str] = []

    def start(self) -> "Growers":
        headers = [self._sign_up(name) for name in self.names]
        for number, (name, header) in enumerate(zip(self.names, headers, strict=True)):
            thread = threading.Thread(
                target=self._send_all, args=(number, name, header), daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _sign_up(self, name: str) -> dict[str, str]:
        account = {"username": name, "password": PASSWORD, "role": "grower"}
        with httpx.Client(base_url=self.url, timeout=60) as client:
            client.post("/v1/auth/register", json=account).raise_for_status()
            token = client.post("/v1/auth/token", data=account)
            token.raise_for_status()
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def _send_all(self, number: int, name: str, headers: dict[str, str]) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=60, headers=headers) as client:
                for item in range(self.per_grower):
                    seed = int(self.run_id, 16) % 100_000 * 1000 + number * 100 + item
                    photo = jpeg_bytes(textured_image(seed))
                    self._until_answered(client, name, f"{self.run_id}-{number}-{item:04d}", photo)
        except Exception as exc:  # the test reads it: a thread's failure must not pass unseen
            self.failures.append(f"{name}: {exc!r}")

    def _until_answered(
        self, client: httpx.Client, name: str, client_id: str, photo: bytes
    ) -> None:
        key = (name, client_id)
        self.sent.add(key)
        files = [("photos", ("leaf.jpg", photo, "image/jpeg"))]
        deadline = time.monotonic() + self.give_up_s
        while time.monotonic() < deadline and not self._stopped.is_set():
            try:
                response = client.post(
                    "/v1/identifications", files=files, data={"client_id": client_id}
                )
            except httpx.TransportError:
                self.tally.failed_to_connect()
                time.sleep(MAX_CLIENT_WAIT_S)
                continue
            self.tally.answer(key, response)
            if response.is_success:
                return
            if response.status_code < 500 and response.status_code != 429:
                raise AssertionError(f"{client_id}: {response.status_code} {response.text}")
            wait = float(response.headers.get("retry-after", MAX_CLIENT_WAIT_S))
            time.sleep(min(wait, MAX_CLIENT_WAIT_S))
        raise AssertionError(f"{client_id}: no answer in {self.give_up_s} s, or stopped")

    def wait_for(self, condition: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline or not any(t.is_alive() for t in self._threads):
                raise AssertionError(f"the growers did not get there: {self.failures}")
            time.sleep(0.02)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(self.give_up_s + 60)
        assert not self.failures, self.failures

    def stop(self) -> None:
        """Stop retrying (a test that failed), and wait for the threads."""
        self._stopped.set()
        for thread in self._threads:
            thread.join(90)


@contextmanager
def inserts_held(database_url: str) -> Iterator[None]:
    """Within the block, no identification can be inserted (the table locked against writes,
    reads go on): a request waits there with its photos written and its rows not committed, the
    moment where a kill leaves files no row names."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("LOCK TABLE identifications IN EXCLUSIVE MODE")
            yield
            connection.rollback()
    finally:
        engine.dispose()


def unreferenced_files(database_url: str, store_root: Path) -> int:
    """Files (and ``.part`` files) in the store that no photo row names now."""
    engine = make_engine(database_url)
    try:
        return audit(engine, store_root, {}).orphaned_files
    finally:
        engine.dispose()


def swept_audit(database_url: str, store_root: Path, tally: Tally) -> tuple[Audit, int]:
    """The photo sweep with no grace period (run once no request is under way), then the
    audit of rows, files and client ids; and how many files the sweep removed."""
    engine = make_engine(database_url)
    try:
        removed = sweep_photos(session_factory(engine), store=FolderStore(store_root), grace_s=0)
        assert removed is not None, "the database did not answer the sweep"
        return audit(engine, store_root, tally.acknowledged), removed
    finally:
        engine.dispose()


def record(name: str, figures: dict[str, Any]) -> Path:
    """Write one run's figures to ``var/faults/<name>.json`` and log them."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    path = FIGURES_DIR / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    log.warning("fault figures %s: %s", name, json.dumps(figures, sort_keys=True))
    return path


def _table() -> str:
    """Every recorded run, one line each: its counts, its audit's, its times."""
    lines = []
    for path in sorted(FIGURES_DIR.glob("*.json")):
        figures = json.loads(path.read_text())
        flat = {**figures, **figures.pop("audit", {})}
        shown = {k: v for k, v in flat.items() if isinstance(v, int | float) and k != "clean"}
        lines.append(f"{path.stem}: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(_table() + "\n")
