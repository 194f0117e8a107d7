"""What one request may cost the server: memory bounded for photos that are huge once decoded,
and bodies refused as they stream in, with or without a declared length.

Memory is measured as an operator would see it: the peak resident memory (``VmHWM``) of a real
``iriis serve`` process, reset before each request (``/proc/PID/clear_refs``).
"""

import asyncio
import io
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import ValidationError
from sqlalchemy import Engine
from starlette.types import ASGIApp

from api.app import create_app
from api.db import session_factory
from api.models import Role
from api.services.uploads import TOO_MANY_PHOTOS
from api.services.users import create_user
from api.settings import ApiSettings
from model.paths import REPO_ROOT
from tests.api_support import PASSWORD, bearer
from tests.helpers import jpeg_bytes, run_iriis, textured_image

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc to measure memory"
)

log = logging.getLogger(__name__)

MB = 1_000_000
# The target for the PNG bomb; the other photos must stay as cheap.
MAX_GROWTH = 400 * MB


def png_bomb() -> bytes:
    """115 KB of PNG announcing 10,900 x 10,900 grey pixels (under the 120 MP cap)."""
    buffer = io.BytesIO()
    Image.new("L", (10_900, 10_900)).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def jpeg_100_megapixels() -> bytes:
    """A smooth 11,550 x 8,660 colour photo, as a 108-megapixel phone camera takes."""
    photo = textured_image(7, size=(1155, 866)).resize((11_550, 8_660), Image.Resampling.BILINEAR)
    return jpeg_bytes(photo, quality=85)


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


@dataclass
class Served:
    base: str
    pid: int
    home: Path
    headers: dict[str, str]
    resting: int = 0  # resident memory once warmed up, before any request measured

    def post(self, photos: list[bytes]) -> tuple[httpx.Response, int]:
        """Send one identification; the answer and how far the server's resident memory rose
        above its resting size, at its peak (memory an earlier request kept counts too)."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        files = [
            ("photos", (f"p{n}.bin", data, "application/octet-stream"))
            for n, data in enumerate(photos)
        ]
        response = httpx.post(
            f"{self.base}/v1/identifications", files=files, headers=self.headers, timeout=120
        )
        return response, _status(self.pid, "VmHWM") - self.resting


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``iriis serve`` in its own process with a grower signed in and the identifier warmed up
    (loaded by a first identification), so that what a request costs is all that is measured."""
    home = tmp_path_factory.mktemp("served")
    env = {
        **os.environ,
        "IRIIS_HOME": str(home),
        "PYTHONPATH": str(REPO_ROOT),
        "IRIIS_DATABASE_URL": "",
        "IRIIS_SECRET_KEY": "",
    }
    created = run_iriis(
        "users",
        "create",
        "tester",
        "--role",
        "grower",
        "--password-stdin",
        env=env,
        input=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    port = _free_port()
    log = home / "server.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "model.cli", "serve", "--port", str(port)],
            env=env,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start: " + log.read_text()
            time.sleep(0.2)
        token = httpx.post(
            f"{base}/v1/auth/token", data={"username": "tester", "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        served = Served(base, process.pid, home, headers)
        warm, _ = served.post([jpeg_bytes(textured_image(1, size=(640, 480)))])
        assert warm.status_code == 201, warm.text
        served.resting = _status(process.pid, "VmRSS")
        yield served
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    return jpeg_100_megapixels()


@needs_proc
def test_a_png_bomb_costs_little_memory(served: Served) -> None:
    response, growth = served.post([png_bomb()])
    assert response.status_code == 201, response.text
    log.info("peak memory growth: %.0f MB", growth / MB)
    assert growth < MAX_GROWTH, f"{growth / MB:.0f} MB"


@needs_proc
def test_a_100_megapixel_jpeg_costs_little_memory_and_is_stored_reduced(
    served: Served, big_jpeg: bytes
) -> None:
    response, growth = served.post([big_jpeg])
    assert response.status_code == 201, response.text
    log.info("peak memory growth: %.0f MB", growth / MB)
    assert growth < MAX_GROWTH, f"{growth / MB:.0f} MB"
    stored = [Image.open(path).size for path in (served.home / "photos").glob("*/*.jpg")]
    assert (4096, 3071) in stored and max(max(size) for size in stored) == 4096


@needs_proc
def test_five_100_megapixel_jpegs_in_one_request_cost_little_memory(
    served: Served, big_jpeg: bytes
) -> None:
    response, growth = served.post([big_jpeg] * 5)
    assert response.status_code == 201, response.text
    log.info("peak memory growth: %.0f MB", growth / MB)
    assert growth < MAX_GROWTH, f"{growth / MB:.0f} MB"


# --- bodies refused as they stream in (the application driven in-process, chunk by chunk)

BOUNDARY = "limits"


def _part(number: int, size: int) -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photos"; '
        f'filename="p{number}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    chunk = bytes(64_000)
    for _ in range(size // len(chunk)):
        yield chunk
    yield b"\r\n"


def _multipart(parts: int, size: int) -> Iterator[bytes]:
    for number in range(parts):
        yield from _part(number, size)
    yield f"--{BOUNDARY}--\r\n".encode()


def _stream(app: ASGIApp, headers: dict[str, str], body: Iterator[bytes]) -> tuple[int, str, int]:
    """POST ``body`` without a declared length (chunked, as a client streaming a file does):
    the status, the detail, and how many bytes the application read before it answered."""
    read = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal read
        for chunk in body:
            read += len(chunk)
            yield chunk

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(
                "/v1/identifications",
                content=chunks(),
                headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            )

    # in a thread of its own: the session's browser (Playwright's sync API) keeps an event loop
    # running in this one, where asyncio.run refuses to start another
    with ThreadPoolExecutor(max_workers=1) as pool:
        response = pool.submit(asyncio.run, post()).result()
    return response.status_code, str(response.json()["detail"]), read


@pytest.fixture
def small_limits(
    tmp_path: Path, sqlite_engine: Engine
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An application taking photos of 1 MB at most (a body of 6 MB), a grower signed in."""
    settings = ApiSettings(
        home=tmp_path / "home",
        database_url=sqlite_engine.url.render_as_string(hide_password=False),
        secret_key="test secret key, not for production use",
        max_photo_mb=1.0,
    )
    with session_factory(sqlite_engine)() as session:
        create_user(session, username="limits.grower", password=PASSWORD, role=Role.GROWER)
    with TestClient(create_app(settings)) as client:
        yield client, bearer(client, "limits.grower")


def test_a_body_without_declared_length_is_cut_at_the_limit(
    small_limits: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = small_limits
    status, detail, read = _stream(client.app, headers, _multipart(1, 30 * MB))
    assert status == 413 and read < 7 * MB, (status, detail, read)
    assert detail == (  # in the grower's language, read from the token: no route ran yet
        "requête trop grande : plus de 6 Mo (au plus 5 photos de 1 Mo chacune, et les champs du "
        "formulaire)"
    )


def test_the_photo_count_is_checked_as_the_parts_arrive(
    small_limits: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = small_limits
    status, detail, read = _stream(client.app, headers, _multipart(40, MB // 2))
    # Refused at the sixth photo's headers: 2.5 MB read of 20 MB sent.
    assert status == 400 and read < 3 * MB, (status, detail, read)
    assert detail == TOO_MANY_PHOTOS["fr"]  # the project's sentence, not Starlette's


def test_a_photo_over_the_size_limit_is_told_the_real_limit(
    small_limits: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = small_limits
    response = client.post(
        "/v1/identifications",
        files=[("photos", ("big.jpg", bytes(3 * MB), "image/jpeg"))],
        headers=headers,
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "la photo 1 dépasse 1 Mo, la taille maximale d'une photo"


def test_the_stored_photo_cap_keeps_the_detail_specialists_need() -> None:
    assert ApiSettings().max_photo_side == 4096
    with pytest.raises(ValidationError):
        ApiSettings(max_photo_side=1024)
