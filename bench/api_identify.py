"""Identifications per second and latency of the API, end to end over HTTP on 127.0.0.1.

Starts ``iriis serve`` in a fresh IRIIS_HOME (embedded SQLite unless ``--database-url``), registers
one grower per client, then for each concurrency level runs that many clients, each sending
photos of the bank's test split one after the other (multipart upload, fresh client id, JSON
answer) for ``--seconds``. Prints a Markdown table and writes the figures as JSON.

    python bench/api_identify.py --clients 1 8 32 --seconds 20
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO))

from bench.common import machine  # noqa: E402
from model.manifest import read_manifest  # noqa: E402
from model.settings import Settings  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(home: Path, port: int, workers: int, database_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "IRIIS_HOME": str(home),
        "IRIIS_IDENTIFICATIONS_PER_HOUR": "1000000",
        "IRIIS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
    }
    if database_url:
        env["IRIIS_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "model.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def sign_up(base: str, name: str) -> dict[str, str]:
    password = "bench password"
    httpx.post(
        f"{base}/v1/auth/register",
        json={"username": name, "password": password, "role": "grower"},
    ).raise_for_status()
    token = httpx.post(f"{base}/v1/auth/token", data={"username": name, "password": password})
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def run_level(
    base: str, users: list[dict[str, str]], photos: list[bytes], seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(headers: dict[str, str], offset: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            index = offset
            while time.monotonic() < stop:
                photo = photos[index % len(photos)]
                index += 1
                start = time.perf_counter()
                response = http.post(
                    "/v1/identifications",
                    files=[("photos", ("photo.jpg", photo, "image/jpeg"))],
                    data={"client_id": str(uuid.uuid4())},
                )
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status_code == 201:
                        latencies.append(elapsed)
                    else:
                        errors.append(response.status_code)

    began = time.monotonic()
    threads = [
        threading.Thread(target=client, args=(headers, i * 7)) for i, headers in enumerate(users)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    if len(latencies) < 2:
        raise SystemExit(f"no successful identification; statuses: {sorted(set(errors))}")
    cut = statistics.quantiles(latencies, n=100)
    return {
        "clients": len(users),
        "requests": len(latencies),
        "errors": len(errors),
        "per_second": round(len(latencies) / wall, 1),
        "p50_ms": round(cut[49] * 1000, 1),
        "p95_ms": round(cut[94] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--photos", type=int, default=64, help="distinct test photos used")
    parser.add_argument("--database-url", default="", help="default: SQLite under IRIIS_HOME")
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / "api_identify.json"
    )
    args = parser.parse_args()

    settings = Settings()
    rows = [r for r in read_manifest(settings.splits_path) if r["split"] == "test"]
    step = max(1, len(rows) // args.photos)
    photos = [(settings.bank_dir / r["file"]).read_bytes() for r in rows[::step][: args.photos]]
    with tempfile.TemporaryDirectory(prefix="iriis-bench-") as home:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(Path(home), port, args.workers, args.database_url)
        try:
            users = [sign_up(base, f"bench.{i}") for i in range(max(args.clients))]
            # Warm-up: loads the identifier and fills the caches.
            run_level(base, users[:1], photos, 3)
            results = [run_level(base, users[:n], photos, args.seconds) for n in args.clients]
        finally:
            server.terminate()
            server.wait(10)
    figures = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        # Other work on the machine skews the figures: the 1-minute load average at the end.
        "load_average": round(os.getloadavg()[0], 1),
        "workers": args.workers,
        "database": "postgresql" if args.database_url else "sqlite",
        "photo_bytes_median": int(statistics.median(len(p) for p in photos)),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print("| clients | identifications/s | p50 | p95 | errors |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['clients']} | {r['per_second']} | {r['p50_ms']} ms | {r['p95_ms']} ms "
            f"| {r['errors']} |"
        )


if __name__ == "__main__":
    main()
