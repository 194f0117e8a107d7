"""What the honest wait costs a request: ``lab_pace`` (the capacity, the pace over the working
time cases waited, the silent-lab check, the work in hand) on a SQLite database holding a given
number of cases over the last 20 days, each answered within two days and its decision recorded.

Every identification and every list of cases reads it once (``api.answers``), so its time adds
to theirs; the busy time walks every case of the pace window.

    python bench/wait_cost.py [--cases 300 3000] [--repeat 30]
"""

import argparse
import logging
import random
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.db import make_engine, session_factory, upgrade  # noqa: E402
from api.services.capacity import lab_pace  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from bench.common import save, summary_ms, timings, update_section  # noqa: E402

log = logging.getLogger("bench")
NOW = datetime(2027, 1, 20, 15, tzinfo=UTC)
DAYS = 20


def _fill(url: str, cases: int, rng: random.Random) -> None:
    """``cases`` cases opened over the last ``DAYS`` days, those answered with their decision
    (bulk SQL: the cost measured is reading them, not writing them)."""
    rows = []
    for _ in range(cases):
        opened = NOW - timedelta(hours=rng.uniform(0, 24 * DAYS))
        answered = opened + timedelta(hours=rng.uniform(0.1, 48))
        done = answered < NOW
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "identification": str(uuid.uuid4()),
                "status": "answered" if done else "open",
                "opened": opened.replace(tzinfo=None),
                "answered": answered.replace(tzinfo=None) if done else None,
            }
        )
    with make_engine(url).begin() as connection:
        connection.execute(text("PRAGMA foreign_keys=OFF"))
        connection.execute(
            text(
                "INSERT INTO cases (id, identification_id, user_id, status, reason, tier, "
                "uncertainty, opened_at, updated_at, answered_at) VALUES (:id, :identification, "
                "1, :status, 'asked', 1, 0.5, :opened, :opened, :answered)"
            ),
            rows,
        )
        connection.execute(
            text(
                "INSERT INTO decisions (case_id, specialist_id, action, message, created_at) "
                "SELECT id, 1, 'confirm', '', answered_at FROM cases "
                "WHERE answered_at IS NOT NULL"
            )
        )


def _time(url: str, home: Path, repeat: int) -> list[float]:
    settings = ApiSettings(home=home, database_url=url)
    with session_factory(make_engine(url))() as session:
        return timings(lambda: lab_pace(session, settings=settings, now=NOW), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[300, 3000])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    figures = {}
    for cases in args.cases:
        with tempfile.TemporaryDirectory() as home:
            url = f"sqlite:///{home}/iriis.db"
            upgrade(make_engine(url))
            _fill(url, cases, random.Random(0))
            figures[str(cases)] = summary_ms(_time(url, Path(home), args.repeat))
    save("wait_cost", figures)
    rows = "\n".join(
        f"| {cases} | {row['p50_ms']} | {row['p95_ms']} |" for cases, row in figures.items()
    )
    update_section(
        "The honest wait's cost per request (issue 16)",
        f"`python bench/wait_cost.py --cases {' '.join(map(str, args.cases))}`: `lab_pace` on "
        f"SQLite with that many cases over the last {DAYS} days (each identification and each "
        "list of cases reads it once).\n\n"
        "| cases in 20 days | median ms | p95 ms |\n|---:|---:|---:|\n" + rows,
    )


if __name__ == "__main__":
    main()
