"""Growers and specialists at once against the real service on PostgreSQL, then the audit.

``iriis serve --workers N`` runs on a database of its own, created for the run on the PostgreSQL
server of ``--postgres-url`` (``iriis_load_<pid>``, dropped at the end), in a fresh IRIIS_HOME
(the configured home's gallery of the served model copied in, when it was built). 50 growers
send field photos of the bank's test split, one after the other with no pause (multipart, a
client id each; some ask a specialist, name their crop, give a location; some send the same
request again, as a phone whose answer was lost does) and read their cases; 5 specialists claim
from the queue, read each case for ``--think`` seconds, and answer it (confirm or correct, by
the photo's bank label) or release it. After ``--warmup`` seconds, for ``--minutes``:

- throughput (identifications created per second), latency per operation (p50, p95, p99) and
  error rate;
- where the cores' time went (``bench/procstat.py``): the service's processes, the database's
  backends, this client, the rest of the machine, idle;
- the audit (``tests/audit_support.py``): every client id answered 2xx stored once, every photo
  row with its file, no file without a row.

Then, with the service stopped, on the same photos: the ceiling, ``Identifier.identify`` of the
served bundle and variant in 2 processes of 1 thread (photos per second), and the breakdown
(``bench/stages.py``): ``--breakdown-requests`` identifications sent one at a time to the same
application run in this process, each stage's milliseconds per identification. Prints the
figures and writes ``bench/results/load.json`` (``--name``); exits 1 when the audit finds anything.

    python -m bench.load [--minutes 5] [--workers 2]
    python -m bench.load --photos 20 --photo-side 4000 --name load-phone   # phone-sized
"""

import argparse
import asyncio
import io
import json
import logging
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.app import create_app  # noqa: E402
from api.db import make_engine, session_factory, upgrade  # noqa: E402
from api.deps import serving_identifier  # noqa: E402
from api.logs import setup_json_logging  # noqa: E402
from api.services.users import create_user  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from bench import procstat  # noqa: E402
from bench.common import save, summary_ms  # noqa: E402
from bench.http1 import Connection, Part, multipart  # noqa: E402
from bench.stages import Stages, TimedApp, instrumented  # noqa: E402
from model.bundle import latest_bundle, load_bundle  # noqa: E402
from model.imaging import decode_image  # noqa: E402
from model.manifest import read_manifest  # noqa: E402
from model.settings import Settings  # noqa: E402
from tests.audit_support import audit  # noqa: E402

log = logging.getLogger("bench")

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "load bench password"
# What growers do, per identification sent.
ASK_SPECIALIST = 0.2
NAME_CROP = 0.5
LOCATED = 0.5
SHARED = 0.3
SEND_AGAIN = 0.05  # the same request again, as a phone that lost the answer
READ_CASE_EVERY = 4  # identifications between two looks at one of their cases
LIST_CASES_EVERY = 10
# What specialists do: a case released instead of answered; the wait when the queue is empty.
RELEASE = 0.1
EMPTY_QUEUE_WAIT_S = 0.5
# The service's per-user limits, far above what the bench sends: the bench measures capacity.
SERVICE_SETTINGS = {"identifications_per_hour": 10**7, "specialist_requests_per_day": 10**7}


@dataclass(frozen=True)
class Photo:
    data: bytes
    label: str
    host: str


def field_photos(count: int, side: int = 0) -> list[Photo]:
    """``count`` field photos of the bank's test split, drawn with a fixed seed. With ``side``,
    each is enlarged to that many pixels on its longer side and saved as a JPEG of quality 90:
    the bank's photos are at most 256 px on their shorter side, a phone's are 3,000 to 4,000
    px, and the service's decoding and re-encoding grow with that (the model's much less: it
    decodes at a reduced scale)."""
    settings = Settings()
    rows = [
        r
        for r in read_manifest(settings.splits_path)
        if r["split"] == "test" and r["setting"] == "field"
    ]
    chosen = sorted(random.Random(0).sample(rows, min(count, len(rows))), key=lambda r: r["file"])
    photos = []
    for row in chosen:
        data = (settings.bank_dir / row["file"]).read_bytes()
        if side:
            image = decode_image(data)
            scale = side / max(image.size)
            buffer = io.BytesIO()
            image.resize((round(image.width * scale), round(image.height * scale))).save(
                buffer, format="JPEG", quality=90
            )
            data = buffer.getvalue()
        photos.append(Photo(data, row["label"], row["host"]))
    return photos


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database ``iriis_load_<pid>`` on the server of ``server_url``; its URL. Dropped at
    the end, connections and all; nothing else on the server is touched."""
    name = f"iriis_load_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def copy_gallery(home: Path) -> str | None:
    """The configured home's gallery of the served bundle copied into ``home``; its version,
    or None (answers without similar photos) when it was never built."""
    settings = Settings()
    version = load_bundle(latest_bundle(settings.bundles_dir), check=False).version
    source = settings.galleries_dir / version
    if not (source / "gallery.json").exists():
        log.warning("no gallery in %s: answers will have no similar photos", source)
        return None
    shutil.copytree(source, home / "galleries" / version)
    return version


def service_settings(home: Path, database_url: str, minutes: float) -> dict[str, Any]:
    """The service's settings for the run, whatever the environment says: its own home and
    database, photos in the home's folder (what the audit reads), no gallery build competing
    for the cores, tokens that outlast the run."""
    return {
        **SERVICE_SETTINGS,
        "home": home,
        "database_url": database_url,
        "photos_url": "",
        "gallery_build_on_start": False,
        "access_token_minutes": int(minutes) + 60,
    }


def create_users(database_url: str, growers: int, specialists: int) -> list[tuple[str, str]]:
    """The run's accounts, created in the database (registration is limited per address);
    their usernames and roles."""
    engine = make_engine(database_url)
    upgrade(engine)
    accounts = [(f"grower{i}", "grower") for i in range(growers)]
    accounts += [(f"specialist{i}", "specialist") for i in range(specialists)]
    with session_factory(engine)() as session:
        for username, role in accounts:
            create_user(session, username=username, password=PASSWORD, role=role)
    engine.dispose()
    return accounts


def database_bytes(database_url: str) -> int:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        size = int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar())
    engine.dispose()
    return size


def storage(database_url: str, empty: int, photos_dir: Path) -> dict[str, Any]:
    """What the run's identifications take: the database's growth and the photo files, each
    per identification and per file (the sizing of docs/scaling.md)."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        identifications = int(
            connection.execute(text("SELECT count(*) FROM identifications")).scalar()
        )
        cases = int(connection.execute(text("SELECT count(*) FROM cases")).scalar())
    engine.dispose()
    grown = database_bytes(database_url) - empty
    files = [path.stat().st_size for path in photos_dir.rglob("*.jpg")]
    return {
        "identifications": identifications,
        "cases": cases,
        "database_bytes_grown": grown,
        "database_bytes_per_identification": round(grown / max(identifications, 1)),
        "photo_files": len(files),
        "photo_bytes": sum(files),
        "photo_bytes_per_file": round(sum(files) / max(len(files), 1)),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_service(
    settings: dict[str, Any], port: int, workers: int, output: Path
) -> subprocess.Popen:
    env = {
        **os.environ,
        **{f"IRIIS_{key.upper()}": str(value) for key, value in settings.items()},
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "model.cli", "serve", "--port", str(port)]
    with open(output, "ab") as stream:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=env,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers stop with it
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    stop_service(process)
    raise SystemExit(f"the service did not start; see {output}")


def stop_service(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def sign_in(http: httpx.Client, username: str) -> dict[str, str]:
    response = http.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def grower_form(photo: Photo, rng: random.Random) -> dict[str, str]:
    form = {"client_id": str(uuid.UUID(int=rng.getrandbits(128)))}
    if rng.random() < ASK_SPECIALIST:
        form |= {"ask_specialist": "true", "message": "Qu'est-ce que c'est ?"}
    if photo.host and rng.random() < NAME_CROP:
        form["crop"] = photo.host
    if rng.random() < LOCATED:
        form |= {
            "latitude": f"{rng.uniform(45, 48):.4f}",
            "longitude": f"{rng.uniform(-74, -70):.4f}",
        }
    if rng.random() < SHARED:
        form["share_surveillance"] = "true"
    return form


def photo_part(photo: Photo) -> Part:
    return ("photos", "photo.jpg", photo.data, "image/jpeg")


class Run:
    """The clients' shared record: every request's operation, status, start and end, the ids
    each client id was answered with (the audit's input), and each identification's bank label
    (the specialists' answer). Each client has a connection of its own."""

    def __init__(self, port: int, until: float) -> None:
        self.port = port
        self.until = until
        self.requests: list[tuple[str, int, float, float]] = []
        self.acknowledged: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.truth: dict[str, str] = {}

    async def call(
        self, connection: Connection, op: str, method: str, path: str, **kwargs: Any
    ) -> Any:
        """The answer's JSON when it is a 2xx with a body, else None."""
        start = time.monotonic()
        try:
            status, data = await connection.request(method, path, **kwargs)
        except OSError:
            status, data = 0, b""
        self.requests.append((op, status, start, time.monotonic()))
        return json.loads(data) if 200 <= status < 300 and data else None

    async def grower(
        self, name: str, headers: dict[str, str], photos: list[Photo], rng: random.Random
    ) -> None:
        connection, cases, sent = Connection("127.0.0.1", self.port), list[str](), 0
        while time.monotonic() < self.until:
            sent += 1
            photo = rng.choice(photos)
            form = grower_form(photo, rng)
            body, kind = multipart(form, [photo_part(photo)])
            again = rng.random() < SEND_AGAIN
            for op in ("identify", "identify_again") if again else ("identify",):
                answer = await self.call(
                    connection,
                    op,
                    "POST",
                    "/v1/identifications",
                    headers=headers,
                    body=body,
                    content_type=kind,
                )
                if answer is None:
                    break
                self.acknowledged[(name, form["client_id"])].add(answer["id"])
                self.truth[answer["id"]] = photo.label
                if answer["case"] and op == "identify":
                    cases.append(answer["case"]["id"])
            if cases and sent % READ_CASE_EVERY == 0:
                path = f"/v1/cases/{rng.choice(cases)}"
                await self.call(connection, "read_case", "GET", path, headers=headers)
            if sent % LIST_CASES_EVERY == 0:
                path = "/v1/cases?limit=20"
                await self.call(connection, "list_cases", "GET", path, headers=headers)
        connection.close()

    async def specialist(self, headers: dict[str, str], rng: random.Random, think: float) -> None:
        connection = Connection("127.0.0.1", self.port)
        while time.monotonic() < self.until:
            claimed = await self.call(
                connection, "claim", "POST", "/v1/queue/claim", headers=headers
            )
            if claimed is None:  # 204: the queue is empty
                await asyncio.sleep(EMPTY_QUEUE_WAIT_S)
                continue
            await asyncio.sleep(think)
            case = f"/v1/queue/cases/{claimed['case']['id']}"
            if rng.random() < RELEASE:
                await self.call(connection, "release", "POST", f"{case}/release", headers=headers)
                continue
            identification = claimed["identification"]
            model, right = identification["label"], self.truth.get(identification["id"])
            decision = (
                {"action": "confirm", "message": "Confirmé par le laboratoire."}
                if right in (None, model)
                else {"action": "correct", "label": right, "message": "Corrigé par le laboratoire."}
            )
            await self.call(
                connection,
                "decide",
                "POST",
                f"{case}/decisions",
                headers=headers,
                json_body=decision,
            )
        connection.close()


async def drive(
    port: int,
    tokens: dict[str, dict[str, str]],
    photos: list[Photo],
    *,
    warmup: float,
    seconds: float,
    think: float,
    server_pid: int,
    database: str,
) -> tuple[Run, float, float, dict[str, float]]:
    """Every client at once for ``warmup + seconds``; the record, the measured window's start
    and end, and the CPU seconds spent in it."""
    run = Run(port, time.monotonic() + warmup + seconds)
    clients = [
        run.grower(name, headers, photos, random.Random(name))
        if name.startswith("grower")
        else run.specialist(headers, random.Random(name), think)
        for name, headers in tokens.items()
    ]
    tasks = [asyncio.create_task(client) for client in clients]
    await asyncio.sleep(warmup)
    start, before = time.monotonic(), procstat.snapshot(server_pid, database)
    await asyncio.sleep(max(0.0, run.until - time.monotonic()))
    end, after = time.monotonic(), procstat.snapshot(server_pid, database)
    await asyncio.gather(*tasks)
    return run, start, end, procstat.spent(before, after)


def latencies(run: Run, start: float, end: float) -> dict[str, Any]:
    """Per operation, of the requests that ended in the window: count, statuses, error rate
    and latency; and all operations together."""
    window = [r for r in run.requests if start <= r[3] <= end]
    result: dict[str, Any] = {}
    for op in sorted({r[0] for r in window}):
        mine = [r for r in window if r[0] == op]
        failed = sum(1 for r in mine if r[1] == 0 or r[1] >= 400)
        result[op] = {
            "requests": len(mine),
            "statuses": dict(sorted(Counter(str(r[1]) for r in mine).items())),
            "error_rate": round(failed / len(mine), 5),
            **summary_ms([r[3] - r[2] for r in mine]),
        }
    failed = sum(1 for r in window if r[1] == 0 or r[1] >= 400)
    result["all"] = {
        "requests": len(window),
        "errors": failed,
        "error_rate": round(failed / len(window), 5) if window else None,
    }
    return result


def _ceiling_worker(
    settings: dict[str, Any],
    photos: list[bytes],
    seconds: float,
    start: Any,
    results: Any,
) -> None:
    identifier = serving_identifier(ApiSettings(**settings))  # the served model, no gallery
    for data in photos[:5]:
        identifier.identify([data])
    start.wait()
    count, began, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - began < seconds:
        identifier.identify([photos[count % len(photos)]])
        count += 1
    results.put((count, time.perf_counter() - began, time.process_time() - cpu))


def ceiling(
    settings: dict[str, Any], photos: list[Photo], seconds: float, processes: int = 2
) -> dict[str, Any]:
    """``Identifier.identify`` of the served bundle and variant (without the gallery) on the
    same photos, in ``processes`` processes of one ONNX thread each, all at once: photos per
    second, and CPU milliseconds per photo."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(
            target=_ceiling_worker,
            args=(settings, [p.data for p in photos], seconds, start, results),
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    counts = [results.get(timeout=seconds + 300) for _ in workers]
    for worker in workers:
        worker.join()
    served = ApiSettings(**settings)
    photos_done = sum(count for count, _, _ in counts)
    return {
        "processes": processes,
        "threads": served.serve_model_threads,
        "variant": served.serve_model_variant,
        "seconds": seconds,
        "photos": photos_done,
        "photos_per_second": round(sum(count / wall for count, wall, _ in counts), 2),
        # CPU per photo: what the model alone costs, whatever else the machine was doing
        "cpu_ms_per_photo": round(sum(cpu for _, _, cpu in counts) * 1000 / photos_done, 2),
    }


# The breakdown's rows: the stages of bench/stages.py, grouped as the issue names them.
GROUPS = [
    ("model: decode, quality, preprocess, ONNX, decision", ("model:",)),
    ("gallery search", ("gallery search",)),
    ("store copy without metadata: lossless strip (or re-encode), check decode", ("store copy:",)),
    ("store write (file)", ("store write",)),
    ("tokens: JWT and the user's row", ("token check", "database: SELECT users")),
    ("database: the other round trips", ("database:",)),
    ("ORM: flush and session close", ("ORM:",)),
    (
        "rate limits, idempotency check, case opening",
        ("rate limits", "idempotency", "case opening"),
    ),
    ("service logic (the rest)", ("service logic",)),
    ("answer building (reading, catalog, shapes)", ("answer building",)),
    ("expected wait shown with the answer (its queries above)", ("expected wait",)),
    ("model lookup per request", ("model lookup",)),
    ("multipart parsing", ("multipart",)),
    ("response validation and JSON", ("response validation",)),
    ("logging", ("logging",)),
]


async def one_at_a_time(
    port: int,
    headers: dict[str, str],
    photos: list[Photo],
    count: int,
    app: TimedApp,
    rng: random.Random,
) -> float:
    """``count`` identifications, each sent once the one before is finished in the service;
    the seconds the client waited for their answers."""
    connection, waited = Connection("127.0.0.1", port), 0.0
    for number in range(count):
        photo = photos[number % len(photos)]
        body, kind = multipart(grower_form(photo, rng), [photo_part(photo)])
        app.done.clear()
        began = time.perf_counter()
        status, data = await connection.request(
            "POST", "/v1/identifications", headers=headers, body=body, content_type=kind
        )
        waited += time.perf_counter() - began
        if status != 201:
            raise SystemExit(f"breakdown: {status} {data[:300]!r}")
        app.done.wait(30)
    connection.close()
    return waited


def breakdown(
    settings: dict[str, Any], photos: list[Photo], requests: int, log_path: Path
) -> dict[str, Any]:
    """``requests`` identifications sent one at a time to the application run in this process,
    every stage timed: milliseconds per identification per stage, the framework's rest (the
    application's time outside the stages) and the HTTP exchange (the client's wait outside
    the application: uvicorn's parsing, the socket, this client) adding up to the cost of one
    identification (its latency, and what the service does after answering)."""
    stages = Stages()
    app_settings = ApiSettings(**settings)
    app = TimedApp(create_app(app_settings), stages)
    port = free_port()
    root = logging.getLogger()
    kept = (root.handlers[:], root.level)
    setup_json_logging(app_settings.log_level)  # as `iriis serve` does, into the run's log
    log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115
    root.handlers[0].setStream(log_file)  # type: ignore[attr-defined]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        with instrumented(stages):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                headers = sign_in(http, "grower0")
            rng = random.Random(1)
            asyncio.run(one_at_a_time(port, headers, photos, 10, app, rng))  # model, gallery
            stages.reset()
            stages.on = True
            waited = asyncio.run(one_at_a_time(port, headers, photos, requests, app, rng))
            stages.on = False
    finally:
        server.should_exit = True
        thread.join(30)
        root.handlers[:] = kept[0]
        root.setLevel(kept[1])
        log_file.close()

    def ms(seconds: float) -> float:
        return seconds * 1000 / requests

    per = {name: ms(seconds) for name, seconds in stages.seconds.items()}
    table, left = [], dict(per)
    for title, prefixes in GROUPS:
        names = [n for n in left if n.startswith(prefixes)]
        calls = sum(stages.calls[n] for n in names) / requests
        spent = sum(left.pop(n) for n in names)
        table.append({"stage": title, "ms": round(spent, 2), "calls": round(calls, 2)})
    rest = {
        "stages not grouped": sum(left.values()),
        "framework: routing, dependencies, thread hops, request validation": ms(stages.app_seconds)
        - sum(per.values()),
        "HTTP: uvicorn's parsing, the socket, the client": ms(waited - stages.sent_seconds),
    }
    table += [{"stage": name, "ms": round(value, 2), "calls": None} for name, value in rest.items()]
    return {
        "requests": requests,
        "latency_ms": round(ms(waited), 2),
        "after_answer_ms": round(ms(stages.app_seconds - stages.sent_seconds), 2),
        "total_ms": round(sum(row["ms"] for row in table), 2),
        "table": table,
        "stages_ms": {name: round(value, 3) for name, value in sorted(per.items())},
        "stage_calls": {name: round(stages.calls[name] / requests, 2) for name in sorted(per)},
    }


def summary(figures: dict[str, Any]) -> str:
    """The figures a reader looks for first, as Markdown."""
    rate, limit = figures["throughput"], figures["ceiling"]
    lines = [
        f"throughput {rate['identifications_per_second']} identifications/s, ceiling "
        f"{limit['photos_per_second']} photos/s ({limit['processes']} processes of "
        f"{limit['threads']} thread, {limit['variant']}): ratio {figures['ratio_to_ceiling']} "
        f"(by CPU time: {figures['ratio_by_cpu']})",
        f"audit: {figures['audit']}",
        "",
        "| operation | requests | error rate | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for op, row in figures["requests"].items():
        if op != "all":
            lines.append(
                f"| {op} | {row['requests']} | {row['error_rate']} | {row['p50_ms']} "
                f"| {row['p95_ms']} | {row['p99_ms']} |"
            )
    lines += ["", "| CPU per identification | ms |", "|---|---|"]
    lines += [f"| {name} | {ms} |" for name, ms in figures["cpu_ms_per_identification"].items()]
    cost = figures["breakdown"]
    lines += ["", f"| stage (one at a time, {cost['total_ms']} ms in all) | ms | calls |"]
    lines.append("|---|---|---|")
    lines += [f"| {r['stage']} | {r['ms']} | {r['calls'] or ''} |" for r in cost["table"]]
    return "\n".join(lines)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The whole run: the service under the clients, the audit, the ceiling, the breakdown."""
    photos = field_photos(args.photos, args.photo_side)
    with (
        tempfile.TemporaryDirectory(prefix="iriis-load-") as folder,
        scratch_database(args.postgres_url) as url,
    ):
        home, service_log = Path(folder) / "home", Path(folder) / "service.log"
        gallery = copy_gallery(home)
        settings = service_settings(home, url, args.minutes)
        accounts = create_users(url, args.growers, args.specialists)
        empty = database_bytes(url)
        port = free_port()
        log.info("service: %d workers on port %d, database %s", args.workers, port, url)
        service = start_service(settings, port, args.workers, service_log)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                tokens = {name: sign_in(http, name) for name, _ in accounts}
            log.info("%d growers, %d specialists", args.growers, args.specialists)
            run, start, end, cpu = asyncio.run(
                drive(
                    port,
                    tokens,
                    photos,
                    warmup=args.warmup,
                    seconds=args.minutes * 60,
                    think=args.think,
                    server_pid=service.pid,
                    database=make_url(url).database or "",
                )
            )
        finally:
            stop_service(service)
        engine = make_engine(url)
        found = audit(engine, ApiSettings(**settings).photos_dir, run.acknowledged)
        stored = storage(url, empty, ApiSettings(**settings).photos_dir)
        with engine.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar()
        engine.dispose()
        log.info("audit: %s; ceiling for %.0f s", found, args.ceiling_seconds)
        limit = ceiling(settings, photos, args.ceiling_seconds)
        log.info("ceiling: %s; breakdown over %d identifications", limit, args.breakdown_requests)
        stages = breakdown(settings, photos, args.breakdown_requests, service_log)
        errors = [
            line
            for line in service_log.read_text(encoding="utf-8").splitlines()
            if '"ERROR"' in line
        ]

    seconds = end - start
    created = sum(
        1 for r in run.requests if r[0] == "identify" and r[1] == 201 and start <= r[3] <= end
    )
    throughput = created / seconds
    per_identification = {name: value * 1000 / max(created, 1) for name, value in cpu.items()}
    served = per_identification["service"] + per_identification["database"]
    return {
        "command": " ".join(["python -m bench.load", *sys.argv[1:]]),
        "load_average": round(os.getloadavg()[0], 1),  # other work on the machine skews figures
        "setup": {
            "growers": args.growers,
            "specialists": args.specialists,
            "specialist_think_s": args.think,
            "workers": args.workers,
            "database": f"postgresql {version}",
            "photos": len(photos),
            "photo_side": args.photo_side or "as in the bank",
            "photo_bytes_mean": round(sum(len(p.data) for p in photos) / len(photos)),
            "gallery": gallery,
            "warmup_s": args.warmup,
            "measured_s": round(seconds, 1),
        },
        "throughput": {
            "identifications": created,
            "identifications_per_second": round(throughput, 2),
        },
        "ceiling": limit,
        "ratio_to_ceiling": round(throughput / limit["photos_per_second"], 3),
        # The same ratio from CPU time: the model's share of what an identification costs the
        # service and its database, which other work on the machine barely moves.
        "ratio_by_cpu": round(limit["cpu_ms_per_photo"] / served, 3) if served else None,
        "requests": latencies(run, start, end),
        "cpu_ms_per_identification": {k: round(v, 2) for k, v in per_identification.items()},
        "cpu_cores_used": {name: round(value / seconds, 2) for name, value in cpu.items()},
        "audit": found.as_dict(),
        "storage": stored,
        "service_errors_logged": len(errors),
        "service_first_errors": errors[:3],
        "breakdown": stages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before measuring")
    parser.add_argument("--growers", type=int, default=50)
    parser.add_argument("--specialists", type=int, default=5)
    parser.add_argument("--think", type=float, default=1.0, help="a specialist's seconds a case")
    parser.add_argument("--workers", type=int, default=2, help="the service's processes")
    parser.add_argument("--photos", type=int, default=200, help="distinct field photos")
    parser.add_argument(
        "--photo-side",
        type=int,
        default=0,
        help="enlarge the photos to this many pixels on their longer side (a phone's: 4000); "
        "default: as in the bank",
    )
    parser.add_argument("--ceiling-seconds", type=float, default=30.0)
    parser.add_argument("--breakdown-requests", type=int, default=200)
    parser.add_argument("--name", default="load", help="the figures go to bench/results/NAME.json")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("IRIIS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="a database of the server the run creates its own database on",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    figures = measure(args)
    save(args.name, figures)
    print(summary(figures))
    if not figures["audit"]["clean"]:
        raise SystemExit(f"FAILED: the audit found {figures['audit']}")


if __name__ == "__main__":
    main()
