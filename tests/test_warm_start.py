"""Warm starts: the released network recovered from its ONNX graph computes what the graph
computes, a graph of another shape is refused, and a warm-started run keeps its batch norms
frozen."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from skimage import data as sample_photos
from torch import nn

import training.train
from model.manifest import read_manifest
from model.paths import BUNDLES_DIR
from model.settings import Settings
from tests.helpers import write_tiny_splits
from training.backbones import create_model, load_trained
from training.params import TrainParams
from training.train import fit
from training.warm_start import (
    WEIGHTS,
    logit_difference,
    main,
    network_from_state,
    save_weights,
    weights_from_onnx,
    with_labels,
)

RELEASED = BUNDLES_DIR / "2026.11.26.1"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def recovered() -> dict[str, Any]:
    torch.set_num_threads(1)
    return weights_from_onnx(RELEASED)


def _photos() -> list[Image.Image]:
    return [Image.fromarray(sample_photos.chelsea()), Image.fromarray(sample_photos.coffee())]


def test_the_recovered_network_computes_the_released_graphs_logits(
    recovered: dict[str, Any], tmp_path: Path
) -> None:
    assert logit_difference(recovered, RELEASED, _photos()) < 1e-4
    labels = json.loads((RELEASED / "labels.json").read_text(encoding="utf-8"))["labels"]
    assert recovered["labels"] == labels and recovered["batchnorm_folded"]
    network, state = load_trained(save_weights(recovered, tmp_path / "model.pt"))
    assert state["labels"] == labels and state["preprocess"]["size"] == 256
    assert "optimizer" not in state
    for name, tensor in network.state_dict().items():
        assert torch.equal(tensor, recovered["model"][name].float()), name
    if (RELEASED / WEIGHTS).is_file():  # the committed copy is this recovery
        committed = torch.load(RELEASED / WEIGHTS, map_location="cpu", weights_only=True)
        assert committed["labels"] == labels
        assert all(torch.equal(v, recovered["model"][k]) for k, v in committed["model"].items())


def test_the_command_refuses_to_write_weights_that_disagree_with_the_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("training.warm_start.logit_difference", lambda *args, **kwargs: 1e-3)
    assert main([str(RELEASED), "--out", str(tmp_path / "weights.pt")]) == 1
    assert not (tmp_path / "weights.pt").exists()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("labels.json", "classifier.weight"),  # one label more than the graph's logits
        ("training.json", "convolutions"),  # another backbone: other layers
    ],
)
def test_a_graph_that_does_not_fit_the_network_is_refused(
    tmp_path: Path, change: str, named: str
) -> None:
    for name in ("model.onnx", "labels.json", "preprocess.json", "training.json"):
        os.symlink(RELEASED / name, tmp_path / name)
    content = json.loads((RELEASED / change).read_text(encoding="utf-8"))
    if change == "labels.json":
        content["labels"].append("weed.dandelion")
    else:
        content["backbone"] = "efficientnet_lite1"
    (tmp_path / change).unlink()
    (tmp_path / change).write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(ValueError, match=named):
        weights_from_onnx(tmp_path)


@pytest.fixture(scope="module")
def tiny_splits(
    tmp_path_factory: pytest.TempPathFactory, bank_dir: Path, settings: Settings
) -> Path:
    """Two training and one validation photo for each of three labels."""
    return write_tiny_splits(settings.splits_path, tmp_path_factory.mktemp("tiny"), labels=3)


TINY = TrainParams(
    image_size=64,
    epochs=1,
    batch_size=2,
    train_from_stage=5,
    workers=0,
    threads=1,
    val_every=0,
    composite_probability=0.0,
)


def _warm_start_file(path: Path, labels: list[str]) -> Path:
    network = create_model("efficientnet_lite0", len(labels))  # real batch-norm statistics
    return save_weights(
        {
            "backbone": "efficientnet_lite0",
            "labels": labels,
            "preprocess": {"size": 64},
            "model": network.state_dict(),
        },
        path,
    )


def _labels(splits: Path) -> list[str]:
    return sorted({r["label"] for r in read_manifest(splits) if r["split"] == "train"})


def _batch_norms(network: nn.Module) -> dict[str, nn.Module]:
    return {
        name: module
        for name, module in network.named_modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
    }


def test_a_warm_started_run_keeps_every_batch_norm_frozen(
    tiny_splits: Path, bank_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "bundle"  # a bundle folder with its weights.pt
    start = torch.load(_warm_start_file(bundle / WEIGHTS, _labels(tiny_splits)), weights_only=True)
    steps: list[list[str]] = []  # per training step: the batch norms not frozen in eval mode

    def spied(*args: Any, **kwargs: Any) -> nn.Module:
        assert kwargs.get("pretrained") is False  # no ImageNet weights to overwrite
        network = create_model(*args, **kwargs)

        def check(module: nn.Module, inputs: Any) -> None:
            if module.training:
                steps.append(
                    [
                        name
                        for name, bn in _batch_norms(module).items()
                        if bn.training or any(p.requires_grad for p in bn.parameters())
                    ]
                )

        network.register_forward_pre_hook(check)
        return network

    monkeypatch.setattr(training.train, "create_model", spied)
    params = TINY.with_overrides({"warm_start": str(bundle)})
    final = torch.load(fit(params, tiny_splits, bank_dir, tmp_path / "run"), weights_only=False)
    assert len(steps) == 3 and steps == [[]] * 3
    model = final["model"]
    for name in _batch_norms(network_from_state(final)):
        for part in ("weight", "bias", "running_mean", "running_var"):
            assert torch.equal(model[f"{name}.{part}"], start["model"][f"{name}.{part}"])
    assert not torch.equal(model["classifier.weight"], start["model"]["classifier.weight"])
    assert final["params"]["warm_start"] == str(bundle)


def test_a_warm_start_answering_a_label_the_run_lacks_is_refused(
    tiny_splits: Path, bank_dir: Path, tmp_path: Path
) -> None:
    weights = _warm_start_file(tmp_path / "other.pt", [*_labels(tiny_splits), "weed.dandelion"])
    params = TINY.with_overrides({"warm_start": str(weights)})
    with pytest.raises(ValueError, match=r"no photo of: weed\.dandelion"):
        fit(params, tiny_splits, bank_dir, tmp_path / "run")


def test_a_new_label_grows_the_classifier_and_the_known_labels_answer_as_before() -> None:
    torch.manual_seed(0)
    known = ["apple.scab", "weed.lantana"]
    network = create_model("efficientnet_lite0", len(known), pretrained=False).eval()
    state = {"backbone": "efficientnet_lite0", "labels": known, "model": network.state_dict()}
    labels = ["apple.scab", "invertebrate.snail", "weed.lantana"]  # the run's, sorted
    grown = with_labels(state, labels)
    assert grown["labels"] == labels and state["labels"] == known  # the start is not changed
    head = grown["model"]
    assert torch.equal(head["classifier.weight"][[0, 2]], network.classifier.weight)
    assert not head["classifier.weight"][1].any()
    images = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        before = network(images)
        after = network_from_state(grown)(images)
    assert torch.allclose(after[:, [0, 2]], before)  # the known labels' logits are kept
    assert torch.allclose(after[:, 1], network.classifier.bias.min())  # a constant, low one
    with pytest.raises(ValueError, match=r"no photo of: weed\.lantana"):
        with_labels(state, ["apple.scab"])


def test_a_checkpoint_written_before_warm_starts_existed_still_resumes(tmp_path: Path) -> None:
    network = nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(network.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    older = {k: v for k, v in TINY.model_dump().items() if k != "warm_start"}
    torch.save(
        {
            "params": older,
            "epoch": 1,
            "model": network.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": [],
            "history": [{"epoch": 1}],
        },
        tmp_path / training.train.CHECKPOINT,
    )
    assert training.train._resume(tmp_path, TINY, network, optimizer, scheduler)[0] == 1
    with pytest.raises(RuntimeError, match="other parameters"):
        warm = TINY.with_overrides({"warm_start": "model/bundles/2026.11.26.1"})
        training.train._resume(tmp_path, warm, network, optimizer, scheduler)
