"""``iriis evaluate``: the bundle on the test split, through the shipped decision policy.

Writes ``metrics/test.json`` (fp32 figures at the top level, the int8 copy under ``int8``),
the confusion matrix, reliability diagram and risk-coverage curve (PNG, plus CSV/JSON data
for ``dvc plots``), ``metrics/disagreements.csv`` (the test photos accepted under another label
than the bank's, for the lab to review: some are the bank's labels, not the model), then the
bundle's ``MODEL_CARD.md`` and ``manifest.json``, which complete the release.
"""

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from model.bundle import held_out_photos
from model.catalog import Catalog
from model.identifier import Identifier, open_identifier
from model.manifest import DISAGREEMENT_COLUMNS, write_manifest
from model.policy import Policy, crop_context, decide
from model.result import Decision
from training.calibrate import Outputs
from training.data import Record, read_records, readable
from training.holdout import without
from training.metrics import (
    Scored,
    confusion,
    per_label,
    reliability,
    risk_coverage,
    short_list_figures,
    summary,
)
from training.outputs import collect
from training.specimens import compare

log = logging.getLogger(__name__)

MEASURE_HOST = "raspberry"  # unknown crop never used for tuning
FAMILIES: dict[str, Callable[[str], bool]] = {
    "crops": lambda label: label.split(".")[0] in {"apple", "strawberry", "potato", "corn", "bean"},
    "invertebrates": lambda label: label.startswith("invertebrate."),
    "weeds": lambda label: label.startswith("weed."),
}


def score(
    policy: Policy,
    labels: Sequence[str],
    groups: dict[str, str],
    outputs: Outputs,
    hosts: Mapping[str, Sequence[str]] | None = None,
    crops: Sequence[str | None] | None = None,
) -> Scored:
    """Each photo decided alone, exactly as the identifier decides a one-photo request; with
    ``crops`` (one per photo, None where none is named) on the crop each photo names, so that
    its probabilities are those of the labels the crop leaves (``model.policy`` rule C)."""
    contexts = {crop: crop_context(labels, hosts or {}, crop) for crop in set(crops or [None])}
    decisions, probabilities = [], []
    for i in range(len(outputs.targets)):
        context = contexts[crops[i] if crops else None]
        logits = outputs.logits[i : i + 1]
        decisions.append(
            decide(policy, labels, groups, logits, outputs.embeddings[i : i + 1], crop=context)
        )
        probabilities.append(policy.probabilities(context.restrict(logits) if context else logits))
    return Scored(
        np.concatenate(probabilities) if probabilities else np.zeros((0, len(labels))),
        outputs.targets,
        [d.decision for d in decisions],
    )


def figures(
    test: Scored, test_records: Sequence[Record], unknown: Scored, labels: Sequence[str]
) -> dict[str, Any]:
    result: dict[str, Any] = summary(test)
    result["unknown_accepted"] = float(np.mean([d is Decision.ACCEPTED for d in unknown.decisions]))
    result["unknown_out_of_scope"] = float(
        np.mean([d is Decision.OUT_OF_SCOPE for d in unknown.decisions])
    )
    for name, member in FAMILIES.items():
        mask = np.array([member(r.label) for r in test_records])
        result[f"family/{name}"] = summary(test.subset(mask))
    for setting in ("lab", "field"):
        mask = np.array([r.setting == setting for r in test_records])
        result[f"setting/{setting}"] = summary(test.subset(mask))
    result["per_label"] = per_label(test, labels)
    return result


def _parts(records: Sequence[Record]) -> dict[str, np.ndarray]:
    """Masks over ``records`` by catalog category and by setting (the short lists' report)."""
    names = {f"category/{r.category}" for r in records} | {f"setting/{r.setting}" for r in records}
    return {
        name: np.array(
            [name in (f"category/{r.category}", f"setting/{r.setting}") for r in records]
        )
        for name in sorted(names)
    }


def crop_named(
    identifier: Identifier,
    catalog: Catalog,
    test: Outputs,
    test_records: Sequence[Record],
    unknown: Outputs,
    unknown_records: Sequence[Record],
) -> dict[str, float]:
    """The headline figures when every photo names its crop (the bank's ``host``: none for
    most insects and weeds, the crop itself for the out-of-scope raspberry leaves)."""
    groups, hosts = catalog.groups_by_label(), catalog.hosts_by_label()

    def scored(outputs: Outputs, records: Sequence[Record]) -> Scored:
        crops = [catalog.crop_id(r.host) for r in records]
        return score(identifier.policy, identifier.labels, groups, outputs, hosts, crops)

    on_unknown = scored(unknown, unknown_records).decisions
    return {
        **summary(scored(test, test_records)),
        "unknown_accepted": float(np.mean([d is Decision.ACCEPTED for d in on_unknown])),
        "unknown_out_of_scope": float(np.mean([d is Decision.OUT_OF_SCOPE for d in on_unknown])),
    }


def evaluate_bundle(
    folder: Path,
    splits_path: Path,
    bank_dir: Path,
    metrics_dir: Path,
    catalog: Catalog,
    threads: int = 2,
) -> dict[str, Any]:
    records = without(readable(read_records(splits_path), bank_dir), held_out_photos(folder))
    test = [r for r in records if r.split == "test"]
    unknown = [r for r in records if r.split == "unknown" and r.host == MEASURE_HOST]
    results: dict[str, Any] = {}
    for variant in ("fp32", "int8"):
        identifier = open_identifier(folder, variant=variant, threads=threads, check=False)
        groups = catalog.groups_by_label()
        test_out, test_kept = collect(identifier, test, bank_dir, f"test ({variant})")
        unknown_out, unknown_kept = collect(identifier, unknown, bank_dir, f"unknown ({variant})")
        scored = score(identifier.policy, identifier.labels, groups, test_out)
        results[variant] = figures(
            scored,
            test_kept,
            score(identifier.policy, identifier.labels, groups, unknown_out),
            identifier.labels,
        )
        results[variant]["crop_named"] = crop_named(
            identifier, catalog, test_out, test_kept, unknown_out, unknown_kept
        )
        if variant == "fp32":
            if identifier.policy.short_lists is not None:
                results[variant]["short_lists"] = short_list_figures(
                    identifier.policy.short_lists, scored, _parts(test_kept)
                )
            fp32_predictions = scored.predictions
            write_plots(scored, identifier.labels, metrics_dir)
            write_disagreements(scored, test_kept, identifier.labels, metrics_dir)
            specimens = compare(identifier.policy, identifier.labels, test_out)
            (metrics_dir / "specimens.json").write_text(json.dumps(specimens, indent=2) + "\n")
        else:
            results[variant]["top1_agreement_with_fp32"] = float(
                np.mean(scored.predictions == fp32_predictions)
            )
    metrics = {**results["fp32"], "int8": results["int8"]}
    metrics_dir.mkdir(parents=True, exist_ok=True)
    (metrics_dir / "test.json").write_text(json.dumps(metrics, indent=2) + "\n", "utf-8")
    return metrics


def write_disagreements(
    scored: Scored, records: Sequence[Record], labels: Sequence[str], metrics_dir: Path
) -> None:
    """The accepted answers that contradict the bank, most confident first: each is either a
    confident error of the model or a photo the bank labelled wrongly, and only a specialist
    can tell which."""
    accepted = np.array([d is Decision.ACCEPTED for d in scored.decisions])
    contradicting = np.flatnonzero(accepted & (scored.predictions != scored.targets))
    rows = [
        {
            "file": records[i].file,
            "bank_label": records[i].label,
            "model_label": labels[scored.predictions[i]],
            "probability": f"{scored.confidence[i]:.4f}",
        }
        for i in contradicting[np.argsort(-scored.confidence[contradicting], kind="stable")]
    ]
    write_manifest(metrics_dir / "disagreements.csv", rows, DISAGREEMENT_COLUMNS)


def write_plots(scored: Scored, labels: Sequence[str], metrics_dir: Path) -> None:
    plots = metrics_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    correct = scored.predictions == scored.targets

    curve = risk_coverage(scored.confidence, correct)
    (plots / "risk_coverage.json").write_text(json.dumps(curve, indent=1) + "\n", "utf-8")
    figure, axis = plt.subplots(figsize=(5, 4))
    axis.plot([p["coverage"] for p in curve], [p["precision"] for p in curve])
    axis.axhline(0.98, color="grey", linestyle="--", linewidth=0.8)
    axis.set(xlabel="coverage (share of photos answered)", ylabel="precision of answers")
    axis.set_title("Risk-coverage, test split")
    figure.tight_layout()
    figure.savefig(plots / "risk_coverage.png", dpi=120)
    plt.close(figure)

    bins = reliability(scored.confidence, correct)
    (plots / "reliability.json").write_text(json.dumps(bins, indent=1) + "\n", "utf-8")
    figure, axis = plt.subplots(figsize=(5, 4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    axis.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o")
    axis.set(xlabel="calibrated confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    axis.set_title("Reliability, test split")
    figure.tight_layout()
    figure.savefig(plots / "reliability.png", dpi=120)
    plt.close(figure)

    matrix = confusion(scored, len(labels))
    figure, axis = plt.subplots(figsize=(12, 11))
    normalised = matrix / np.maximum(1, matrix.sum(axis=1, keepdims=True))
    axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
    axis.set_yticks(range(len(labels)), labels, fontsize=6)
    axis.set(xlabel="predicted", ylabel="true")
    axis.set_title("Confusion matrix (row-normalised), test split")
    figure.tight_layout()
    figure.savefig(plots / "confusion.png", dpi=120)
    plt.close(figure)
