"""`make run` on a set-up machine (issue 20, point 5): seconds from the command to the first 200
of ``/healthz`` and of ``/readyz``, what ``/readyz`` says of the gallery, identifications answered
while the service builds it in the background and after, and the build's duration; then the same
start again with the gallery built (nothing to do); then a start after a first build stopped
part-way (Ctrl-C), which resumes from the photos it had saved.

    python bench/first_start.py [--port 8765] [--stop-at 1500]

Runs ``make run`` itself, as a user does from the repository, with ``IRIIS_HOME`` a fresh
temporary folder (the repository's ``var/`` is not touched; removed at the end, the output of
each ``make run`` kept beside it) and the bank of ``IRIIS_BANK_DIR``;
the machine must be set up (``make setup`` done, or ``make run`` counts the install too). Stops
each ``make run`` as Ctrl-C does (SIGINT to its process group). Writes
bench/results/first_start.json.
"""

import argparse
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import save
from model.manifest import read_manifest
from model.paths import REPO_ROOT
from model.settings import get_settings

log = logging.getLogger("bench.first_start")

POLL_S = 0.05
PROGRESS_EVERY_S = 10.0
IDENTIFY_EVERY_S = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--stop-at", type=int, default=1500, help="photos after which the third start is stopped"
    )
    args = parser.parse_args()
    logging.basicConfig(level="INFO", format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    bank = get_settings().bank_dir
    row = next(r for r in read_manifest(bank / "manifest.csv") if r["label"] == "apple.scab")
    photo = (bank / row["file"]).read_bytes()
    root = Path(tempfile.mkdtemp(prefix="iriis-first-start-"))
    try:
        figures = {
            "bank_photos": len(read_manifest(bank / "manifest.csv")),
            "fresh": _start(root / "home", args.port, photo, stop_at=None),
            "gallery_built": _start(root / "home", args.port, photo, stop_at=None),
            "stopped_part_way": _start(root / "resumed", args.port, photo, stop_at=args.stop_at),
            "resumed": _start(root / "resumed", args.port, photo, stop_at=1),
        }
    finally:
        for home in ("home", "resumed"):
            shutil.rmtree(root / home, ignore_errors=True)
        log.info("the output of each make run is in %s", root)
    save("first_start", figures)


def _start(home: Path, port: int, photo: bytes, *, stop_at: int | None) -> dict[str, Any]:
    """One ``make run`` until the gallery is ready (``stop_at`` None), or until /readyz counts
    at least ``stop_at`` photos done, then Ctrl-C."""
    base = f"http://127.0.0.1:{port}"
    output = home.parent / f"{home.name}-make-run.log"
    env = {**os.environ, "IRIIS_HOME": str(home), "IRIIS_SERVE_PORT": str(port)}
    load_before = os.getloadavg()[0]
    start = time.monotonic()
    with open(output, "ab") as sink:
        make = subprocess.Popen(
            ["make", "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    figures: dict[str, Any] = {}
    try:
        figures["healthz_s"] = _first_200(f"{base}/healthz", make, start)
        figures["readyz_s"] = _first_200(f"{base}/readyz", make, start)
        ready = httpx.get(f"{base}/readyz", timeout=60).json()
        figures["readyz_first"] = ready
        log.info(
            "%s: /healthz after %.1f s, /readyz after %.1f s: %s",
            home.name,
            figures["healthz_s"],
            figures["readyz_s"],
            ready,
        )
        headers = _sign_in(base, output)
        during, after, progress = [], [], []
        last_identify = last_progress = 0.0
        while True:
            gallery = httpx.get(f"{base}/readyz", timeout=60).json()["gallery"]
            now = time.monotonic()
            if now - last_progress >= PROGRESS_EVERY_S:
                progress.append((round(now - start, 1), gallery))
                log.info("%s: %.0f s: gallery %s", home.name, now - start, gallery)
                last_progress = now
            if gallery == "ready":
                figures["gallery_ready_s"] = round(now - start, 1)
                break
            done = re.match(r"building (\d+)/", gallery)
            if stop_at is not None and done and int(done.group(1)) >= stop_at:
                figures["stopped_at"] = gallery
                break
            if now - last_identify >= IDENTIFY_EVERY_S:
                during.append(_identify(base, headers, photo))
                last_identify = time.monotonic()
            time.sleep(1.0)
        if stop_at is None:
            after = [_identify(base, headers, photo) for _ in range(5)]
        resumed = re.findall(r"resuming an interrupted build: (\d+) photos", output.read_text())
        figures.update(
            identifications_during_build=during,
            identifications_after=after,
            progress=progress,
            resumed_photos=int(resumed[-1]) if resumed else 0,
        )
    finally:
        figures["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        make.wait(60)
    return figures


def _first_200(url: str, make: subprocess.Popen[bytes], start: float) -> float:
    while True:
        try:
            if httpx.get(url, timeout=60).status_code == 200:
                return round(time.monotonic() - start, 2)
        except httpx.TransportError:
            pass
        if make.poll() is not None:
            raise RuntimeError(f"make run ended with status {make.returncode}")
        time.sleep(POLL_S)


def _sign_in(base: str, output: Path) -> dict[str, str]:
    printed = re.findall(r"demo grower: demo\.grower / (\S+)", output.read_text(errors="replace"))
    token = httpx.post(
        f"{base}/v1/auth/token",
        data={"username": "demo.grower", "password": printed[-1]},
        timeout=60,
    )
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _identify(base: str, headers: dict[str, str], photo: bytes) -> dict[str, Any]:
    start = time.perf_counter()
    answer = httpx.post(
        f"{base}/v1/identifications",
        files=[("photos", ("leaf.jpg", photo, "image/jpeg"))],
        headers=headers,
        timeout=120,
    )
    seconds = time.perf_counter() - start
    body = answer.json()
    return {
        "status": answer.status_code,
        "seconds": round(seconds, 3),
        "similar": len(body.get("similar") or ()),
        "gallery": body.get("gallery"),
    }


if __name__ == "__main__":
    main()
