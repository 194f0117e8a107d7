"""Training speed of a recipe on this machine: photos per second through the real data path
(decoding, compositing, augmentation) and the real optimisation step, and the time a full run
of that recipe takes at that pace.

    python bench/training_speed.py [--profile cpu] [--steps 30]
    # writes bench/results/training_<profile>.json
    python bench/training_speed.py --run RUN/model.pt [--metrics METRICS/test.json]
    # a finished run's own measures instead (epoch times, photos per second, wall time),
    # with its test figures: writes bench/results/training_<profile>_run.json
"""

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import save
from model.settings import get_settings
from training.params import TrainParams, load_params
from training.train import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=30, help="optimisation steps timed")
    parser.add_argument("--run", type=Path, help="a finished run's final weights (model.pt)")
    parser.add_argument("--metrics", type=Path, help="with --run: its evaluation (test.json)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.run:
        _summarise_run(args.run, args.metrics)
        return
    settings = get_settings()
    full = load_params("train", TrainParams).with_profile(args.profile)
    # One short epoch of `steps` batches, same recipe otherwise.
    probe = full.with_overrides(
        {"epochs": 1, "limit_per_label": None, "val_every": 0, "warmup_epochs": 0.0}
    )
    with tempfile.TemporaryDirectory() as folder:
        splits = _subset(settings.splits_path, Path(folder), probe.batch_size * (args.steps + 1))
        start = time.perf_counter()
        final = fit(probe, splits, settings.bank_dir, Path(folder) / "run")
        elapsed = time.perf_counter() - start
        import torch

        history = torch.load(final, weights_only=False)["history"]
    per_second = history[0]["images_per_second"]
    train_photos = sum(1 for line in settings.splits_path.open() if ",train," in line)
    epoch_minutes = train_photos / per_second / 60
    save(
        f"training_{args.profile}",
        {
            "profile": args.profile,
            "image_size": full.image_size,
            "train_from_stage": full.train_from_stage,
            "batch_size": full.batch_size,
            "threads": full.threads,
            "photos_per_second": round(per_second, 2),
            "probe_seconds": round(elapsed, 1),
            "epoch_minutes_projected": round(epoch_minutes, 1),
            "run_minutes_projected": round(epoch_minutes * full.epochs, 1),
            "epochs": full.epochs,
        },
    )


def _summarise_run(weights: Path, metrics: Path | None) -> None:
    """What a whole run measured about itself, epoch by epoch (``training.train.fit`` keeps
    each epoch's seconds and photos per second in the weights' history)."""
    import json

    import torch

    state = torch.load(weights, map_location="cpu", weights_only=False)
    history, params = state["history"], state["params"]
    figures: dict[str, object] = {
        "profile": params["profile"],
        "image_size": params["image_size"],
        "train_from_stage": params["train_from_stage"],
        "epochs": len(history),
        "hardware": state.get("hardware"),
        "epoch_seconds": [round(epoch["seconds"], 1) for epoch in history],
        "photos_per_second_median": round(
            sorted(e["images_per_second"] for e in history)[len(history) // 2], 2
        ),
        "training_minutes": round(sum(epoch["seconds"] for epoch in history) / 60, 1),
        "val_accuracy": {
            e["epoch"]: round(e["val_accuracy"], 4) for e in history if "val_accuracy" in e
        },
    }
    if metrics:
        test = json.loads(metrics.read_text(encoding="utf-8"))
        keys = ("top1", "top3", "macro_f1", "ece", "accepted_precision", "coverage")
        figures["test"] = {key: test[key] for key in (*keys, "coverage_at_98", "unknown_accepted")}
        figures["test_int8"] = {
            key: test["int8"][key]
            for key in (*keys, "unknown_accepted", "top1_agreement_with_fp32")
        }
    save(f"training_{params['profile']}_run", figures)


def _subset(splits: Path, folder: Path, count: int) -> Path:
    """The first ``count`` training photos of the split file (every label's validation photos
    are left out: the probe measures training only)."""
    lines = splits.read_text(encoding="utf-8").splitlines()
    kept = [lines[0], *[line for line in lines[1:] if ",train," in line][::7][:count]]
    path = folder / "splits.csv"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    main()
