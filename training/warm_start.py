"""Warm starts: a released network as the starting point of a new fine-tune.

Release 2026.11.26.1 kept its trained weights only as its graph, ``model.onnx`` (the checkpoint
stayed on the lent GPU machine). torch's ONNX export folds every batch norm into the
convolution before it, so the graph holds 49 convolutions with biases and the classifier, in
timm's module order. ``weights_from_onnx`` maps them back onto ``create_model``'s network, each
batch norm set to the identity (weight 1, bias the folded bias, mean 0, variance 1 - eps); the
network then gives ONNX Runtime's logits to float rounding (``logit_difference``). Such a
network fine-tunes with every batch norm frozen in eval mode (``TrainParams.warm_start``):
batch statistics would replace the folded ones.

A bundle now keeps its trained weights beside its graphs (``weights.pt``, server-only;
``save_weights``). Write a released bundle's recovered weights with::

    python -m training.warm_start model/bundles/2026.11.26.1 [--out FILE]
"""

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from PIL import Image
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from model.imaging import load_image
from model.preprocess import PreprocessConfig, preprocess
from training.backbones import BACKBONES, create_model

log = logging.getLogger(__name__)

WEIGHTS = "weights.pt"  # a bundle's trained weights (training.backbones.load_trained format)
DEFAULT_BACKBONE = "efficientnet_lite0"
# The keys of a final weights file (training.train.fit), without a checkpoint's optimiser state.
FINAL_KEYS = (
    "backbone",
    "labels",
    "preprocess",
    "params",
    "history",
    "hardware",
    "teacher",
    "held_out",
    "recovered_from",
    "bundle",
    "batchnorm_folded",
    "model",
)
MAX_LOGIT_DIFFERENCE = 1e-4


def _conv_layers(network: nn.Module) -> list[tuple[str, nn.Conv2d, str, _BatchNorm]]:
    """Each convolution with the batch norm that follows it, in module order."""
    layers = [
        (name, module)
        for name, module in network.named_modules()
        if isinstance(module, nn.Conv2d | _BatchNorm)
    ]
    pairs = []
    for (conv_name, conv), (bn_name, bn) in zip(layers[::2], layers[1::2], strict=True):
        if not isinstance(conv, nn.Conv2d) or not isinstance(bn, _BatchNorm):
            raise ValueError(f"{conv_name} is not a convolution followed by its batch norm")
        pairs.append((conv_name, conv, bn_name, bn))
    return pairs


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class _Graph:
    """The initializers and node attributes of an ONNX graph, with errors that name them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        graph = onnx.load(str(path)).graph
        self.nodes = list(graph.node)
        self.tensors = {t.name: t for t in graph.initializer}

    def tensor(self, name: str, torch_name: str, shape: Sequence[int]) -> torch.Tensor:
        if name not in self.tensors:
            raise ValueError(f"{self.path}: {name!r} (for {torch_name}) is not an initializer")
        array = numpy_helper.to_array(self.tensors[name])
        if tuple(array.shape) != tuple(shape) or array.dtype != np.float32:
            raise ValueError(
                f"{self.path}: tensor {name!r} is {array.dtype}{list(array.shape)}, "
                f"{torch_name} needs float32{list(shape)}"
            )
        return torch.from_numpy(array.copy())

    def check(self, node: onnx.NodeProto, attribute: str, value: object, expected: object) -> None:
        if value != expected:
            raise ValueError(
                f"{self.path}: node {node.name!r} has {attribute} {value}, "
                f"the network's layer needs {expected}"
            )


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def weights_from_onnx(folder: Path) -> dict[str, Any]:
    """The trained weights of bundle ``folder`` recovered from its ``model.onnx``, in the format
    of ``training.train.fit``'s final weights (``training.backbones.load_trained``).

    The graph's convolutions are matched in order to the network's, each folded bias going to
    the batch norm after it (set to the identity); any shape or layout that does not match the
    backbone of the bundle's ``training.json`` is refused with a ValueError naming the tensor.
    """
    folder = Path(folder)
    graph = _Graph(folder / "model.onnx")
    labels = list(_read_json(folder / "labels.json")["labels"])
    config = PreprocessConfig.from_dict(_read_json(folder / "preprocess.json"))
    record = _read_json(folder / "training.json") if (folder / "training.json").is_file() else {}
    backbone = record.get("backbone", DEFAULT_BACKBONE)
    if backbone not in BACKBONES:
        raise ValueError(f"{folder}/training.json: unknown backbone {backbone!r}")
    network = create_model(backbone, len(labels), pretrained=False)
    layers = _conv_layers(network)
    convs = [n for n in graph.nodes if n.op_type == "Conv"]
    heads = [n for n in graph.nodes if n.op_type == "Gemm"]
    if len(convs) != len(layers) or len(heads) != 1:
        raise ValueError(
            f"{graph.path}: {len(convs)} convolutions and {len(heads)} classifier, "
            f"{backbone} has {len(layers)} and 1"
        )

    recovered: dict[str, torch.Tensor] = {}
    for node, (conv_name, conv, bn_name, bn) in zip(convs, layers, strict=True):
        attributes = _attributes(node)
        graph.check(node, "group", attributes.get("group", 1), conv.groups)
        graph.check(node, "strides", list(attributes.get("strides", [1, 1])), list(conv.stride))
        graph.check(
            node, "dilations", list(attributes.get("dilations", [1, 1])), list(conv.dilation)
        )
        graph.check(node, "pads", list(attributes.get("pads", [0] * 4)), list(conv.padding) * 2)
        recovered[f"{conv_name}.weight"] = graph.tensor(
            node.input[1], f"{conv_name}.weight", conv.weight.shape
        )
        channels = conv.out_channels
        if len(node.input) < 3 or not node.input[2]:
            raise ValueError(f"{graph.path}: convolution {node.name!r} has no folded bias")
        recovered[f"{bn_name}.bias"] = graph.tensor(node.input[2], f"{bn_name}.bias", (channels,))
        recovered[f"{bn_name}.weight"] = torch.ones(channels)
        recovered[f"{bn_name}.running_mean"] = torch.zeros(channels)
        # (x - 0) / sqrt(var + eps) = x: the folded graph has no normalisation left.
        recovered[f"{bn_name}.running_var"] = torch.full((channels,), 1.0 - bn.eps)

    head = heads[0]
    attributes = _attributes(head)
    for name, expected in (("alpha", 1.0), ("beta", 1.0), ("transA", 0)):
        graph.check(head, name, attributes.get(name, expected), expected)
    shape = tuple(network.state_dict()["classifier.weight"].shape)
    if attributes.get("transB", 0):
        weight = graph.tensor(head.input[1], "classifier.weight", shape)
    else:
        weight = graph.tensor(head.input[1], "classifier.weight", shape[::-1]).T.contiguous()
    recovered["classifier.weight"] = weight
    recovered["classifier.bias"] = graph.tensor(head.input[2], "classifier.bias", shape[:1])

    state = network.state_dict()
    unset = [k for k in state if k not in recovered and not k.endswith("num_batches_tracked")]
    if unset:
        raise ValueError(f"{graph.path}: nothing in the graph for {unset}")
    network.load_state_dict({**state, **recovered}, strict=True)
    return {
        "backbone": backbone,
        "labels": labels,
        "preprocess": config.to_dict(),
        "params": record.get("params", {}),
        "history": record.get("history", []),
        "hardware": record.get("hardware", "unknown"),
        **{key: record[key] for key in ("teacher", "held_out") if key in record},
        "recovered_from": "model.onnx",
        "bundle": folder.name,
        "batchnorm_folded": True,
        "model": {k: v.detach().clone().contiguous() for k, v in network.state_dict().items()},
    }


def network_from_state(state: dict[str, Any]) -> nn.Module:
    """The network of a final weights state, in eval mode (as ``load_trained`` builds it)."""
    network = create_model(state["backbone"], len(state["labels"]), pretrained=False)
    network.load_state_dict({k: v.float() for k, v in state["model"].items()})
    return network.eval()


def sample_photos() -> list[Image.Image]:
    """Two real photos that ship with scikit-image (a dev dependency): a cat and a coffee."""
    try:
        from skimage import data
    except ModuleNotFoundError:
        raise RuntimeError("scikit-image is not installed: pass photos (--photos)") from None
    return [Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())]


def logit_difference(
    state: dict[str, Any],
    folder: Path,
    photos: Sequence[Image.Image] | None = None,
    threads: int = 1,
) -> float:
    """Largest absolute difference between the logits of the network of ``state`` (torch) and
    those of bundle ``folder``'s ``model.onnx`` (ONNX Runtime), on ``photos`` (default: two
    sample photos) preprocessed as the bundle says."""
    config = PreprocessConfig.from_dict(_read_json(Path(folder) / "preprocess.json"))
    batch = np.stack([preprocess(photo, config) for photo in photos or sample_photos()])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(Path(folder) / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    (expected,) = session.run(["logits"], {"image": batch})
    with torch.no_grad():
        logits = network_from_state(state)(torch.from_numpy(batch)).numpy()
    return float(np.abs(logits - expected).max())


def save_weights(state: dict[str, Any], path: Path) -> Path:
    """Write the final-weights keys of ``state`` (no optimiser state), tensors contiguous."""
    kept = {key: state[key] for key in FINAL_KEYS if key in state}
    kept["model"] = {k: v.detach().cpu().contiguous() for k, v in state["model"].items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save(kept, temporary)
    os.replace(temporary, path)
    return path


def with_labels(state: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    """A final weights state answering ``labels``: the warm start's classifier rows put in
    their order, a row added for each label it did not know (a new organism the lab added to
    the catalog and the bank).

    The known labels keep everything they learnt (their logits are unchanged). A new label's
    row starts at zero weight and at the lowest bias of the known labels: a constant logit, not
    favoured by anything until training moves it. A warm start naming a label the run lacks is
    refused: dropping a label is a new release, not a retraining.
    """
    known = list(state["labels"])
    if known == list(labels):
        return state
    dropped = sorted(set(known) - set(labels))
    if dropped:
        raise ValueError(
            f"the warm start answers labels this run has no photo of: {', '.join(dropped)} "
            "(a label is removed by a new release, not by a retraining)"
        )
    weight, bias = state["model"]["classifier.weight"], state["model"]["classifier.bias"]
    grown_weight = weight.new_zeros((len(labels), weight.shape[1]))
    grown_bias = bias.new_full((len(labels),), float(bias.min()))
    for row, label in enumerate(labels):
        if label in known:
            grown_weight[row] = weight[known.index(label)]
            grown_bias[row] = bias[known.index(label)]
    added = [label for label in labels if label not in known]
    log.info("classifier grown from %d to %d labels: %s", len(known), len(labels), added)
    model = {**state["model"], "classifier.weight": grown_weight, "classifier.bias": grown_bias}
    return {**state, "labels": list(labels), "model": model}


def load_warm_start(path: Path) -> dict[str, Any]:
    """A final weights state from a weights file, or from a bundle folder: its ``weights.pt``
    when it has one, otherwise recovered from its ``model.onnx``."""
    path = Path(path)
    if path.is_dir():
        if not (path / WEIGHTS).is_file():
            log.info("recovering the weights of %s from its model.onnx", path)
            return weights_from_onnx(path)
        path = path / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"warm start {path}: no such weights file or bundle folder")
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.warm_start",
        description="recover a bundle's trained weights from its model.onnx",
    )
    parser.add_argument("bundle", type=Path, help="bundle folder")
    parser.add_argument("--out", type=Path, help=f"weights file (default: BUNDLE/{WEIGHTS})")
    parser.add_argument("--photos", type=Path, nargs="+", help="parity photos (default: 2 samples)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    state = weights_from_onnx(args.bundle)
    photos = [load_image(p) for p in args.photos] if args.photos else None
    difference = logit_difference(state, args.bundle, photos)
    log.info("torch vs ONNX Runtime: largest logit difference %.2e", difference)
    if difference > MAX_LOGIT_DIFFERENCE:
        log.error("above %.0e: not writing the weights", MAX_LOGIT_DIFFERENCE)
        return 1
    out = save_weights(state, args.out or args.bundle / WEIGHTS)
    sys.stdout.write(f"{out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
