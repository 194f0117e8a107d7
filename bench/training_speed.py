"""Training speed of a recipe on this machine: photos per second through the real data path
(decoding, compositing, augmentation) and the real optimisation step, and the time a full run
of that recipe takes at that pace.

    python bench/training_speed.py [--profile cpu] [--steps 30]
    # writes bench/results/training_<profile>.json
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
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
