"""Claims per second with concurrent specialists on PostgreSQL, counting double claims.

Fills a fresh schema with ``--cases`` waiting cases, then ``--specialists`` threads, each with
its own database session, claim through ``api.services.queue.claim_next`` until the queue is
empty. A case claimed by two specialists, or left unclaimed, is counted and fails the run.

    python bench/queue_claims.py --specialists 8 --cases 4000
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import func, insert, select, text

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO))

from api.db import make_engine, session_factory, upgrade  # noqa: E402
from api.models import Case, Identification, User, new_id, utcnow  # noqa: E402
from api.security import hash_password  # noqa: E402
from api.services.queue import claim_next  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from bench.common import machine  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def fill(url: str, cases: int, specialists: int) -> list[int]:
    """Users and waiting cases, inserted in bulk; the specialists' ids."""
    engine = make_engine(url)
    upgrade(engine)
    password = hash_password("bench password")
    now = utcnow()
    with engine.begin() as connection:
        grower = connection.execute(
            insert(User)
            .values(username="grower", password_hash=password, role="grower")
            .returning(User.id)
        ).scalar_one()
        staff = [
            connection.execute(
                insert(User)
                .values(username=f"specialist{i}", password_hash=password, role="specialist")
                .returning(User.id)
            ).scalar_one()
            for i in range(specialists)
        ]
        identifications = [new_id() for _ in range(cases)]
        result = {"top_k": [{"label": "apple.scab", "probability": 0.5}], "reason": "ambiguous"}
        connection.execute(
            insert(Identification),
            [
                {
                    "id": identification,
                    "user_id": grower,
                    "created_at": now,
                    "observed_at": now,
                    "profile": "grower",
                    "language": "fr",
                    "model_version": "bench",
                    "label": "apple.scab",
                    "probability": 0.5,
                    "decision": "needs_specialist",
                    "result": result,
                }
                for identification in identifications
            ],
        )
        connection.execute(
            insert(Case),
            [
                {
                    "id": new_id(),
                    "identification_id": identification,
                    "user_id": grower,
                    "status": "open",
                    "reason": "ambiguous",
                    "tier": i % 3,
                    "uncertainty": 0.5,
                    "opened_at": now,
                    "updated_at": now,
                }
                for i, identification in enumerate(identifications)
            ],
        )
    engine.dispose()
    return staff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--specialists", type=int, default=8)
    parser.add_argument("--cases", type=int, default=4000)
    parser.add_argument("--url", default=os.environ.get("IRIIS_TEST_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / "queue_claims.json"
    )
    args = parser.parse_args()

    schema = f"iriis_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(args.url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.url}?options={quote(f'-csearch_path={schema}')}"
    try:
        staff = fill(url, args.cases, args.specialists)
        engine = make_engine(url, pool_size=args.specialists)
        factory = session_factory(engine)
        settings = ApiSettings()
        claims: dict[int, list[str]] = {specialist: [] for specialist in staff}
        start = threading.Barrier(len(staff) + 1)

        def work(specialist_id: int) -> None:
            with factory() as session:
                specialist = session.get(User, specialist_id)
                assert specialist is not None
                start.wait()
                while (
                    case := claim_next(session, specialist=specialist, settings=settings)
                ) is not None:
                    claims[specialist_id].append(case.id)

        threads = [threading.Thread(target=work, args=(s,)) for s in staff]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
        claimed = Counter(case for held in claims.values() for case in held)
        with factory() as session:
            unclaimed = session.scalar(select(func.count()).where(Case.status != "claimed"))
        engine.dispose()
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    figures = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        # Other work on the machine skews the figures: the 1-minute load average at the end.
        "load_average": round(os.getloadavg()[0], 1),
        "specialists": args.specialists,
        "cases": args.cases,
        "claims": sum(claimed.values()),
        "double_claims": sum(count - 1 for count in claimed.values() if count > 1),
        "left_unclaimed": unclaimed,
        "seconds": round(seconds, 2),
        "claims_per_second": round(sum(claimed.values()) / seconds, 1),
        "per_specialist": sorted(len(held) for held in claims.values()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    if figures["double_claims"] or figures["left_unclaimed"]:
        raise SystemExit("FAILED: double claims or unclaimed cases")


if __name__ == "__main__":
    main()
