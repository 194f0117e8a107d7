"""``iriis export`` and ``iriis calibrate``: trained weights to a calibrated bundle.

``export`` writes the graphs: the fp32 ONNX graph, checked against torch on validation photos
(probabilities within 1e-4), a static int8 copy calibrated on training photos of every label,
and the run's record (``training.json``). ``calibrate`` then runs the fp32 graph through the
shipped identifier on the training, validation and blueberry photos and sets the decision
policy (``training.calibrate``) and the photo-quality checks (``training.quality``): it needs
the bundle's graphs, not the weights, so a released model's policy can be re-tuned.
``iriis evaluate`` then measures the bundle on the test split and writes its model card and
manifest, which completes it.
"""

import dataclasses
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from model.bundle import CATALOG, MANIFEST, held_out_photos, write_manifest
from model.catalog import Catalog, write_catalog
from model.identifier import open_identifier
from model.imaging import load_image
from model.policy import softmax
from model.preprocess import PreprocessConfig, preprocess
from training.backbones import load_trained
from training.calibrate import CalibrateParams, calibrate, fit_field_check, fit_short_lists
from training.data import Record, read_records, readable
from training.export import export_onnx, quantize_int8, write_json
from training.holdout import without
from training.model_card import read_json, render
from training.outputs import collect
from training.quality import QualityParams, calibrate_quality
from training.warm_start import WEIGHTS, save_weights

log = logging.getLogger(__name__)


class ExportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = "0000.00.00"
    # Training photos per label that calibrate the int8 activation ranges.
    int8_photos_per_label: int = 6
    # Validation photos on which ONNX must match torch.
    parity_photos: int = 64
    seed: int = 0


CALIBRATION_HOST = "blueberry"  # the unknown crop used for tuning; raspberry is for measuring


def export_bundle(
    weights: Path,
    folder: Path,
    splits_path: Path,
    bank_dir: Path,
    params: ExportParams,
) -> dict[str, Any]:
    """The graphs and the run's record; returns the parity check's figure."""
    network, state = load_trained(weights)
    config = PreprocessConfig.from_dict(state["preprocess"])
    records = without(readable(read_records(splits_path), bank_dir), state.get("held_out", ()))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in ("manifest.json", "MODEL_CARD.md", "calibration.json"):
        (folder / stale).unlink(missing_ok=True)  # complete only after calibrate and evaluate

    export_onnx(network, config.size, folder / "model.onnx")
    write_json(folder / "labels.json", {"labels": state["labels"]})
    write_json(folder / "preprocess.json", config.to_dict())
    write_json(folder / "training.json", training_record(state))
    save_weights(state, folder / WEIGHTS)  # server-only: the next warm start's weights
    val = [r for r in records if r.split == "val"]
    parity = check_parity(
        network, folder, val[:: max(1, len(val) // params.parity_photos)], bank_dir
    )
    quantize_int8(
        folder / "model.onnx",
        folder / "model.int8.onnx",
        int8_calibration_photos(records, bank_dir, params),
        config,
    )
    return {"parity_max_probability_difference": parity}


def training_record(state: dict[str, Any]) -> dict[str, Any]:
    """The run behind the weights, kept in the bundle (``training.json``) so that the model
    card can be written again without the weights, which stay on the training machine."""
    history = state.get("history", [])
    return {
        **{k: v for k, v in state.items() if k != "model"},
        "epochs_run": len(history),
        "training_seconds": round(sum(h.get("seconds", 0.0) for h in history), 1),
    }


def calibrate_bundle(
    folder: Path,
    splits_path: Path,
    bank_dir: Path,
    calibrate_params: CalibrateParams,
    quality_params: QualityParams,
    threads: int = 1,
) -> dict[str, Any]:
    """Write the bundle's ``calibration.json``; returns what was compared and chosen."""
    records = without(readable(read_records(splits_path), bank_dir), held_out_photos(folder))
    val = [r for r in records if r.split == "val"]
    (folder / MANIFEST).unlink(missing_ok=True)  # the bundle changes: evaluate completes it again
    identifier = open_identifier(folder, check=False, threads=threads)
    train = [r for r in records if r.split == "train"]
    train_out, train_kept = collect(identifier, train, bank_dir, "train")
    val_out, val_kept = collect(identifier, val, bank_dir, "val")
    unknown = [r for r in records if r.split == "unknown" and r.host == CALIBRATION_HOST]
    unknown_out, _ = collect(identifier, unknown, bank_dir, "unknown (blueberry)")
    policy, report = calibrate(train_out, val_out, unknown_out, calibrate_params)
    quality, quality_report = calibrate_quality(identifier, val, bank_dir, quality_params)
    field_check = fit_field_check(
        train_out,
        _field(train_kept),
        val_out,
        _field(val_kept),
        lab_only_labels(train, identifier.labels),
        calibrate_params,
    )
    short_lists = fit_short_lists(
        val_out, policy.temperature, label_categories(train, identifier.labels), calibrate_params
    )
    policy = dataclasses.replace(
        policy, quality=quality, field_check=field_check, short_lists=short_lists
    )
    write_json(folder / "calibration.json", policy.to_dict())
    return {"calibration": report, "quality": quality_report}


def complete_release(
    folder: Path,
    training: dict[str, Any],
    metrics: dict[str, Any],
    metrics_dir: Path,
    catalog: Catalog,
) -> str:
    """Write the evaluated bundle's model card and the catalog it answers with (phones get a
    new label's texts with the model), then its manifest, which completes it (a bundle without
    one is never served); returns the card."""
    write_catalog(catalog, folder / CATALOG)
    card = render(
        folder.name,
        training,
        read_json(folder / "calibration.json") or {},
        metrics,
        read_json(metrics_dir / "baseline.json"),
        read_json(metrics_dir / "ablations.json"),
        {p.name: p.stat().st_size for p in sorted(folder.glob("*.onnx"))},
        read_json(metrics_dir / "field_proxy.json"),
    )
    (folder / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    write_manifest(folder, folder.name)
    return card


def lab_only_labels(train: Sequence[Record], labels: Sequence[str]) -> frozenset[str]:
    """The labels none of whose training photos is a field photo (rule F of model.policy); the
    bundle's card and its policy name them."""
    with_field = {r.label for r in train if r.setting == "field"}
    return frozenset(label for label in labels if label not in with_field)


def label_categories(records: Sequence[Record], labels: Sequence[str]) -> list[str]:
    """Each label's catalog category (as the bank files it), in ``labels``' order."""
    category = {r.label: r.category for r in records}
    return [category.get(label, "") for label in labels]


def _field(records: Sequence[Record]) -> np.ndarray:
    return np.array([r.setting == "field" for r in records])


def int8_calibration_photos(
    records: list[Record], bank_dir: Path, params: ExportParams
) -> list[Path]:
    """A few training photos of every label, drawn with the export's seed."""
    rng = random.Random(params.seed)
    by_label: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        if record.split == "train":
            by_label[record.label].append(record)
    return [
        bank_dir / r.file
        for label in sorted(by_label)
        for r in rng.sample(
            by_label[label], min(params.int8_photos_per_label, len(by_label[label]))
        )
    ]


def check_parity(
    network: torch.nn.Module, folder: Path, records: list[Record], bank_dir: Path
) -> float:
    """Largest difference between torch's and ONNX Runtime's probabilities; refuses the export
    above 1e-4."""
    identifier = open_identifier(folder, check=False)
    config = identifier.bundle.preprocess
    batch = np.stack([preprocess(load_image(bank_dir / r.file), config) for r in records])
    with torch.no_grad():
        expected = softmax(network(torch.from_numpy(batch)).numpy())
    logits, _ = identifier.infer(batch)
    difference = float(np.abs(softmax(logits) - expected).max())
    if difference > 1e-4:
        raise RuntimeError(f"ONNX and torch disagree: probabilities differ by {difference:.2e}")
    log.info("ONNX matches torch: largest probability difference %.2e", difference)
    return difference
