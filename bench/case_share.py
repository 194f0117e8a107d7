"""Share of identifications that open a specialist's case by themselves, before and after the
case rule of ``model.routing`` (issue 16), per profile.

Every photo of the bank's test split and its raspberry ``unknown`` photos (an unseen crop; the
blueberry ones tune the out-of-scope gate) is identified alone by the served bundle, exactly as
the API identifies a one-photo request (quality check included). Before: every answer not
accepted opened a case, whoever sent it. After: ``model.routing.opens_case`` without asking.

    python bench/case_share.py [--bundle model/bundles/<version>]
"""

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import save, update_section  # noqa: E402
from model.bundle import held_out_photos, latest_bundle  # noqa: E402
from model.catalog import load_catalog  # noqa: E402
from model.i18n import PROFILES  # noqa: E402
from model.identifier import open_identifier  # noqa: E402
from model.result import Decision  # noqa: E402
from model.routing import opens_case  # noqa: E402
from model.settings import get_settings  # noqa: E402
from training.data import read_records, readable  # noqa: E402
from training.evaluation import MEASURE_HOST  # noqa: E402
from training.holdout import without  # noqa: E402

log = logging.getLogger("bench")


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=latest_bundle(settings.bundles_dir))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    identifier = open_identifier(
        args.bundle, catalog=load_catalog(settings.catalog_dir), threads=2, check=False
    )
    records = without(
        readable(read_records(settings.splits_path), settings.bank_dir),
        held_out_photos(args.bundle),
    )
    sets = {
        "test": [r for r in records if r.split == "test"],
        "raspberry": [r for r in records if r.split == "unknown" and r.host == MEASURE_HOST],
    }
    figures: dict[str, object] = {"bundle": args.bundle.name}
    rows = []
    for name, chosen in sets.items():
        before, after = 0, Counter[str]()
        outcomes = Counter[str]()
        for record in tqdm(chosen, desc=name, unit="photo"):
            result = identifier.identify([(settings.bank_dir / record.file).read_bytes()])
            outcomes[str(result.reason or result.decision)] += 1
            before += result.decision is not Decision.ACCEPTED
            for profile in PROFILES:
                after[profile] += opens_case(result, profile, asked=False)
        count = len(chosen)
        share = {"before": before / count, **{p: after[p] / count for p in PROFILES}}
        figures[name] = {"photos": count, "cases_share": share, "outcomes": dict(outcomes)}
        rows.append(
            f"| {name} | {count} | {share['before']:.1%} | "
            + " | ".join(f"{share[p]:.1%}" for p in PROFILES)
            + " |"
        )
    save("case_share", figures)
    update_section(
        "Identifications that open a case (issue 16)",
        "`python bench/case_share.py` (bundle "
        f"{args.bundle.name}): share of one-photo identifications that open a specialist's case "
        "without the user asking, before (every answer not accepted) and after the rule of "
        "`model/routing.py`, per profile.\n\n"
        f"| photos | count | before (every profile) | after: {' | '.join(PROFILES)} |\n"
        f"|---|---:|---:|{'---:|' * len(PROFILES)}\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
