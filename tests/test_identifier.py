"""The identifier on the committed bundle: verification, decisions, bad input, preprocessing."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from model.bundle import BundleError, latest_bundle, load_bundle
from model.identifier import Identifier, open_identifier
from model.imaging import ImageError
from model.manifest import read_manifest
from model.preprocess import PreprocessConfig
from model.result import Decision
from training.data import EvalDataset, read_records


@pytest.fixture(scope="module")
def bundle_dir(settings) -> Path:
    return latest_bundle(settings.bundles_dir)


@pytest.fixture(scope="module")
def identifier(bundle_dir: Path) -> Identifier:
    return open_identifier(bundle_dir)


@pytest.fixture(scope="module")
def test_rows(settings) -> list[dict[str, str]]:
    return [r for r in read_manifest(settings.splits_path) if r["split"] == "test"]


def test_a_corrupt_or_partial_bundle_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / bundle_dir.name
    shutil.copytree(bundle_dir, copy)
    load_bundle(copy)  # an exact copy verifies
    data = bytearray((copy / "model.int8.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.int8.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match its manifest"):
        load_bundle(copy)
    (copy / "labels.json").unlink()
    with pytest.raises(BundleError, match=r"labels\.json is missing"):
        load_bundle(copy)


def test_a_clear_lab_photo_is_accepted_with_its_label(
    identifier: Identifier, bank_dir: Path, test_rows: list[dict[str, str]]
) -> None:
    row = next(r for r in test_rows if r["label"] == "potato.late_blight")
    result = identifier.identify([(bank_dir / row["file"]).read_bytes()])
    assert result.label == "potato.late_blight"
    assert result.decision is Decision.ACCEPTED
    assert result.reason is None
    assert len(result.top_k) == 5
    assert abs(sum(s.probability for s in result.top_k) - 1) < 0.05
    document = result.to_dict()
    json.dumps(document)
    assert document["decision"] == "accepted"
    assert document["label"] == document["top_k"][0]["label"]
    assert document["model_version"] == identifier.version


def test_an_unknown_crop_is_not_accepted_as_a_known_label(
    identifier: Identifier, bank_dir: Path, settings
) -> None:
    raspberries = [r for r in read_manifest(settings.splits_path) if r["host"] == "raspberry"][:20]
    decisions = [
        identifier.identify([(bank_dir / r["file"]).read_bytes()]).decision for r in raspberries
    ]
    assert sum(d is Decision.ACCEPTED for d in decisions) <= 4


def test_bad_photos_are_clear_errors(identifier: Identifier, bank_dir: Path, test_rows) -> None:
    data = (bank_dir / test_rows[0]["file"]).read_bytes()
    with pytest.raises(ImageError, match="truncated"):
        identifier.identify([data[: len(data) // 3]])
    with pytest.raises(ImageError, match="not an image"):
        identifier.identify([b"%PDF-1.4 not a photo"])
    with pytest.raises(ValueError, match="between 1 and 5"):
        identifier.identify([data] * 6)


def test_inference_preprocessing_is_training_evaluation_preprocessing(
    identifier: Identifier, bank_dir: Path, settings
) -> None:
    records = [r for r in read_records(settings.splits_path) if r.split == "test"][::300]
    config: PreprocessConfig = identifier.bundle.preprocess
    dataset = EvalDataset(records, bank_dir, {}, config)
    for index, record in enumerate(records):
        from_training = dataset[index][0].numpy()
        from_inference = identifier.prepare((bank_dir / record.file).read_bytes()).tensor
        np.testing.assert_array_equal(from_training, from_inference)
        assert isinstance(dataset[index][0], torch.Tensor)
