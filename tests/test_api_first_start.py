"""`make run` on a set-up machine (issue 20): the service answers at once and builds its gallery
of similar photos in the background, in a child process at the lowest priority, saying so in
``/readyz``; identifications answer meanwhile, without similar photos and saying why; once
built, answers have them and the field app's pack is there; a restart with nothing changed
builds nothing and leaves the pack as it was.

A real server process on 127.0.0.1 (``iriis serve``, as ``make run`` starts it) and its real
child (``iriis gallery refresh``) on a bank of 6 photos. The test holds the gallery's build
lock first, as another build would (a worker's, or the child of a killed server), so that the
build is seen under way for sure, not by luck of timing; letting go of it lets the build run.
"""

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mobile.localserver import LocalServer
from model.bundle import latest_bundle, load_bundle
from model.gallery.folder import GalleryFolder
from model.gallery.refresh import Progress, write_progress
from model.manifest import read_manifest
from model.settings import Settings
from tests.helpers import run_iriis, write_bank

pytestmark = pytest.mark.slow

USER, PASSWORD = "g.tremblay", "champ de fraises 2026"
LABELS = ("apple.scab", "bean.rust", "corn.common_rust")
DEADLINE_S = 180  # what a build of 6 photos on a busy 2-core machine may take, at most


@pytest.fixture
def bank(tmp_path: Path, bank_dir: Path) -> Path:
    """Two bank photos of each of three labels."""
    rows = read_manifest(bank_dir / "manifest.csv")
    chosen = [r for label in LABELS for r in [r for r in rows if r["label"] == label][:2]]
    entries = [
        {"file": r["file"], "label": r["label"], "data": (bank_dir / r["file"]).read_bytes()}
        for r in chosen
    ]
    return write_bank(tmp_path / "bank", entries)


@pytest.fixture
def server(tmp_path: Path, bank: Path, settings: Settings) -> LocalServer:
    """The service as `make run` starts it, on the small bank, with a grower's account."""
    server = LocalServer(tmp_path / "home", settings.bundles_dir)
    server.env.update(
        {
            "IRIIS_BANK_DIR": str(bank),
            "IRIIS_GALLERY_BUILD_ON_START": "true",
            "IRIIS_LOG_LEVEL": "INFO",
        }
    )
    create = ["users", "create", USER, "--role", "grower", "--password-stdin"]
    created = run_iriis(*create, env=server.env, input=f"{PASSWORD}\n")
    assert created.returncode == 0, created.stderr
    return server


def _ready(server: LocalServer) -> dict[str, str]:
    answer = httpx.get(f"{server.url}/readyz", timeout=60)
    assert answer.status_code == 200, answer.text
    ready: dict[str, str] = answer.json()
    return ready


def _until(server: LocalServer, what: str, found: Callable[[], object]) -> None:
    """Wait for ``found()`` (true) at most DEADLINE_S; fail with the server's log."""
    deadline = time.monotonic() + DEADLINE_S
    while not found():
        log = (server.home / "server.log").read_text(errors="replace")
        assert time.monotonic() < deadline, f"{what} never came:\n{log}"
        time.sleep(0.2)


def _identify(server: LocalServer, photo: bytes) -> dict[str, object]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        token = client.post("/v1/auth/token", data={"username": USER, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        answer = client.post(
            "/v1/identifications",
            files=[("photos", ("leaf.jpg", photo, "image/jpeg"))],
            headers=headers,
        )
    assert answer.status_code == 201, answer.text
    identification: dict[str, object] = answer.json()
    return identification


def _children(server: LocalServer) -> list[int]:
    """The pids of the build processes the server's log names."""
    log = (server.home / "server.log").read_text(errors="replace")
    return [int(pid) for pid in re.findall(r"in the background \(pid (\d+)\)", log)]


def _log_messages(server: LocalServer) -> list[str]:
    lines = (server.home / "server.log").read_text(errors="replace").splitlines()
    return [json.loads(line)["message"] for line in lines if line.startswith("{")]


def test_the_service_answers_while_it_builds_its_gallery_then_with_similar_photos(
    server: LocalServer, bank: Path, settings: Settings
) -> None:
    version = load_bundle(latest_bundle(settings.bundles_dir)).version
    folder = GalleryFolder(server.home / "galleries" / version)
    photo = (bank / read_manifest(bank / "manifest.csv")[0]["file"]).read_bytes()
    try:
        with folder.building():  # another build holds the gallery: this one waits
            write_progress(folder, Progress(5, 6))  # what a build stopped half-way leaves
            server.start()
            ready = _ready(server)
            assert (ready["status"], ready["model"]) == ("ready", version)
            assert ready["gallery"] == "building", ready  # not the stopped build's 5/6
            _until(server, "the build process", lambda: _children(server))
            [child] = _children(server)
            assert os.getpriority(os.PRIO_PROCESS, child) == 19  # the requests go first
            answer = _identify(server, photo)
            assert answer["label"] == "apple.scab" and answer["similar"] == []
            assert str(answer["gallery"]).startswith("building")
        _until(server, "the gallery", lambda: _ready(server)["gallery"] == "ready")
        answer = _identify(server, photo)
        similar = answer["similar"]
        assert isinstance(similar, list) and len(similar) == 6 and answer["gallery"] is None
        assert similar[0]["label"] == "apple.scab" and similar[0]["similarity"] > 0.99
        pack = folder.pack_path(version)
        written = (pack.stat().st_mtime_ns, hashlib.sha256(pack.read_bytes()).hexdigest())
        assert not folder.progress_path.exists() and not folder.partial_dir.exists()
    finally:
        server.stop()

    server.start()  # nothing changed: nothing to build, the pack as it was
    try:
        _until(server, "the gallery", lambda: _ready(server)["gallery"] == "ready")
        assert len(_children(server)) == 1
        assert f"gallery {version} up to date" in _log_messages(server)
        assert _ready(server)["status"] == "ready"
        assert (pack.stat().st_mtime_ns, hashlib.sha256(pack.read_bytes()).hexdigest()) == written
    finally:
        server.stop()
