"""A miniature of the lab's server for the retraining tests: a few bank photos of every label
but one, read in place, and a tiny model trained, released and served from them, in a minute of
CPU, built once per test session (fixture ``miniature``)."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from model.catalog import load_catalog
from model.manifest import BANK_COLUMNS, write_manifest
from model.settings import Settings
from tests.helpers import miniature_rows
from training.calibrate import CalibrateParams
from training.evaluation import evaluate_bundle
from training.gate import GateParams
from training.model_card import read_json
from training.params import PrepareParams, TrainParams
from training.quality import QualityParams
from training.release import ExportParams, calibrate_bundle, complete_release, export_bundle
from training.retrain import RetrainParams
from training.train import fit

SERVED = "2026.01.01"
# A label the miniature's model never met: tests/test_new_label.py teaches it.
UNMET = "invertebrate.snail"
PER_SPLIT = {"train": 2, "val": 1, "test": 1}
TINY = TrainParams(
    image_size=64,
    epochs=1,
    batch_size=16,
    lr=1e-3,
    warmup_epochs=0.0,
    val_every=None,
    threads=2,
    workers=0,
    train_from_stage=5,
    composite_probability=0.0,
)
EXPORT = ExportParams(version=SERVED, int8_photos_per_label=1, parity_photos=8)
PERMISSIVE = GateParams(overall_tolerance=1.0, label_min_lost=10**6)


def retrain_params(gate: GateParams, **train: object) -> RetrainParams:
    """The tiny recipe warm-started from the served model, confirmed cases weighted 5."""
    return RetrainParams(
        train=TINY.model_copy(update={"lr": 1e-4, "case_weight": 5.0, **train}),
        prepare=PrepareParams(),
        export=EXPORT,
        calibrate=CalibrateParams(),
        quality=QualityParams(photos=10),
        gate=gate,
    )


@dataclass(frozen=True)
class Miniature:
    bank: Path  # manifest.csv, and images/ linked to the real bank's
    data: Path  # splits.csv and catalog/: the server's IRIIS_DATA_DIR
    bundles: Path  # the served model, SERVED


def serve_miniature(
    root: Path, bank_dir: Path, splits_path: Path, catalog_dir: Path, without: str | None = None
) -> Miniature:
    """A miniature bank, its split and catalog, and a model trained, released and served from
    them; ``without``: a label left out of all three, as if the lab had never met it."""
    world = Miniature(root / "bank", root / "data", root / "bundles")
    world.bank.mkdir(parents=True)
    (world.bank / "images").symlink_to(bank_dir / "images", target_is_directory=True)
    chosen = [
        row
        for row in miniature_rows(splits_path, PER_SPLIT, unknown_per_host=4)
        if row["label"] != without
    ]
    write_manifest(world.bank / "manifest.csv", chosen, BANK_COLUMNS)
    write_manifest(world.data / "splits.csv", chosen, list(chosen[0]))
    shutil.copytree(catalog_dir, world.data / "catalog")
    if without:
        _forget(world.data / "catalog", without)
    weights = fit(TINY, world.data / "splits.csv", world.bank, root / "run")
    folder = world.bundles / SERVED
    splits = world.data / "splits.csv"
    export_bundle(weights, folder, splits, world.bank, EXPORT)
    calibrate_bundle(folder, splits, world.bank, CalibrateParams(), QualityParams(photos=10))
    catalog = load_catalog(world.data / "catalog")
    metrics = evaluate_bundle(folder, splits, world.bank, root / "metrics", catalog)
    training = read_json(folder / "training.json") or {}
    complete_release(folder, training, metrics, root / "metrics", catalog)
    return world


@pytest.fixture(scope="session")
def miniature(
    bank_dir: Path, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Miniature:
    """The miniature, without ``UNMET``; tests copy what they change of it."""
    root = tmp_path_factory.mktemp("miniature")
    return serve_miniature(
        root, bank_dir, settings.splits_path, settings.catalog_dir, without=UNMET
    )


def catalog_entry(catalog_dir: Path, label: str) -> dict[str, object]:
    """``label``'s entry as its catalog file writes it."""
    for path in sorted(catalog_dir.glob("*.yaml")):
        labels = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("labels", {})
        if label in labels:
            return dict(labels[label])
    raise KeyError(label)


def _forget(catalog_dir: Path, label: str) -> None:
    for path in sorted(catalog_dir.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if label in data.get("labels", {}):
            del data["labels"][label]
            path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
