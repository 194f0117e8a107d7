"""Issue 14's trials: which change to the recipe makes the field proxy hold up on field photos.

Every trial is a short run warm-started from the field proxy network (``params.yaml``
``trials.base``: its weights, held-back photos and input size) with one change
(``trials.runs``); ``control`` changes nothing but trains as long, so that each trial is read
against the same baseline trained the same time. A trial is scored without a bundle, straight
from its weights:

- ``choice``: top-1 on the held-back apple orchard photos of the *train* split, the only
  held-back photos a choice may look at (``training.holdout``);
- ``reported``: top-1 on those of the val and test splits, and the AUROC of the top
  probability for telling right answers from wrong ones there (how much a policy could lean on
  it);
- ``test``: top-1 on the bank's test split less the held-back photos.

Usage::

    python -m training.trials train NAME      # var/runs/trials/NAME/model.pt (resumable)
    python -m training.trials score NAME ...  # metrics/trials.json, one entry per trial
    python -m training.trials score baseline  # the proxy network itself, as released
"""

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader
from tqdm import tqdm

from model.log import setup_logging
from model.paths import REPO_ROOT
from model.preprocess import PreprocessConfig
from model.settings import get_settings
from training.backbones import load_trained
from training.calibrate import auroc
from training.data import EvalDataset, Record, read_records, readable
from training.holdout import CHOICE_SPLITS, IN_SCOPE, REPORTED_SPLITS, read_holdout
from training.params import PARAMS_PATH, TrainParams, load_params
from training.train import fit

log = logging.getLogger(__name__)

RUNS_DIR = REPO_ROOT / "var" / "runs" / "trials"
# The name under which the warm start itself (the field proxy network, untouched) is scored.
BASELINE = "baseline"


def trial_params(name: str, path: Path = PARAMS_PATH) -> TrainParams:
    """The training parameters of trial ``name``: the proxy profile, the trials' base, then the
    trial's own change. An unknown name is refused with the known ones."""
    trials = yaml.safe_load(path.read_text(encoding="utf-8"))["trials"]
    if name not in trials["runs"]:
        raise ValueError(f"unknown trial {name!r}; known: {sorted(trials['runs'])}")
    base = load_params("train", TrainParams, path).with_profile(trials["profile"])
    return base.with_overrides({**trials["base"], **(trials["runs"][name] or {})})


@torch.no_grad()
def _outputs(
    network: torch.nn.Module,
    records: Sequence[Record],
    labels: list[str],
    config: PreprocessConfig,
    bank_dir: Path,
    desc: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities and target indices of ``records``."""
    index = {label: i for i, label in enumerate(labels)}
    loader = DataLoader(EvalDataset(records, bank_dir, index, config), batch_size=64, num_workers=2)
    probabilities, targets = [], []
    for images, target in tqdm(loader, desc=desc, unit="batch", leave=False):
        probabilities.append(torch.softmax(network(images), 1).numpy())
        targets.append(target.numpy())
    return np.concatenate(probabilities), np.concatenate(targets)


def score(weights: Path) -> dict[str, Any]:
    """A trial's figures (see the module's docstring) and its training time."""
    settings = get_settings()
    network, state = load_trained(weights)
    config = PreprocessConfig.from_dict(state["preprocess"])
    records = readable(read_records(settings.splits_path), settings.bank_dir)
    params = TrainParams.model_validate(state["params"])
    rows = read_holdout(REPO_ROOT / str(params.holdout))
    split_of = {row["photo_id"]: row["split"] for row in rows if row["role"] == IN_SCOPE}
    held_out = {row["photo_id"] for row in rows}

    def field(splits: Sequence[str]) -> list[Record]:
        return [r for r in records if split_of.get(r.photo_id) in splits]

    test = [r for r in records if r.split == "test" and r.photo_id not in held_out]
    figures: dict[str, Any] = {
        "seconds": round(sum(epoch["seconds"] for epoch in state["history"]), 1),
        "epochs": len(state["history"]),
    }
    for name, chosen in (
        ("choice", field(CHOICE_SPLITS)),
        ("reported", field(REPORTED_SPLITS)),
        ("test", test),
    ):
        probabilities, targets = _outputs(
            network, chosen, state["labels"], config, settings.bank_dir, name
        )
        right = probabilities.argmax(1) == targets
        figures[name] = {"photos": len(targets), "top1": round(float(right.mean()), 4)}
        if name != "test":
            top = probabilities.max(1)  # how well the top probability sorts right above wrong
            figures[name]["top_probability_auroc"] = round(auroc(top[~right], top[right]), 4)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description="issue 14's field trials")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train one trial (resumes an interrupted one)")
    train.add_argument("name")
    scoring = commands.add_parser("score", help="score trials into metrics/trials.json")
    scoring.add_argument("names", nargs="+")
    args = parser.parse_args()
    setup_logging()
    torch.set_num_threads(2)
    settings = get_settings()
    if args.command == "train":
        params = trial_params(args.name)
        started = time.perf_counter()
        fit(params, settings.splits_path, settings.bank_dir, RUNS_DIR / args.name)
        log.info("trial %s trained in %.0f s", args.name, time.perf_counter() - started)
        return
    path = settings.metrics_dir / "trials.json"
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for name in args.names:
        weights = (
            Path(str(trial_params("control").warm_start)) / "weights.pt"
            if name == BASELINE
            else RUNS_DIR / name / "model.pt"
        )
        change = {} if name == BASELINE else trial_params_change(name)
        results[name] = {"change": change, **score(REPO_ROOT / weights)}
        log.info("trial %s: %s", name, results[name])
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def trial_params_change(name: str, path: Path = PARAMS_PATH) -> dict[str, Any]:
    """What trial ``name`` changes against the control, as written in params.yaml."""
    trials = yaml.safe_load(path.read_text(encoding="utf-8"))["trials"]
    return dict(trials["runs"].get(name) or {})


if __name__ == "__main__":
    main()
