"""`iriis serve` and `iriis users create` as an operator runs them: a real server process on
127.0.0.1, its state under IRIIS_HOME."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from model.paths import REPO_ROOT
from tests.helpers import run_iriis


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "IRIIS_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(REPO_ROOT),
        "IRIIS_DATABASE_URL": "",
        "IRIIS_SECRET_KEY": "",
    }


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "model.cli", "serve", "--port", str(port), "--demo"],
            env=env,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start: " + log.read_text()
            time.sleep(0.2)
        yield base, log
    finally:
        process.terminate()
        process.wait(10)


def test_serve_runs_on_embedded_defaults_with_demo_accounts(
    server: tuple[str, Path], env: dict[str, str]
) -> None:
    base, log = server
    # The demo passwords are generated at start and printed; none is in the code or the README.
    printed = dict(re.findall(r"demo \w+: (demo\.\w+) / (\S+)", log.read_text()))
    assert set(printed) == {"demo.specialist", "demo.grower"}
    for source in ("api/commands.py", "README.md"):
        text = (REPO_ROOT / source).read_text()
        assert not any(password in text for password in printed.values()), source
    with httpx.Client(base_url=base, timeout=10) as client:
        token = client.post(
            "/v1/auth/token", data={"username": "demo.grower", "password": printed["demo.grower"]}
        )
        assert token.status_code == 200
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert client.get("/v1/cases", headers=headers).json() == []
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "IRIIS Phyto API"
    home = Path(env["IRIIS_HOME"])
    assert (home / "iriis.db").is_file() and (home / "secret.key").stat().st_mode & 0o077 == 0
    text = log.read_text()
    assert f"API documentation:  {base}/docs" in text and f"{base}/lab/" in text
    structured = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [entry for entry in structured if entry["logger"] == "api.access"]
    assert {entry["route"] for entry in access} >= {"/v1/auth/token", "/v1/cases"}


def test_users_create_from_the_command_line(env: dict[str, str]) -> None:
    created = run_iriis(
        "users", "create", "m.gagnon", "--role", "specialist", env=env, stdin=subprocess.DEVNULL
    )
    assert created.returncode == 0, created.stderr
    assert "created m.gagnon (specialist" in created.stdout
    password = created.stdout.split("password: ")[1].strip()
    assert len(password) >= 12
    again = run_iriis(
        "users",
        "create",
        "m.gagnon",
        "--role",
        "admin",
        "--password-stdin",
        env=env,
        input="another password\n",
    )
    assert again.returncode == 1 and "taken" in again.stderr
    chosen = run_iriis(
        "users",
        "create",
        "root",
        "--role",
        "admin",
        "--password-stdin",
        env=env,
        input="a chosen password\n",
    )
    assert chosen.returncode == 0 and "password:" not in chosen.stdout
