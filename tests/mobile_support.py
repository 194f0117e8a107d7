"""The field app's test fixtures: the real API server as a process on 127.0.0.1, a TCP proxy in
front of it that makes the network fail on cue, and the server's database as the judge.

The server is never mocked: faults are made where they happen in the field, on the wire (a
connection cut in the middle of an upload, an answer that never arrives, a server that answers
too late) or by stopping the server process itself.
"""

import contextlib
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mobile import kivyenv
from mobile.controller import FieldController
from mobile.localserver import LocalServer
from mobile.outbox import Observation
from mobile.prefs import Preferences
from mobile.settings import AppSettings
from model.bundle import latest_bundle
from model.gallery.build import build_gallery
from model.gallery.folder import GalleryFolder
from model.gallery.pack import write_pack
from model.identifier import open_identifier
from model.manifest import read_manifest
from model.paths import REPO_ROOT
from model.settings import Settings
from tests.helpers import write_bank

log = logging.getLogger(__name__)

PASSWORD = "champ de fraises 2026"


class LiveServer(LocalServer):
    """The real server process (``mobile.localserver``), and its database as the judge."""

    @property
    def db_path(self) -> Path:
        return self.home / "iriis.db"

    def records(self) -> dict[str, tuple[int, int]]:
        """For each client id on the server: (identifications, cases)."""
        with sqlite3.connect(self.db_path) as connection:
            rows = connection.execute(
                "SELECT i.client_id, count(DISTINCT i.id), count(DISTINCT c.id) "
                "FROM identifications i LEFT JOIN cases c ON c.identification_id = i.id "
                "GROUP BY i.client_id"
            ).fetchall()
        return {client_id: (identifications, cases) for client_id, identifications, cases in rows}


@dataclass
class Fault:
    """What the proxy does to the next request whose first line starts with ``request``.

    kind: ``hold`` (forward ``after`` bytes of the request, then stop and wait for ``release``;
    then cut), ``cut`` (forward ``after`` bytes of the request, then cut), ``drop_response`` (the
    server gets the whole request, its answer never reaches the client), ``delay_response`` (the
    answer arrives ``delay`` seconds late), ``cut_response`` (``after`` bytes of the answer, then
    cut), ``corrupt_response`` (one byte of the answer's body flipped).
    """

    kind: str
    request: str
    after: int = 0
    delay: float = 0.0
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    headers_sent: bool = False  # corrupt_response: the answer's headers have gone by


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``target_port``: passes bytes through, except for
    the faults queued with :meth:`inject`, each applied once, in order."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.faults: list[Fault] = []
        self.applied: list[Fault] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def inject(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def close(self) -> None:
        self.closed = True
        self.listener.close()

    def _take(self, first_line: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if first_line.startswith(fault.request):
                    self.faults.remove(fault)
                    self.applied.append(fault)
                    return fault
        return None

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=60)
        except OSError:
            client.close()  # the server is down: the client sees its connection refused... or
            return  # closed, as through any real proxy
        responses: list[Fault] = []  # faults waiting for the answer of their request
        threading.Thread(
            target=self._answers, args=(upstream, client, responses), daemon=True
        ).start()
        try:
            self._requests(client, upstream, responses)
        except OSError:
            pass
        finally:
            _close(client, upstream)

    def _requests(
        self, client: socket.socket, upstream: socket.socket, responses: list[Fault]
    ) -> None:
        """Forward requests one by one (HTTP/1.1, bodies with a Content-Length)."""
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = client.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, rest = buffer.partition(b"\r\n\r\n")
            length = _content_length(head)
            body, buffer = rest[:length], rest[length:]
            while len(body) < length:
                chunk = client.recv(65536)
                if not chunk:
                    return
                body += chunk
            body, buffer = body[:length], body[length:] + buffer
            request = head + b"\r\n\r\n" + body
            fault = self._take(head.split(b"\r\n", 1)[0].decode("latin-1"))
            if fault is None:
                upstream.sendall(request)
            elif fault.kind in ("hold", "cut"):
                upstream.sendall(request[: len(head) + 4 + fault.after])
                fault.reached.set()
                if fault.kind == "hold":
                    fault.release.wait(60)
                return
            else:
                responses.append(fault)
                upstream.sendall(request)

    def _answers(
        self, upstream: socket.socket, client: socket.socket, responses: list[Fault]
    ) -> None:
        sent = 0
        fault: Fault | None = None
        try:
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    return
                if fault is None and responses:
                    fault, sent = responses.pop(0), 0
                if fault is not None:
                    chunk = self._apply(fault, chunk, sent)
                    if chunk is None:
                        return
                    sent += len(chunk)
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(client, upstream)

    @staticmethod
    def _apply(fault: Fault, chunk: bytes, sent: int) -> bytes | None:
        """The bytes to pass on (None: cut the connection now)."""
        if fault.kind == "drop_response":
            fault.reached.set()
            return None
        if fault.kind == "delay_response" and sent == 0:
            fault.reached.set()
            time.sleep(fault.delay)
        if fault.kind == "cut_response" and sent + len(chunk) >= fault.after:
            fault.reached.set()
            return None
        if fault.kind == "corrupt_response" and not fault.reached.is_set():
            body = 0  # where this chunk's body bytes start, once the headers have gone by
            if not fault.headers_sent:
                end = chunk.find(b"\r\n\r\n")
                fault.headers_sent = end >= 0
                body = end + 4
            if fault.headers_sent and body < len(chunk):
                fault.reached.set()
                position = body + (len(chunk) - body) // 2
                chunk = chunk[:position] + bytes([chunk[position] ^ 0xFF]) + chunk[position + 1 :]
        return chunk


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _close(*sockets: socket.socket) -> None:
    for item in sockets:
        with contextlib.suppress(OSError):
            item.shutdown(socket.SHUT_RDWR)
        item.close()


def sync_in_a_process(settings: AppSettings) -> subprocess.Popen[bytes]:
    """``iriis app --sync``: the app's own sync pass, in a process the test can kill."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "IRIIS_HOME": str(settings.home),
        "IRIIS_BUNDLES_DIR": str(settings.bundles_dir),
        "IRIIS_APP_REQUEST_TIMEOUT_S": "60",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "model.cli", "app", "--sync"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# --- fixtures


@pytest.fixture(scope="session")
def test_photos(settings: Settings, bank_dir: Path) -> list[bytes]:
    """Photos of the bank's test split, one per label in turn."""
    rows = [r for r in read_manifest(settings.splits_path) if r["split"] == "test"]
    by_label: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    picked = [group[0] for group in by_label.values()]
    return [(bank_dir / row["file"]).read_bytes() for row in picked]


@pytest.fixture
def live_server(tmp_path: Path, settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "server", settings.bundles_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def phone_settings(tmp_path: Path, app_settings: AppSettings) -> AppSettings:
    """The app's settings on a phone of its own. The timeout stays generous: a server under load
    (the first identification loads its model) must not fail a test by accident; the tests of
    slowness shorten it themselves (``impatient``)."""
    return app_settings.model_copy(
        update={
            "home": tmp_path / "phone",
            "app_request_timeout_s": 60.0,
            "app_sync_backoff_s": 2.0,
            "app_sync_backoff_max_s": 30.0,
        }
    )


def impatient(settings: AppSettings) -> AppSettings:
    """The same phone, giving up on an answer after 3 s."""
    return settings.model_copy(update={"app_request_timeout_s": 3.0})


def signed_in_phone(settings: AppSettings, server_url: str, username: str) -> FieldController:
    """A phone past its first launch, with an account created on the server."""
    phone = FieldController(settings)
    phone.start()
    phone.save_preferences(Preferences(server_url=server_url, setup_done=True))
    phone.sign_in(server_url, username, PASSWORD, create=True)
    return phone


def judge(server: LiveServer, sent: list[Observation]) -> dict[str, int]:
    """The server's database against what the phone meant to send: every request exactly once,
    with exactly one case when a specialist was asked; nothing the user did not send."""
    records = server.records()
    expected = {o.id: o.ask for o in sent}
    lost = [i for i in expected if i not in records]
    duplicated = [i for i, (identifications, _) in records.items() if identifications > 1]
    extra = [i for i in records if i not in expected]
    cases_wrong = [i for i, ask in expected.items() if ask and records.get(i, (0, 0))[1] != 1]
    counts = {
        "requests": len(expected),
        "on_server": len(records),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "unrequested": len(extra),
        "cases_not_exactly_one": len(cases_wrong),
    }
    log.info("server database against the phone's outbox: %s", counts)
    assert (lost, duplicated, extra, cases_wrong) == ([], [], [], []), counts
    return counts


@pytest.fixture(scope="session")
def kivy_ui(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Kivy set up offscreen (no display needed), once per process: ``mobile.headless``."""
    home = tmp_path_factory.mktemp("kivy")
    kivyenv.prepare(AppSettings(home=home), offscreen=True)
    from mobile import headless

    return headless


def build_pack(
    settings: Settings, bundle: Path, root: Path, extra: Sequence[dict[str, object]] = ()
) -> Path:
    """A real gallery pack of ``bundle``'s model, built under ``root/galleries`` by the gallery's
    own build and pack, from 3 bank photos of every fifth label (the test split's first photos
    among them) and ``extra`` entries (``write_bank``'s): seconds, where the whole bank takes
    minutes."""
    rows = read_manifest(settings.splits_path)
    by_label: dict[str, list[dict[str, str]]] = {}
    for row in sorted(rows, key=lambda r: r["split"] != "test"):
        if row["label"] != "unknown":
            by_label.setdefault(row["label"], []).append(row)
    chosen = [row for label in sorted(by_label)[::5] for row in by_label[label][:3]]
    bank = write_bank(
        root / "bank",
        [{**r, "data": (settings.bank_dir / r["file"]).read_bytes()} for r in chosen] + list(extra),
    )
    identifier = open_identifier(bundle, threads=2)
    folder = GalleryFolder(root / "galleries" / identifier.version)
    build_gallery(identifier, bank, folder, settings.gallery_projection_dims)
    return write_pack(folder)


@pytest.fixture(scope="session")
def gallery_pack(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, bank_dir: Path
) -> Path:
    """A gallery pack of the committed model, from bank photos (skipped without the bank)."""
    return build_pack(settings, latest_bundle(settings.bundles_dir), tmp_path_factory.mktemp("g"))


def install_builtin_gallery(settings: Settings, pack: Path) -> None:
    """Put ``pack`` where ``iriis gallery pack`` writes it on a desktop: the phone's built-in
    gallery."""
    target = settings.galleries_dir / pack.parent.name / pack.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pack, target)
