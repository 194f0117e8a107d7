"""The lab's API server as a child process on 127.0.0.1, for the screenshots and the tests.

It is the real service (``iriis serve``), started as an operator starts it, with its own state
under ``home``; a specialist account can answer cases through the API as the lab's pages do, so
that a phone's "my requests" shows real answers.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from model.paths import REPO_ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalServer:
    def __init__(self, home: Path, bundles_dir: Path, port: int | None = None) -> None:
        self.home = home
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "IRIIS_HOME": str(home),
            "IRIIS_BUNDLES_DIR": str(bundles_dir),
            "IRIIS_DATABASE_URL": "",
            "IRIIS_SECRET_KEY": "",
            "IRIIS_LOG_LEVEL": "WARNING",
            # one phone sends many requests within seconds here
            "IRIIS_IDENTIFICATIONS_PER_HOUR": "100000",
            "IRIIS_SPECIALIST_REQUESTS_PER_DAY": "100000",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> "LocalServer":
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "server.log", "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "model.cli", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.home / "server.log").read_text(errors="replace")
                raise RuntimeError(f"the server did not start:\n{log}")
            time.sleep(0.1)

    def kill(self) -> None:
        """Stop the server at once, as a crash or a power cut would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def answer(self, case_id: str, label: str, message: str) -> None:
        """A specialist corrects a case, as the lab's pages do (the account is made once)."""
        name, password = "lab.specialist", "specialist password"
        create = ["users", "create", name, "--role", "specialist", "--password-stdin"]
        subprocess.run(
            [sys.executable, "-m", "model.cli", *create],
            env=self.env,
            cwd=REPO_ROOT,
            input=f"{password}\n",
            text=True,
            capture_output=True,
            timeout=60,
            check=False,  # the account exists already after the first answer
        )
        with httpx.Client(base_url=self.url, timeout=30) as client:
            token = client.post("/v1/auth/token", data={"username": name, "password": password})
            token.raise_for_status()
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            client.post(f"/v1/queue/cases/{case_id}/claim", headers=headers).raise_for_status()
            client.post(
                f"/v1/queue/cases/{case_id}/decisions",
                headers=headers,
                json={"action": "correct", "label": label, "message": message},
            ).raise_for_status()
