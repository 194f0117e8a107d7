"""``iriis bank review import``: load the bank photos the evaluation and data preparation flag
as possibly mislabelled into the service's database, for the specialists' bank review."""

import argparse
import logging
import sys
from pathlib import Path

from api.db import database_url, make_engine, session_factory, upgrade
from api.services import bank_review
from api.settings import get_api_settings
from model.manifest import ManifestError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    bank = subparsers.add_parser("bank", help="the specialists' review of the reference bank")
    actions = bank.add_subparsers(dest="bank_command", metavar="ACTION", required=True)
    review = actions.add_parser("review", help="the bank review list")
    steps = review.add_subparsers(dest="review_command", metavar="STEP", required=True)
    load = steps.add_parser(
        "import",
        help="flag the model's disagreements with the bank and the near-duplicates filed "
        "under two labels (again after each evaluation: decisions are kept)",
    )
    load.add_argument(
        "disagreements",
        nargs="?",
        type=Path,
        help="the evaluation's disagreements (default: IRIIS_METRICS_DIR/disagreements.csv)",
    )
    load.add_argument(
        "--splits", type=Path, help="the split file (default: IRIIS_DATA_DIR/splits.csv)"
    )
    load.set_defaults(handler=_import)


def _import(args: argparse.Namespace) -> int:
    settings = get_api_settings()
    engine = make_engine(database_url(settings))
    try:
        upgrade(engine)
        with session_factory(engine)() as session:
            summary = bank_review.import_candidates(
                session,
                disagreements=args.disagreements or settings.metrics_dir / "disagreements.csv",
                splits=args.splits or settings.splits_path,
            )
    except ManifestError as exc:
        log.error("%s", exc)
        return 1
    finally:
        engine.dispose()
    sys.stdout.write(
        f"{summary.flagged} bank photos flagged ({summary.disagreements} by the model's "
        f"disagreement, {summary.duplicates} in near-duplicate groups filed under two labels), "
        f"{summary.added} new to the review\n"
    )
    return 0
