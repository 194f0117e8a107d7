"""``iriis evaluate --field-proxy``: the lab-to-field gap, measured on the photos the field proxy
network never saw (``training/holdout.py`` says which and why).

Reported photos only: the held-back photos of the val and test splits (the train split's are
for choices, never for figures). For the fp32 and int8 graphs, without and with the crop named:

- in-scope field photos (apple orchard photos; the crop named is ``apple``): ``top1``,
  ``coverage`` (share accepted), ``accepted_precision``, ``out_of_scope_share``, and the share
  sent to a specialist;
- out-of-scope field photos (``weed.lantana``, a plant the proxy was never taught): the share
  accepted as a known label and the share said out of scope (these photos name no crop: the
  figures are the same with and without);
- the bank's out-of-scope raspberry leaves (lab photos; named ``raspberry``, a crop the bank
  lacks).

The proxy's own test split (less the held-back photos) is measured by the plain ``iriis
evaluate`` of its bundle, like any release (``make field-proxy``).
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np

from model.catalog import Catalog
from model.identifier import Identifier, open_identifier
from model.result import Decision
from training.calibrate import Outputs
from training.data import Record, read_records, readable
from training.evaluation import MEASURE_HOST, score
from training.holdout import (
    IN_SCOPE,
    OUT_OF_SCOPE,
    PROXY_CROP,
    REPORTED_SPLITS,
    read_holdout,
)
from training.metrics import Scored, short_list_figures
from training.outputs import collect

log = logging.getLogger(__name__)


def decisions_shares(scored: Scored) -> dict[str, float]:
    """What happened to photos of no label the network knows."""
    return {
        "photos": len(scored.decisions),
        "accepted": _share(scored, Decision.ACCEPTED),
        "needs_specialist": _share(scored, Decision.NEEDS_SPECIALIST),
        "out_of_scope": _share(scored, Decision.OUT_OF_SCOPE),
    }


def in_scope_figures(scored: Scored) -> dict[str, float]:
    correct = scored.predictions == scored.targets
    accepted = np.array([d is Decision.ACCEPTED for d in scored.decisions])
    return {
        "photos": len(correct),
        "top1": float(correct.mean()),
        "coverage": float(accepted.mean()),
        "accepted_precision": float(correct[accepted].mean()) if accepted.any() else 0.0,
        "needs_specialist": _share(scored, Decision.NEEDS_SPECIALIST),
        "out_of_scope_share": _share(scored, Decision.OUT_OF_SCOPE),
    }


def _share(scored: Scored, decision: Decision) -> float:
    return float(np.mean([d is decision for d in scored.decisions]))


def _figures(
    identifier: Identifier,
    catalog: Catalog,
    collected: dict[str, tuple[Outputs, list[Record]]],
    crop_named: bool,
) -> dict[str, dict[str, Any]]:
    """The three sets' figures, each photo naming its crop or none: the orchard photos name
    ``apple``, the raspberry leaves their own crop (outside the bank), lantana none."""
    groups, hosts = catalog.groups_by_label(), catalog.hosts_by_label()

    def scored(name: str, crop: str | None = None) -> Scored:
        outputs, kept = collected[name]
        crops = [crop or catalog.crop_id(r.host) for r in kept] if crop_named else None
        return score(identifier.policy, identifier.labels, groups, outputs, hosts, crops)

    field = scored("in_scope_field", PROXY_CROP)
    lists = identifier.policy.short_lists
    return {
        "in_scope_field": {
            **in_scope_figures(field),
            **({"short_lists": short_list_figures(lists, field)} if lists else {}),
        },
        "out_of_scope_field": decisions_shares(scored("out_of_scope_field", None)),
        "unknown_lab": decisions_shares(scored("unknown_lab")),
    }


def evaluate_field_proxy(
    folder: Path,
    splits_path: Path,
    bank_dir: Path,
    holdout_path: Path,
    catalog: Catalog,
    threads: int = 2,
) -> dict[str, Any]:
    """The field proxy's figures for the bundle at ``folder`` (trained with ``holdout_path``)."""
    records = readable(read_records(splits_path), bank_dir)
    roles = {
        row["photo_id"]: row["role"]
        for row in read_holdout(holdout_path)
        if row["split"] in REPORTED_SPLITS
    }
    field = [r for r in records if roles.get(r.photo_id) == IN_SCOPE]
    foreign = [r for r in records if roles.get(r.photo_id) == OUT_OF_SCOPE]
    raspberry = [r for r in records if r.split == "unknown" and r.host == MEASURE_HOST]
    report: dict[str, Any] = {
        "bundle": folder.name,
        "photos": {
            "in_scope_field": len(field),
            "out_of_scope_field": len(foreign),
            "unknown_lab": len(raspberry),
        },
    }
    sets = {"in_scope_field": field, "out_of_scope_field": foreign, "unknown_lab": raspberry}
    for variant in ("fp32", "int8"):
        identifier = open_identifier(folder, variant=variant, threads=threads, check=False)
        collected = {
            name: collect(identifier, chosen, bank_dir, f"{name} ({variant})")
            for name, chosen in sets.items()
        }
        report[variant] = {
            setting: _figures(identifier, catalog, collected, crop_named)
            for setting, crop_named in (("without_crop", False), ("with_crop", True))
        }
        for setting in ("without_crop", "with_crop"):
            log.info("field proxy %s %s: %s", variant, setting, report[variant][setting])
    return report
