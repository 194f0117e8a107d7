"""A week of demand replayed against the real service, with specialists answering at a capacity.

The service runs in this process on 127.0.0.1 (uvicorn, SQLite, the served bundle), its clock
(``api.clock``) driven by the simulation: a week passes in minutes. From Monday 4 January 2027,
``--identifications`` photos drawn (seeded) from the bank's test split and its ``unknown`` photos
are sent through the API by 100 users (60% growers and advisors, 40% citizens; 25% and 10% of
them ask a specialist whatever the answer), by day (weekends lighter) and hour (6:00 to 21:00).
Specialists work the queue through the API at the lab's capacity, set by an admin through the API
(``--capacities``, cases per working day, 8:30 to 16:30, Monday to Friday): each day's output
varies by up to 30% and one working day nobody answers. With ``--absence planned`` (the default)
the admin entered that day in the lab's days off before the week, as a lab does for a holiday or
a planned absence; with ``unannounced`` nobody told the service. The specialists work as a team,
one case at a time, as the pages do: they claim the next case as soon as one waits, take a
working day over the day's output to answer it (they start none they cannot finish before
closing), then decide it as the bank says (confirm, correct, or answer without a label for a
photo of no label). After the week, they go on until every case is answered, so that every
case's real wait is known.

Reported per capacity and tier: identifications routed to a specialist, cases per working day
against capacity, real waits (median, 90th percentile, in hours), cases answered within 2 working
days and within 7 days, how far the wait shown when the case opened was from the real one
(share of cases within 30%, per tier and in all, and why the others missed: ``_miss_causes``),
agricultural cases that waited behind a citizen's, and the precision
of the answers the users got without a specialist. The shown wait cannot know the cases of a
higher tier that arrive after it.

    python bench/capacity.py [--capacities 50 100 200] [--identifications 2000] [--seed 0]
        [--absence planned|unannounced]
"""

import argparse
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.app import create_app  # noqa: E402
from api.clock import simulated  # noqa: E402
from api.db import make_engine, session_factory, upgrade  # noqa: E402
from api.models import Role, User  # noqa: E402
from api.security import ACCESS, create_token, hash_password, secret_key  # noqa: E402
from api.services.capacity import make_capacity, working_hours  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from bench.common import save, update_section  # noqa: E402
from model.settings import get_settings  # noqa: E402
from training.data import Record, read_records, readable  # noqa: E402

log = logging.getLogger("bench")

LAB = ZoneInfo("America/Toronto")
START = datetime(2027, 1, 4, tzinfo=LAB)  # a Monday
DAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 0.6, 0.4)  # Monday to Sunday
HOURS = range(6, 21)
GROUPS = {"agricultural": 0.6, "citizen": 0.4}
ASK = {"agricultural": 0.25, "citizen": 0.1}
USERS = {Role.GROWER: 40, Role.ADVISOR: 20, Role.CITIZEN: 40}
DAY_START, DAY_END, WORK_DAYS = "08:30", "16:30", [1, 2, 3, 4, 5]
VARIATION = 0.3
MAX_EXTRA_WEEKS = 8


class Clock:
    """The simulation's time, read by the service through ``api.clock``."""

    def __init__(self, start: datetime) -> None:
        self.moment = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.moment


@dataclass
class Sent:
    group: str
    truth: str
    accepted: bool
    right: bool
    case: str | None = None
    tier: int | None = None
    opened: datetime | None = None
    shown: datetime | None = None
    claimed: datetime | None = None
    specialist: int | None = None
    proposed: str | None = None  # the label the specialist was shown
    answered: datetime | None = None


@dataclass
class Run:
    capacity: int
    sent: list[Sent] = field(default_factory=list)
    by_case: dict[str, Sent] = field(default_factory=dict)


def demand(photos: list[Record], count: int, rng: random.Random) -> list[tuple[datetime, Record]]:
    """``count`` (moment, photo) over the week, by day weight and hour."""
    slots = [
        (START + timedelta(days=day, hours=hour), DAY_WEIGHTS[day])
        for day in range(7)
        for hour in HOURS
    ]
    moments = rng.choices([s for s, _ in slots], weights=[w for _, w in slots], k=count)
    chosen = [
        (moment + timedelta(seconds=rng.uniform(0, 3600)), rng.choice(photos)) for moment in moments
    ]
    return sorted(chosen, key=lambda item: item[0])


def daily_output(rng: random.Random) -> dict[int, float]:
    """Each working day's output as a share of capacity: within 30%, one day nobody answers."""
    days = [day for day in range(7 * (1 + MAX_EXTRA_WEEKS)) if (day % 7) + 1 in WORK_DAYS]
    factors = {day: rng.uniform(1 - VARIATION, 1 + VARIATION) for day in days}
    factors[rng.choice(days[:5])] = 0.0
    return factors


class Service:
    """The API on 127.0.0.1, in this process, under the simulated clock."""

    def __init__(self, home: Path, clock: Clock) -> None:
        self.settings = ApiSettings(home=home, database_url=f"sqlite:///{home / 'iriis.db'}")
        engine = make_engine(self.settings.database_url)
        upgrade(engine)
        self.sessions = session_factory(engine)
        self.clock = clock
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(self.settings), host="127.0.0.1", port=0, log_level="warning")
        )

    def __enter__(self) -> "Service":
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def users(self) -> dict[Role, list[int]]:
        """The simulated accounts, written straight into the database (one password hash)."""
        password = hash_password("bench password")
        ids: dict[Role, list[int]] = {}
        with self.sessions() as session:
            for role, count in {**USERS, Role.SPECIALIST: 3, Role.ADMIN: 1}.items():
                rows = [
                    User(username=f"{role}{n}", password_hash=password, role=role)
                    for n in range(count)
                ]
                session.add_all(rows)
                session.commit()
                ids[role] = [row.id for row in rows]
        return ids

    def headers(self, user_id: int) -> dict[str, str]:
        """An access token minted at the simulated now (signing in 100 users every simulated
        hour would measure password hashing, not the queue)."""
        key = secret_key(self.settings)
        token = create_token(key, user_id, ACCESS, timedelta(minutes=30))
        return {"Authorization": f"Bearer {token}"}


def replay(
    capacity: int, photos: list[Record], bank: Path, count: int, seed: int, planned: bool
) -> tuple[Run, dict[str, Any]]:
    """One week at ``capacity``; ``planned``: the absent day is in the lab's calendar (a day
    off entered before the week), else nobody told the service."""
    rng = random.Random(seed)
    demand_plan = demand(photos, count, rng)
    outputs = daily_output(random.Random(seed + 1))
    plan = [
        (moment, photo, group, rng.random() < ASK[group])
        for moment, photo in demand_plan
        for group in [rng.choices(list(GROUPS), weights=list(GROUPS.values()))[0]]
    ]
    absent = START.date() + timedelta(days=min(d for d, f in outputs.items() if f == 0.0))
    clock = Clock(START)
    run = Run(capacity)
    lab = make_capacity(capacity, DAY_START, DAY_END, WORK_DAYS)
    with (
        tempfile.TemporaryDirectory() as home,
        simulated(clock.now),
        Service(Path(home), clock) as service,
    ):
        ids = service.users()
        body = {
            "cases_per_day": capacity,
            "day_start": DAY_START,
            "day_end": DAY_END,
            "work_days": WORK_DAYS,
            "days_off": [absent.isoformat()] if planned else [],
        }
        service.http.put(
            "/v1/lab/capacity", json=body, headers=service.headers(ids[Role.ADMIN][0])
        ).raise_for_status()
        horizon = (START + timedelta(days=7, weeks=MAX_EXTRA_WEEKS)).astimezone(UTC)
        index, free_at, held = 0, START.astimezone(UTC), None
        progress = tqdm(total=len(plan), desc=f"capacity {capacity}", unit="photo")
        # events in time order: the users' requests, and the specialists' claims and decisions
        while free_at < horizon:
            arrival = plan[index][0].astimezone(UTC) if index < len(plan) else None
            team = held[1] if held else _next_claim(free_at, lab, outputs)
            if arrival is not None and arrival <= team:
                _, photo, group, ask = plan[index]
                clock.moment = arrival
                run.sent.append(_identify(service, run, ids, photo, group, ask, bank, rng))
                index += 1
                progress.update()
            elif held:
                clock.moment = held[1]
                _decide(service, run, held[0], clock)
                free_at, held = held[1], None
            else:
                clock.moment = team
                held = _claim(service, run, ids[Role.SPECIALIST], clock, lab, outputs)
                if held is None and arrival is None:
                    break  # nothing waits and nothing more comes: every case is answered
                free_at = team if held else arrival  # type: ignore[assignment]
        progress.close()
    return run, _figures(run, lab, absent, planned)


def _day_output(day: date, lab: Any, outputs: dict[int, float]) -> float:
    """The answers the specialists give on ``day`` (0 off their working days)."""
    if day.isoweekday() not in lab.work_days:
        return 0.0
    return float(lab.cases_per_day * outputs.get((day - START.date()).days, 1.0))


def _next_claim(after: datetime, lab: Any, outputs: dict[int, float]) -> datetime:
    """The first moment from ``after`` when the specialists can take a case and answer it before
    the day ends (nobody starts one they cannot finish today)."""
    moment = after.astimezone(LAB)
    for _ in range(366):
        day = moment.date()
        opens = datetime.combine(day, lab.day_start, LAB)
        closes = datetime.combine(day, lab.day_end, LAB)
        output = _day_output(day, lab, outputs)
        if output > 0 and max(moment, opens) + _handling(day, lab, outputs) <= closes:
            return max(moment, opens).astimezone(UTC)
        moment = datetime.combine(day + timedelta(days=1), lab.day_start, LAB)
    raise RuntimeError("no working time left in the year")


def _handling(day: date, lab: Any, outputs: dict[int, float]) -> timedelta:
    """How long one case takes the specialists on ``day``: a working day over its output."""
    return timedelta(hours=lab.hours_per_day / _day_output(day, lab, outputs))


def _claim(
    service: Service,
    run: Run,
    specialists: list[int],
    clock: Clock,
    lab: Any,
    outputs: dict[int, float],
) -> tuple[str, datetime] | None:
    """The specialists claim the next case: (its id, when they will have answered it), or None
    when the queue is empty."""
    specialist = specialists[len(run.by_case) % len(specialists)]
    claimed = service.http.post("/v1/queue/claim", headers=service.headers(specialist))
    claimed.raise_for_status()
    if claimed.status_code == 204:
        return None
    body = claimed.json()
    sent = run.by_case[body["case"]["id"]]
    sent.claimed, sent.specialist = clock.moment, specialist
    sent.proposed = body["identification"]["label"]
    return body["case"]["id"], clock.moment + _handling(
        clock.moment.astimezone(LAB).date(), lab, outputs
    )


def _identify(
    service: Service,
    run: Run,
    ids: dict[Role, list[int]],
    photo: Record,
    group: str,
    ask: bool,
    bank: Path,
    rng: random.Random,
) -> Sent:
    if group == "agricultural":
        role = rng.choices([Role.GROWER, Role.ADVISOR], weights=[2, 1])[0]
    else:
        role = Role.CITIZEN
    user = rng.choice(ids[role])
    response = service.http.post(
        "/v1/identifications",
        files=[("photos", (Path(photo.file).name, (bank / photo.file).read_bytes(), "image/jpeg"))],
        data={"ask_specialist": "true" if ask else "false"},
        headers=service.headers(user),
    )
    response.raise_for_status()
    body = response.json()
    sent = Sent(group, photo.label, body["decision"] == "accepted", body["label"] == photo.label)
    if body["case"]:
        case = body["case"]
        sent.case, sent.opened = case["id"], service.clock.moment
        sent.shown = datetime.fromisoformat(case["expected_answer"]["at"])
        run.by_case[case["id"]] = sent
        sent.tier = _tier(service, case["id"])
    return sent


def _tier(service: Service, case_id: str) -> int:
    from api.models import Case

    with service.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.tier


def _decide(service: Service, run: Run, case_id: str, clock: Clock) -> None:
    """The specialist who claimed the case answers it as the bank says."""
    sent = run.by_case[case_id]
    if sent.truth == "unknown":
        decision: dict[str, Any] = {"action": "answer"}
    elif sent.proposed == sent.truth:
        decision = {"action": "confirm"}
    else:
        decision = {"action": "correct", "label": sent.truth}
    service.http.post(
        f"/v1/queue/cases/{case_id}/decisions",
        json={**decision, "message": "Réponse du laboratoire."},
        headers=service.headers(sent.specialist),  # type: ignore[arg-type]
    ).raise_for_status()
    sent.answered = clock.moment


def _within_30(sent: Sent) -> bool:
    """Whether the wait shown when the case opened was within 30% of its real wait."""
    real = (sent.answered - sent.opened).total_seconds()  # type: ignore[operator]
    return abs((sent.shown - sent.opened).total_seconds() - real) <= 0.3 * real  # type: ignore[operator]


def _overtaken(sent: Sent, cases: list[Sent]) -> bool:
    """Whether a case of a higher tier, opened after ``sent``, was answered before it."""
    return any(
        other.tier is not None
        and sent.tier is not None
        and other.tier < sent.tier
        and other.opened > sent.opened  # type: ignore[operator]
        and other.answered < sent.answered  # type: ignore[operator]
        for other in cases
    )


def _miss_causes(cases: list[Sent], lab: Any, unannounced: date | None) -> dict[str, int]:
    """Why the shown waits off by more than 30% were off, the first cause that applies:
    ``absence``, the real wait spans the working day nobody answered though the lab had not
    entered it as a day off (``unannounced``; nothing could tell it in advance); ``overtaken``,
    a case of a higher tier opened after it was answered before it (the wait shown cannot know
    it); ``under_an_hour``, a real wait under an hour (a minute either way is a miss);
    ``pace``, the rest (the specialists' output those days differed from the pace)."""
    causes = dict.fromkeys(("absence", "overtaken", "under_an_hour", "pace"), 0)
    for sent in cases:
        if _within_30(sent):
            continue
        if unannounced and _spans(sent, unannounced, lab):
            causes["absence"] += 1
        elif _overtaken(sent, cases):
            causes["overtaken"] += 1
        elif sent.answered - sent.opened < timedelta(hours=1):  # type: ignore[operator]
            causes["under_an_hour"] += 1
        else:
            causes["pace"] += 1
    return causes


def _spans(sent: Sent, day: date, lab: Any) -> bool:
    """Whether the case waited during the working hours of ``day``."""
    starts = datetime.combine(day, lab.day_start, LAB)
    ends = datetime.combine(day, lab.day_end, LAB)
    return sent.opened < ends and sent.answered > starts  # type: ignore[operator]


def _figures(run: Run, lab: Any, absent: date, planned: bool) -> dict[str, Any]:
    cases = [s for s in run.sent if s.case]
    figures: dict[str, Any] = {"capacity": run.capacity, "identifications": len(run.sent)}
    for group in GROUPS:
        mine = [s for s in run.sent if s.group == group]
        figures[f"routed_{group}"] = sum(1 for s in mine if s.case) / max(len(mine), 1)
    agricultural = [s for s in cases if s.group == "agricultural"]
    figures["agricultural_cases_per_working_day_over_capacity"] = (
        len(agricultural) / len(WORK_DAYS) / run.capacity
    )
    settled = [s for s in run.sent if not s.case and s.accepted]
    figures["precision_without_specialist"] = (
        sum(s.right for s in settled) / len(settled) if settled else None
    )
    tiers: dict[str, Any] = {}
    for tier in sorted({s.tier for s in cases if s.tier is not None}):
        mine = [s for s in cases if s.tier == tier and s.answered and s.opened]
        waits = [(s.answered - s.opened).total_seconds() / 3600 for s in mine]  # type: ignore[operator]
        shown = [(s.shown - s.opened).total_seconds() / 3600 for s in mine]  # type: ignore[operator]
        within_30 = [_within_30(s) for s in mine]
        # a wait under an hour is mostly when the next specialist frees up: 30 minutes of slack
        within_30_or_half_hour = [
            abs(w - v) <= max(0.3 * w, 0.5) for w, v in zip(waits, shown, strict=True)
        ]
        two_days = [
            working_hours(s.opened, s.answered, lab, LAB) <= 2 * lab.hours_per_day  # type: ignore[arg-type]
            for s in mine
        ]
        tiers[str(tier)] = {
            "cases": sum(1 for s in cases if s.tier == tier),
            "median_wait_h": round(statistics.median(waits), 1) if waits else None,
            "p90_wait_h": round(sorted(waits)[int(0.9 * (len(waits) - 1))], 1) if waits else None,
            "answered_within_2_working_days": sum(two_days) / len(mine) if mine else None,
            "answered_within_7_days": sum(
                1
                for s in mine
                if s.answered - s.opened <= timedelta(days=7)  # type: ignore[operator]
            )
            / max(sum(1 for s in cases if s.tier == tier), 1),
            "shown_wait_within_30pct": sum(within_30) / len(mine) if mine else None,
            "shown_wait_within_30pct_or_30min": sum(within_30_or_half_hour) / len(mine)
            if mine
            else None,
        }
    figures["tiers"] = tiers
    answered = [s for s in cases if s.answered and s.opened]
    figures["shown_wait_within_30pct"] = sum(map(_within_30, answered)) / max(len(answered), 1)
    figures["absent_day"] = absent.isoformat()
    figures["misses_by_cause"] = _miss_causes(answered, lab, None if planned else absent)
    # the waits shown to the farms' cases as the week goes on: they grow with the backlog
    by_day: dict[int, list[float]] = {}
    for s in agricultural:
        if s.opened and s.shown:
            day = (s.opened.astimezone(LAB).date() - START.date()).days
            by_day.setdefault(day, []).append((s.shown - s.opened).total_seconds() / 3600)
    figures["agricultural_shown_wait_median_h_by_day"] = {
        str(day): round(statistics.median(waits), 1) for day, waits in sorted(by_day.items())
    }
    # an agricultural case still unclaimed when a citizen's was claimed: waited behind it
    citizens = [s.claimed for s in cases if s.group == "citizen" and s.claimed]
    figures["agricultural_cases_behind_a_citizen"] = sum(
        1
        for s in agricultural
        if s.opened and any(s.opened < c and (s.claimed is None or s.claimed > c) for c in citizens)
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capacities", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--identifications", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--absence",
        choices=("planned", "unannounced"),
        default="planned",
        help="whether the lab entered the absent day in its calendar before the week",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    settings = get_settings()
    records = readable(read_records(settings.splits_path), settings.bank_dir)
    photos = [r for r in records if r.split in ("test", "unknown")]
    results = []
    for capacity in args.capacities:
        _, figures = replay(
            capacity,
            photos,
            settings.bank_dir,
            args.identifications,
            args.seed,
            args.absence == "planned",
        )
        figures["absence"] = args.absence
        results.append(figures)
        log.warning("capacity %d: %s", capacity, figures)
    save(f"capacity-{args.absence}", {"runs": results, "seed": args.seed})
    rows = []
    for figures in results:
        for tier, row in figures["tiers"].items():
            rows.append(
                f"| {figures['capacity']} | {tier} | {row['cases']} | {row['median_wait_h']} | "
                f"{row['p90_wait_h']} | {row['answered_within_2_working_days']:.0%} | "
                f"{row['answered_within_7_days']:.0%} | {row['shown_wait_within_30pct']:.0%} | "
                f"{row['shown_wait_within_30pct_or_30min']:.0%} |"
            )
    summary = "\n".join(
        f"- capacity {f['capacity']}: routed {f['routed_agricultural']:.1%} of growers' and "
        f"advisors' identifications, {f['routed_citizen']:.1%} of citizens'; agricultural cases "
        f"{f['agricultural_cases_per_working_day_over_capacity']:.2f} times the capacity; "
        f"{f['agricultural_cases_behind_a_citizen']} agricultural case(s) behind a citizen's; "
        "median wait shown to the farms' new cases by day of the week (h): "
        + ", ".join(f"{v}" for v in f["agricultural_shown_wait_median_h_by_day"].values())
        + "; "
        f"answers without a specialist {f['precision_without_specialist']:.1%} right; "
        f"shown wait within 30% for {f['shown_wait_within_30pct']:.1%} of all cases; the "
        f"misses by cause (module doc of `_miss_causes`): "
        + ", ".join(f"{cause} {n}" for cause, n in f["misses_by_cause"].items())
        + f" (nobody answered on {f['absent_day']}, {f['absence']})."
        for f in results
    )
    update_section(
        f"Specialists' capacity: a week replayed, the absent day {args.absence} (issue 16)",
        f"`python bench/capacity.py --identifications {args.identifications} --absence "
        f"{args.absence}` (seed {args.seed}): the real service on 127.0.0.1 under a simulated "
        "clock, a week of demand from the bank's test and unknown photos, specialists "
        "answering at the capacity. Tier 0: a watched organism suspected (none watched "
        "here); 1: growers and advisors; 2: citizens. Waits in hours from the case's "
        "opening to its answer.\n\n"
        "| capacity/day | tier | cases | median wait h | p90 wait h | within 2 working days "
        "| within 7 days | shown wait within 30% | within 30% or 30 min |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n" + summary,
    )


if __name__ == "__main__":
    main()
