"""Training speed of a recipe on this machine: photos per second through the real data path
(decoding, compositing, augmentation) and the real optimisation step, and the time a full run
of that recipe takes at that pace.

    python bench/training_speed.py [--profile cpu] [--steps 30] [--backbones A B ...]
    # writes bench/results/training_<profile>.json; several backbones are measured one after
    # the other in the same run, with their pace as a ratio to the first; --teacher T adds the
    # first backbone distilled from the teacher weights T (its forward pass is the extra cost)
    python bench/training_speed.py --run RUN/model.pt [--metrics METRICS/test.json]
    # a finished run's own measures instead (epoch times, photos per second, wall time),
    # with its test figures: writes bench/results/training_<profile>_run.json
"""

import argparse
import logging
import sys
import tempfile
import time
from itertools import zip_longest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import save
from model.manifest import read_manifest, write_manifest
from model.settings import get_settings
from training.params import TrainParams, load_params
from training.prepare import SPLIT_COLUMNS
from training.train import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=30, help="optimisation steps timed")
    parser.add_argument("--run", type=Path, help="a finished run's final weights (model.pt)")
    parser.add_argument("--metrics", type=Path, help="with --run: its evaluation (test.json)")
    parser.add_argument("--backbones", nargs="+", help="default: the profile's backbone")
    parser.add_argument("--teacher", type=Path, help="also time distillation from these weights")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.run:
        _summarise_run(args.run, args.metrics)
        return
    settings = get_settings()
    full = load_params("train", TrainParams).with_profile(args.profile)
    train_photos = sum(1 for line in settings.splits_path.open() if ",train," in line)
    backbones = args.backbones or [full.backbone]
    recipes = [{"backbone": backbone} for backbone in backbones]
    if args.teacher:
        recipes.append({"backbone": backbones[0], "teacher": str(args.teacher)})
    results: list[dict[str, object]] = []
    paces: list[float] = []
    for recipe in recipes:
        per_second, elapsed = _probe(full.with_overrides(recipe), args.steps)
        paces.append(per_second)
        epoch_minutes = train_photos / per_second / 60
        results.append(
            {
                **recipe,
                "photos_per_second": round(per_second, 2),
                "ratio_to_first": round(per_second / paces[0], 3),
                "probe_seconds": round(elapsed, 1),
                "epoch_minutes_projected": round(epoch_minutes, 1),
                "run_minutes_projected": round(epoch_minutes * full.epochs, 1),
            }
        )
    save(
        f"training_{args.profile}",
        {
            "profile": args.profile,
            "image_size": full.image_size,
            "train_from_stage": full.train_from_stage,
            "batch_size": full.batch_size,
            "threads": full.threads,
            "epochs": full.epochs,
            "backbones": results,
        },
    )


def _probe(full: TrainParams, steps: int) -> tuple[float, float]:
    """Photos per second over one short epoch of ``steps`` batches, same recipe otherwise,
    and the seconds the probe took with start-up."""
    settings = get_settings()
    probe = full.with_overrides(
        {"epochs": 1, "limit_per_label": None, "val_every": 0, "warmup_epochs": 0.0}
    )
    with tempfile.TemporaryDirectory() as folder:
        splits = _subset(settings.splits_path, Path(folder), probe.batch_size * (steps + 1))
        start = time.perf_counter()
        final = fit(probe, splits, settings.bank_dir, Path(folder) / "run")
        elapsed = time.perf_counter() - start
        import torch

        history = torch.load(final, weights_only=False)["history"]
    return float(history[0]["images_per_second"]), elapsed


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
    """``count`` training photos taken in turn from every label (so that a teacher trained on
    the whole split fits the probe's labels); validation photos are left out: the probe
    measures training only."""
    by_label: dict[str, list[dict[str, str]]] = {}
    for row in read_manifest(splits):
        if row["split"] == "train":
            by_label.setdefault(row["label"], []).append(row)
    rows = [row for batch in zip_longest(*by_label.values()) for row in batch if row]
    path = folder / "splits.csv"
    write_manifest(path, rows[:count], SPLIT_COLUMNS)
    return path


if __name__ == "__main__":
    main()
