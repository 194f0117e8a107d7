"""Fine-tuning: ImageNet weights load correctly, and an interrupted run resumes exactly."""

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as sample_photos

from model.manifest import read_manifest, write_manifest
from model.preprocess import PreprocessConfig, preprocess
from training.backbones import create_model
from training.params import TrainParams
from training.prepare import SPLIT_COLUMNS
from training.train import fit

# ImageNet class indices: 281-285 are domestic cats, 967 is espresso, 968 is cup.
CATS = set(range(281, 286))
COFFEE = {967, 968}


def test_imagenet_weights_name_a_cat_and_a_coffee_before_fine_tuning() -> None:
    network = create_model("efficientnet_lite0", num_classes=1000).eval()
    config = PreprocessConfig()
    batch = torch.from_numpy(
        np.stack(
            [
                preprocess(Image.fromarray(sample_photos.chelsea()), config),
                preprocess(Image.fromarray(sample_photos.coffee()), config),
            ]
        )
    )
    with torch.no_grad():
        top = network(batch).argmax(1).tolist()
    assert top[0] in CATS
    assert top[1] in COFFEE


def test_a_new_head_keeps_the_pretrained_backbone() -> None:
    pretrained = create_model("efficientnet_lite0", num_classes=1000)
    fine_tunable = create_model("efficientnet_lite0", num_classes=7)
    assert fine_tunable.classifier.out_features == 7
    assert torch.equal(pretrained.conv_stem.weight, fine_tunable.conv_stem.weight)


@pytest.fixture(scope="module")
def tiny_splits(tmp_path_factory: pytest.TempPathFactory, bank_dir: Path, settings) -> Path:
    """Two training and one validation photo for each of six labels, and a missing file."""
    rows = read_manifest(settings.splits_path)
    labels = sorted({r["label"] for r in rows if r["split"] == "train"})[:6]
    chosen = []
    for label in labels:
        chosen += [r for r in rows if r["label"] == label and r["split"] == "train"][:2]
        chosen += [r for r in rows if r["label"] == label and r["split"] == "val"][:1]
    chosen.append({**chosen[0], "file": "images/gone/missing.jpg", "sha256": "0" * 64})
    path = tmp_path_factory.mktemp("tiny") / "splits.csv"
    write_manifest(path, chosen, SPLIT_COLUMNS)
    return path


TINY = TrainParams(
    image_size=64,
    epochs=2,
    batch_size=4,
    train_from_stage=5,
    workers=0,
    val_every=1,
    composite_probability=1.0,
)


@pytest.mark.slow
def test_a_resumed_run_ends_exactly_like_an_uninterrupted_one(
    tiny_splits: Path, bank_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        whole = torch.load(fit(TINY, tiny_splits, bank_dir, tmp_path / "whole"), weights_only=False)
    assert "images/gone/missing.jpg" in caplog.text  # the unreadable photo is named, then skipped

    fit(TINY, tiny_splits, bank_dir, tmp_path / "split", stop_after_epoch=1)
    assert not (tmp_path / "split" / "model.pt").exists()
    resumed = torch.load(fit(TINY, tiny_splits, bank_dir, tmp_path / "split"), weights_only=False)

    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    for key, value in whole["model"].items():
        assert torch.allclose(value.float(), resumed["model"][key].float(), atol=1e-6), key
    assert whole["history"][-1]["val_accuracy"] == resumed["history"][-1]["val_accuracy"]


@pytest.mark.slow
def test_resuming_with_other_parameters_is_refused(
    tiny_splits: Path, bank_dir: Path, tmp_path: Path
) -> None:
    fit(TINY, tiny_splits, bank_dir, tmp_path, stop_after_epoch=1)
    with pytest.raises(RuntimeError, match="other parameters"):
        fit(TINY.with_overrides({"lr": 0.5}), tiny_splits, bank_dir, tmp_path)
