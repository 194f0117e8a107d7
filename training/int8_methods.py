"""Which int8 calibration keeps a graph's answers those of its fp32 original? Measured.

Quantises a bundle's fp32 graph with several calibration methods (and with a few layers kept
in float) and counts, on the validation split, how often the int8 copy's top label is the fp32
graph's. The shipped method is ``training.export.CALIBRATION``; the figures of the comparison
are in docs/performance.md. Usage::

    python -m training.int8_methods model/bundles/2026.11.26.1   # writes metrics/int8_methods.json
"""

import argparse
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization import CalibrationMethod

from model.identifier import open_identifier
from model.settings import get_settings
from training.data import read_records, readable
from training.export import CALIBRATION, quantize_int8, write_json
from training.outputs import collect
from training.release import ExportParams, int8_calibration_photos

log = logging.getLogger(__name__)

# name -> (calibration, training photos a label, nodes kept in float)
VARIANTS: dict[str, tuple[tuple[CalibrationMethod, dict[str, Any]], int, tuple[str, ...]]] = {
    "percentile 99.99 (shipped)": (CALIBRATION, 2, ()),
    "percentile 99.999": ((CalibrationMethod.Percentile, {"CalibPercentile": 99.999}), 2, ()),
    "minmax": ((CalibrationMethod.MinMax, {}), 2, ()),
    "minmax, 6 photos a label": ((CalibrationMethod.MinMax, {}), 6, ()),
    "entropy": ((CalibrationMethod.Entropy, {}), 2, ()),
    "percentile 99.99, head conv in float": (CALIBRATION, 2, ("/conv_head/Conv",)),
    "percentile 99.99, stem and head convs in float": (
        CALIBRATION,
        2,
        ("/conv_stem/Conv", "/conv_head/Conv"),
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, help="a bundle folder holding model.onnx")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    records = readable(read_records(settings.splits_path), settings.bank_dir)
    val = [r for r in records if r.split == "val"]
    fp32 = open_identifier(args.bundle, check=False, threads=2)
    reference, _ = collect(fp32, val, settings.bank_dir, "val (fp32)")
    expected = reference.logits.argmax(axis=1)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / args.bundle.name
        shutil.copytree(args.bundle, copy)  # its int8 graph is replaced by each variant's
        for name, (calibration, per_label, float_nodes) in VARIANTS.items():
            photos = int8_calibration_photos(
                records, settings.bank_dir, ExportParams(int8_photos_per_label=per_label)
            )
            quantize_int8(
                copy / "model.onnx",
                copy / "model.int8.onnx",
                photos,
                fp32.bundle.preprocess,
                calibration,
                float_nodes,
            )
            quantised = open_identifier(copy, variant="int8", check=False, threads=2)
            outputs, _ = collect(quantised, val, settings.bank_dir, f"val ({name})")
            predicted = outputs.logits.argmax(axis=1)
            results[name] = {
                "agreement_with_fp32": float(np.mean(predicted == expected)),
                "top1": float(np.mean(predicted == outputs.targets)),
            }
            log.info("%s: %s", name, results[name])
    write_json(settings.metrics_dir / "int8_methods.json", {"bundle": args.bundle.name, **results})


if __name__ == "__main__":
    main()
