"""Export a trained network to ONNX (fp32 and static int8) inside a bundle folder.

The graph has one input, ``image`` (N, 3, S, S), and two outputs: ``logits`` and
``embedding``, the L2-normalised pooled features used by the gallery and the out-of-scope
score. int8 uses static QDQ quantisation calibrated on training photos: dynamic quantisation
makes this depthwise-heavy network several times slower on CPU, static is faster than fp32.
"""

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn

from model.imaging import load_image
from model.preprocess import PreprocessConfig, preprocess

log = logging.getLogger(__name__)

INPUT = "image"
OUTPUTS = ("logits", "embedding")


class ExportWrapper(nn.Module):
    """The classifier with its pooled features exposed as a normalised embedding."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.network.forward_head(self.network.forward_features(image), pre_logits=True)
        return self.network.get_classifier()(pooled), F.normalize(pooled, dim=1)


def export_onnx(network: nn.Module, size: int, path: Path) -> None:
    wrapper = ExportWrapper(network).eval()
    example = torch.zeros(1, 3, size, size)
    torch.onnx.export(
        wrapper,
        (example,),
        str(path),
        input_names=[INPUT],
        output_names=list(OUTPUTS),
        dynamic_axes={INPUT: {0: "batch"}, OUTPUTS[0]: {0: "batch"}, OUTPUTS[1]: {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(path)))


class _PhotoReader(CalibrationDataReader):
    """Feeds preprocessed photos to the int8 calibrator, one at a time."""

    def __init__(self, photos: Sequence[Path], config: PreprocessConfig) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = (
            {INPUT: preprocess(load_image(path), config)[None]} for path in photos
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


# Quantised operators. The global average pool and the classifier stay in float: quantising
# the 1,280 pooled features to 8 bits flipped the top label of 2% of test photos, keeping them
# in float brings int8 to 99.1% agreement with fp32 for a negligible cost (they are a
# thousandth of the computation).
QUANTIZED_OPS = ["Conv", "Add", "Mul", "Clip"]


# Shipped calibration: on the validation split, MinMax, entropy and higher percentiles did no
# better on both the released graph and a CPU-recipe graph (python -m training.int8_methods).
CALIBRATION = (CalibrationMethod.Percentile, {"CalibPercentile": 99.99})


def quantize_int8(
    fp32: Path,
    int8: Path,
    photos: Sequence[Path],
    config: PreprocessConfig,
    calibration: tuple[CalibrationMethod, dict[str, Any]] = CALIBRATION,
    float_nodes: Sequence[str] = (),
) -> None:
    """Static QDQ int8 copy of ``fp32``; ``float_nodes`` names nodes left in float."""
    method, options = calibration
    prepared = int8.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    try:
        quantize_static(
            str(prepared),
            str(int8),
            _PhotoReader(photos, config),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=QUANTIZED_OPS,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
            nodes_to_exclude=list(float_nodes),
            # Flushing intermediate outputs every few photos keeps memory flat (the calibrator
            # otherwise holds every activation of every photo: 100 MB a photo here).
            extra_options={**options, "CalibMaxIntermediateOutputs": 16},
        )
    finally:
        prepared.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
