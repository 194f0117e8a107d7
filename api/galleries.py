"""The served model's gallery of similar reference photos, built by the service itself when it
starts (``gallery_build_on_start``: what ``make run`` does), so that a first start answers at
once instead of after the minutes a first build takes (10,104 photos embedded at 15 to 35 a
second on 2 cores).

At start, a thread checks in under a second (a stat of each bank photo) whether the gallery
and its pack are in step with the bank (``model.gallery.refresh.needs_refresh``); if not, it
runs ``iriis gallery refresh`` in a child process at the lowest priority and waits for it:
the first build, the rest of an interrupted one (its saves in ``partial/``), or what the bank
changed, then the pack for the field app if the gallery changed. A process rather than a
thread: the build is minutes of decoding and inference that would otherwise hold the
interpreter's lock against the requests', and at nice 19 the kernel gives the requests the
cores first. Meanwhile identifications answer without similar photos (and say why:
``IdentificationOut.gallery``), and ``/readyz`` says ``building 3120/10104``
(``gallery_state``). Once the child is done, the next request opens the new gallery
(``api.deps.served_gallery``).

Stopped normally, the service stops the child; the next start resumes from its saves. Killed,
the child finishes on its own: it holds the folder's build lock, so a service started again
(or each worker of a service with several) starts a child that waits for it, then finds
nothing left to do.
"""

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time

from pydantic import SecretStr

from api.deps import served_gallery, serving_identifier
from api.errors import Unavailable
from api.settings import ApiSettings
from model.gallery.folder import GalleryFolder
from model.gallery.refresh import BANK_MANIFEST, needs_refresh, read_progress
from model.identifier import Identifier
from model.settings import Settings

log = logging.getLogger(__name__)

READY = "ready"
MISSING = "missing"
BUILDING = "building"
NICENESS = 19  # the lowest priority: the requests' processes get the cores first
STOP_WAIT_S = 10.0


class GalleryBuilder:
    """``iriis gallery refresh`` for the served model, in a child process started by a thread
    of its own at start (``start``, from the application's lifespan), stopped with the
    service (``stop``)."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        # "building" from the start, until the check finds nothing to do: /readyz never says
        # "missing" for a gallery about to be built
        self._busy = settings.gallery_build_on_start
        self._folder: GalleryFolder | None = None
        self._since = time.time()  # progress written before is a stopped build's
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="gallery-build", daemon=True)

    def start(self) -> None:
        if self.settings.gallery_build_on_start:
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            child = self._child
        if child is not None and child.poll() is None:
            log.info("stopping the gallery build (the next start resumes it)")
            child.terminate()
            try:
                child.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                child.kill()
        if self._thread.is_alive():
            self._thread.join(STOP_WAIT_S)

    def building(self) -> str | None:
        """``building 3120/10104`` (``building`` before the photos are counted) while a build
        runs; None when none does."""
        if not self._busy:
            return None
        progress = read_progress(self._folder, self._since) if self._folder else None
        return f"{BUILDING} {progress}" if progress else BUILDING

    def _run(self) -> None:
        try:
            self._refresh()
        except Exception:  # the service goes on without similar photos; the log says why
            log.exception("the gallery could not be built")
        finally:
            self._busy = False

    def _refresh(self) -> None:
        settings = self.settings
        try:
            identifier = serving_identifier(settings)  # loads the model: the first answer's too
        except Unavailable as exc:
            log.warning("no gallery to build: %s", exc.message)
            return
        folder = GalleryFolder(settings.galleries_dir / identifier.version)
        self._folder = folder
        if not needs_refresh(folder, identifier.version):
            log.info("gallery %s up to date", identifier.version)
            return
        if not folder.exists() and not (settings.bank_dir / BANK_MANIFEST).is_file():
            log.warning("no bank at %s to build the gallery from", settings.bank_dir)
            return
        start = time.monotonic()
        with self._lock:
            if self._stopped:
                return
            child = self._child = subprocess.Popen(
                _command(identifier),
                env=_environment(settings),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # its summary; its log lines go to stderr
                # Ctrl-C on `make run` stops the service, which stops the child (``stop``)
                start_new_session=True,
            )
        with contextlib.suppress(ProcessLookupError):  # already gone: its status says how
            os.setpriority(os.PRIO_PROCESS, child.pid, NICENESS)
        log.info("building gallery %s in the background (pid %d)", folder.root, child.pid)
        code = child.wait()
        if code == 0:
            log.info("gallery %s built in %.0f s", identifier.version, time.monotonic() - start)
        elif not self._stopped:
            log.error("the gallery build failed (exit status %d): see the lines above", code)


def _command(identifier: Identifier) -> list[str]:
    bundle = str(identifier.bundle.folder)
    return [sys.executable, "-m", "model.cli", "gallery", "refresh", "--bundle", bundle]


def _environment(settings: ApiSettings) -> dict[str, str]:
    """The child's environment: the service's core settings as variables (an application made
    with settings of its own, as the tests make them, builds where it serves), and no progress
    bars on the service's terminal (``/readyz`` shows how far it is)."""
    env = {**os.environ, "TQDM_DISABLE": "1"}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            env.pop(f"IRIIS_{name.upper()}", None)
        else:
            secret = isinstance(value, SecretStr)
            env[f"IRIIS_{name.upper()}"] = value.get_secret_value() if secret else str(value)
    return env


def gallery_state(builder: GalleryBuilder, settings: ApiSettings) -> str:
    """What ``/readyz`` and an answer without similar photos say of the gallery: ``building
    3120/10104`` while the service builds it, ``ready`` once the served model's opens,
    ``missing`` otherwise (never built, or no model)."""
    building = builder.building()
    if building is not None:
        return building
    try:
        identifier = serving_identifier(settings)
    except Unavailable:
        return MISSING
    return READY if served_gallery(settings, identifier) is not None else MISSING
