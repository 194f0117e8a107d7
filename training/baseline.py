"""The baseline every release must beat: a frozen ImageNet backbone with a logistic-regression
head, calibrated and measured by exactly the same code as the fine-tuned bundle.

``python -m training.baseline`` writes ``metrics/baseline.json`` (the shipped backbone, Lite0);
``--backbone efficientnet_lite2`` measures a larger network the same way, which is how a
candidate distillation teacher is judged before GPU time is spent on it
(``metrics/baseline_efficientnet_lite2.json``).
"""

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

from model.catalog import load_catalog
from model.identifier import open_identifier
from model.settings import get_settings
from training.backbones import BACKBONES, create_model
from training.calibrate import CalibrateParams, Outputs, calibrate
from training.data import read_records, readable
from training.evaluation import MEASURE_HOST, figures, score
from training.export import export_onnx, write_json
from training.outputs import collect
from training.params import load_params
from training.release import CALIBRATION_HOST

log = logging.getLogger(__name__)


def fit_logistic(features: np.ndarray, targets: np.ndarray, weight_decay: float) -> torch.nn.Linear:
    """Multinomial logistic regression with L2 penalty, fitted to convergence with L-BFGS."""
    x = torch.from_numpy(features).float()
    y = torch.from_numpy(targets).long()
    head = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    optimizer = torch.optim.LBFGS(
        head.parameters(), lr=1, max_iter=500, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (
            torch.nn.functional.cross_entropy(head(x), y)
            + weight_decay * head.weight.square().sum()
        )
        loss.backward()
        return loss

    optimizer.step(closure)
    return head


def standardize(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per dimension, with the training features' statistics: the
    usual input of a logistic regression on frozen features."""
    result: np.ndarray = (features - reference.mean(axis=0)) / (reference.std(axis=0) + 1e-6)
    return result


def logits_of(head: torch.nn.Linear, outputs: Outputs, reference: np.ndarray) -> Outputs:
    with torch.no_grad():
        features = torch.from_numpy(standardize(outputs.embeddings, reference)).float()
        logits = head(features).numpy()
    return Outputs(logits, outputs.embeddings, outputs.targets)


SHIPPED = "efficientnet_lite0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default=SHIPPED)
    backbone = parser.parse_args().backbone
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    torch.set_num_threads(2)
    records = readable(read_records(settings.splits_path), settings.bank_dir)
    labels = sorted({r.label for r in records if r.split == "train"})
    with tempfile.TemporaryDirectory() as folder:
        bundle = Path(folder)
        preprocess = BACKBONES[backbone].preprocess
        export_onnx(create_model(backbone, 1000).eval(), preprocess.size, bundle / "model.onnx")
        write_json(bundle / "labels.json", {"labels": [str(i) for i in range(1000)]})
        write_json(bundle / "preprocess.json", preprocess.to_dict())
        identifier = open_identifier(bundle, check=False, threads=2)
        sets = {
            "train": [r for r in records if r.split == "train"],
            "val": [r for r in records if r.split == "val"],
            "test": [r for r in records if r.split == "test"],
            "blueberry": [
                r for r in records if r.split == "unknown" and r.host == CALIBRATION_HOST
            ],
            "raspberry": [r for r in records if r.split == "unknown" and r.host == MEASURE_HOST],
        }
        features = {
            name: collect(identifier, rows, settings.bank_dir, name, labels)
            for name, rows in sets.items()
        }
    train, val = features["train"][0], features["val"][0]
    inputs = standardize(train.embeddings, train.embeddings)
    best = max(
        (1e-5, 1e-4, 1e-3, 1e-2),
        key=lambda wd: float(
            (
                logits_of(
                    fit_logistic(inputs, train.targets, wd), val, train.embeddings
                ).logits.argmax(1)
                == val.targets
            ).mean()
        ),
    )
    head = fit_logistic(inputs, train.targets, best)
    outputs = {name: logits_of(head, out, train.embeddings) for name, (out, _) in features.items()}
    policy, report = calibrate(
        outputs["train"],
        outputs["val"],
        outputs["blueberry"],
        load_params("calibrate", CalibrateParams),
    )
    catalog = load_catalog(settings.catalog_dir)
    groups = catalog.groups_by_label()
    metrics = figures(
        score(policy, labels, groups, outputs["test"]),
        features["test"][1],
        score(policy, labels, groups, outputs["raspberry"]),
        labels,
    )
    metrics["backbone"] = backbone
    metrics["weight_decay"] = best
    metrics["calibration"] = report
    name = "baseline" if backbone == SHIPPED else f"baseline_{backbone}"
    path = settings.metrics_dir / f"{name}.json"
    path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    log.info(
        "baseline %s: top-1 %.3f, macro-F1 %.3f, coverage %.3f -> %s",
        backbone,
        metrics["top1"],
        metrics["macro_f1"],
        metrics["coverage"],
        path,
    )


if __name__ == "__main__":
    main()
