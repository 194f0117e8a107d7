"""The loop on the field proxy, through the real service: ``python -m training.loop``.

Does each specialist's answer make the next answers better? The field proxy network
(``data/field_proxy/bundles``) never saw the bank's apple orchard photos. Growers send, through
the API of a real server on 127.0.0.1, apple orchard photos of the bank's *train* split only
(the proxy's selection pool: never a photo whose figures are reported), each asking a
specialist; a specialist answers each as the lab would (confirms the model's label when it is
the bank's, corrects it to the bank's otherwise). After each step (by default 25, 50 and 100
confirmed cases in all) ``iriis retrain`` runs as the lab's server runs it, and the network the
service then serves is scored on the proxy's held-back orchard photos of the val and test
splits (``training.field_proxy``, fp32, no crop named). Each point is written to
``metrics/loop.json`` as soon as it is measured (``cases``, ``top1``, ``accepted_precision``,
``coverage``, ``retrain_seconds`` and each step's share of it, the version served and the gate's
reasons when it refused), the gate's report beside it (``metrics/loop-gate-<cases>.md``).

Which case first (issue 18): with ``--queue-order arrival|informative``, growers send the whole
pool first, every photo asking a specialist, and the specialist then works the service's queue
in that order (``IRIIS_QUEUE_ORDER``, ``api.services.queue``) up to each step; the step's top-1
is also written to ``metrics/loop.json`` under ``active_learning`` (one list per order, the
same pool, the same seed), so that the two orders compare on the same held-back photos.

Everything is rebuilt from nothing in ``--home`` (default ``var/loop``, emptied first): the
server's database and photos, the bank versions, the retrained models. About 30 minutes of 2
cores per step.
"""

import argparse
import json
import logging
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from api.settings import ApiSettings
from mobile.localserver import LocalServer
from model.bundle import by_version
from model.catalog import load_catalog
from model.log import setup_logging
from model.paths import REPO_ROOT
from model.settings import get_settings
from training.data import read_records
from training.field_proxy import evaluate_field_proxy
from training.holdout import FIELD_PROXY, IN_SCOPE, PROXY_BUNDLES, read_holdout
from training.retrain import served_bundle

log = logging.getLogger(__name__)

GROWERS = 5
LOOP_JSON = REPO_ROOT / "metrics" / "loop.json"
PASSWORD = "loop experiment password"
SEED = 0


def pool(splits_path: Path) -> list[tuple[str, str]]:
    """(file, label) of the held-back orchard photos of the train split, in a fixed random
    order: the only held-back photos a step may send."""
    chosen = {
        row["photo_id"]
        for row in read_holdout(FIELD_PROXY)
        if row["role"] == IN_SCOPE and row["split"] == "train"
    }
    photos = sorted((r.file, r.label) for r in read_records(splits_path) if r.photo_id in chosen)
    random.Random(SEED).shuffle(photos)
    return photos


class Lab:
    """The running service, its growers and one specialist, each through the API."""

    def __init__(self, home: Path, queue_order: str = "arrival") -> None:
        self.server = LocalServer(home / "server", PROXY_BUNDLES)
        self.server.env["IRIIS_QUEUE_ORDER"] = queue_order
        self.tokens: dict[str, str] = {}
        # each case sent: the bank's label (what the specialist answers) and the model's
        self.truth: dict[str, tuple[str, str]] = {}

    ACCOUNTS = [(f"grower{i}", "grower") for i in range(GROWERS)] + [("specialist", "specialist")]

    def start(self) -> None:
        self.server.start()
        for name, role in self.ACCOUNTS:
            self.iriis("users", "create", name, "--role", role, "--password-stdin", stdin=PASSWORD)

    def sign_in(self) -> None:
        """Fresh access tokens for everyone: a retraining outlasts a token's 30 minutes."""
        for name, _ in self.ACCOUNTS:
            answer = httpx.post(
                f"{self.server.url}/v1/auth/token",
                data={"username": name, "password": PASSWORD},
                timeout=30,
            )
            answer.raise_for_status()
            self.tokens[name] = answer.json()["access_token"]

    def iriis(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """An ``iriis`` command on the server's state, as its operator runs it."""
        done = subprocess.run(
            [sys.executable, "-m", "model.cli", *args],
            env=self.server.env,
            cwd=REPO_ROOT,
            input=f"{stdin}\n" if stdin else None,
            text=True,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"iriis {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def ask(self, grower: str, photo: Path, label: str) -> str:
        """A grower asks a specialist about ``photo`` (of the bank's ``label``); the case id."""
        with httpx.Client(base_url=self.server.url, timeout=120) as client:
            sent = client.post(
                "/v1/identifications",
                headers=self.headers(grower),
                files=[("photos", (photo.name, photo.read_bytes(), "image/jpeg"))],
                data={"ask_specialist": "true", "message": "Qu'est-ce qui touche mes pommiers?"},
            )
            sent.raise_for_status()
            body = sent.json()
        case = str(body["case"]["id"])
        self.truth[case] = (label, body["label"])
        return case

    def answer(self, case: str | None = None) -> None:
        """The specialist claims ``case`` (None: the next one in the queue's order) and answers
        as the lab would: confirms the model's label when it is the bank's, else corrects it."""
        specialist = self.headers("specialist")
        with httpx.Client(base_url=self.server.url, timeout=120) as client:
            path = "/v1/queue/claim" if case is None else f"/v1/queue/cases/{case}/claim"
            claimed = client.post(path, headers=specialist)
            claimed.raise_for_status()
            case = str(claimed.json()["case"]["id"])
            label, model_label = self.truth[case]
            decision: dict[str, Any] = (
                {"action": "confirm"}
                if model_label == label
                else {"action": "correct", "label": label}
            )
            client.post(
                f"/v1/queue/cases/{case}/decisions",
                headers=specialist,
                json={**decision, "message": "Réponse du laboratoire."},
            ).raise_for_status()

    def served(self) -> Path:
        """The bundle the service answers with now: the newest of its folders."""
        return served_bundle(ApiSettings(home=self.server.home, bundles_dir=PROXY_BUNDLES))


def point(
    lab: Lab, cases: int, retrain_seconds: float | None, gate: dict[str, Any] | None
) -> dict[str, Any]:
    """The served network's figures on the proxy's held-back orchard photos (val and test)."""
    settings = get_settings()
    folder = lab.served()
    report = evaluate_field_proxy(
        folder,
        settings.splits_path,
        settings.bank_dir,
        FIELD_PROXY,
        load_catalog(settings.catalog_dir),
    )
    figures = report["fp32"]["without_crop"]["in_scope_field"]
    return {
        "cases": cases,
        "version": folder.name,
        "top1": figures["top1"],
        "accepted_precision": figures["accepted_precision"],
        "coverage": figures["coverage"],
        "photos": figures["photos"],
        "retrain_seconds": retrain_seconds,
        "published": None if gate is None else gate["published"],
        "gate_reasons": [] if gate is None else gate["reasons"],
        "with_crop": report["fp32"]["with_crop"]["in_scope_field"],
    }


def record_order(
    order: str, steps: list[dict[str, Any]], source: str, path: Path = LOOP_JSON
) -> None:
    """Write one queue order's top-1 per step into ``metrics/loop.json``'s ``active_learning``
    with the run it comes from (the other order's, and the loop's own curve, kept)."""
    report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"steps": []}
    active = report.setdefault("active_learning", {"cases": [], "top1": {}})
    active["cases"] = [s["cases"] for s in steps]
    active["top1"][order] = [s["top1"] for s in steps]
    active.setdefault("runs", {})[order] = source
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[25, 50, 100])
    parser.add_argument("--home", type=Path, default=Path("var/loop"))
    parser.add_argument("--out", type=Path, default=Path("metrics/loop.json"))
    parser.add_argument(
        "--profile",
        default="retrain",
        help="iriis retrain's train profile (retrain_head: the head refit)",
    )
    parser.add_argument(
        "--queue-order",
        choices=["arrival", "informative"],
        help="send the whole pool first and answer the queue in this order (issue 18)",
    )
    args = parser.parse_args()
    setup_logging()
    settings = get_settings()
    shutil.rmtree(args.home, ignore_errors=True)
    photos = pool(settings.splits_path)
    if len(photos) < max(args.steps):
        raise SystemExit(f"the pool holds {len(photos)} photos, fewer than {max(args.steps)}")
    lab = Lab(args.home.resolve(), args.queue_order or "arrival")
    lab.start()
    curve: list[dict[str, Any]] = []
    try:
        curve.append(point(lab, 0, None, None))
        if args.queue_order:
            lab.sign_in()
            for i, (file, label) in enumerate(photos):
                lab.ask(f"grower{i % GROWERS}", settings.bank_dir / file, label)
        answered = 0
        for step in args.steps:
            lab.sign_in()
            for i, (file, label) in enumerate(photos[answered:step], start=answered):
                if args.queue_order:
                    lab.answer()
                else:
                    lab.answer(lab.ask(f"grower{i % GROWERS}", settings.bank_dir / file, label))
            answered = step
            start = time.perf_counter()
            lab.iriis("retrain", "--profile", args.profile)
            seconds = time.perf_counter() - start
            runs = lab.server.home / "retrain"
            newest = by_version(
                p for p in runs.iterdir() if (p / "candidate" / "gate.json").exists()
            )[-1]
            gate = json.loads((newest / "candidate" / "gate.json").read_text(encoding="utf-8"))
            state = json.loads((newest / "state.json").read_text(encoding="utf-8"))
            report = (newest / "candidate" / "GATE.md").read_text(encoding="utf-8")
            args.out.with_name(f"{args.out.stem}-gate-{step}.md").write_text(report, "utf-8")
            curve.append({**point(lab, step, seconds, gate), "step_seconds": state["seconds"]})
            log.info("loop: %s", curve[-1])
            args.out.write_text(json.dumps({"steps": curve}, indent=2) + "\n", encoding="utf-8")
            if args.queue_order:
                record_order(args.queue_order, curve[1:], str(args.out))
    finally:
        lab.server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
