"""What placing lab leaves on field backgrounds buys: the field-gap ablations.

Four networks trained alike but for two switches (``composite_probability`` 0.5 or 0, and
``exclude_field_hosts`` [] or [apple]) are compared on photos that matter for the field:
the bank's field test photos of crops, apple field test photos (which the field-free runs
never saw), and lab test photos laid on held-out field backgrounds (``weed.none`` *test*
photos, never used as training backgrounds). Usage::

    python -m training.ablations RUN.pt [RUN.pt ...]   # writes metrics/ablations.json
"""

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from model.imaging import load_image
from model.preprocess import PreprocessConfig, preprocess
from model.settings import get_settings
from training.backbones import load_trained
from training.composite import composite, leaf_mask
from training.data import BACKGROUND_LABEL, Record, read_records, readable

log = logging.getLogger(__name__)

CROPS = ("apple", "strawberry", "potato", "corn", "bean")


def composited_lab_photos(
    records: Sequence[Record], bank_dir: Path, seed: int = 0
) -> list[tuple[Image.Image, str]]:
    """Lab test photos on held-out field backgrounds, the same for every network compared."""
    backgrounds = [
        np.asarray(load_image(bank_dir / r.file))
        for r in records
        if r.split == "test" and r.label == BACKGROUND_LABEL
    ]
    photos = []
    for index, record in enumerate(r for r in records if r.split == "test" and r.setting == "lab"):
        pixels = np.asarray(load_image(bank_dir / record.file))
        mask = leaf_mask(pixels)
        if mask is None:
            continue
        rng = np.random.default_rng([seed, index])
        background = backgrounds[int(rng.integers(len(backgrounds)))]
        photos.append((Image.fromarray(composite(pixels, mask, background, rng)), record.label))
    return photos


def accuracy(
    network: torch.nn.Module,
    labels: Sequence[str],
    config: PreprocessConfig,
    photos: Sequence[tuple[Image.Image, str]],
) -> float:
    index = {label: i for i, label in enumerate(labels)}
    correct = 0
    with torch.no_grad():
        for start in range(0, len(photos), 64):
            chunk = photos[start : start + 64]
            batch = torch.from_numpy(np.stack([preprocess(image, config) for image, _ in chunk]))
            predictions = network(batch).argmax(1).tolist()
            correct += sum(
                p == index[label] for p, (_, label) in zip(predictions, chunk, strict=True)
            )
    return correct / max(1, len(photos))


def evaluate_runs(weights: Sequence[Path]) -> dict[str, Any]:
    settings = get_settings()
    records = readable(read_records(settings.splits_path), settings.bank_dir)
    test = [r for r in records if r.split == "test"]

    def load(selected: Sequence[Record]) -> list[tuple[Image.Image, str]]:
        return [(load_image(settings.bank_dir / r.file), r.label) for r in selected]

    sets = {
        "field_crop_photos": load(
            [r for r in test if r.setting == "field" and r.label.split(".")[0] in CROPS]
        ),
        "apple_field_photos": load(
            [r for r in test if r.setting == "field" and r.label.startswith("apple.")]
        ),
        "lab_photos_on_field_backgrounds": composited_lab_photos(records, settings.bank_dir),
        "lab_photos": load([r for r in test if r.setting == "lab"]),
    }
    results: dict[str, Any] = {"photos": {name: len(p) for name, p in sets.items()}, "runs": {}}
    for path in weights:
        network, state = load_trained(path)
        config = PreprocessConfig.from_dict(state["preprocess"])
        params = state["params"]
        results["runs"][path.stem] = {
            "epochs": params["epochs"],
            "composite_probability": params["composite_probability"],
            "exclude_field_hosts": params["exclude_field_hosts"],
            **{
                name: accuracy(network, state["labels"], config, photos)
                for name, photos in sets.items()
            },
        }
        log.info("%s: %s", path.stem, results["runs"][path.stem])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="field-gap ablations")
    parser.add_argument("weights", type=Path, nargs="+")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(2)
    results = evaluate_runs(args.weights)
    path = get_settings().metrics_dir / "ablations.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
