"""Datasets over the split file, with augmentation and sampling that are pure functions of
(seed, epoch, index): a run resumed from a checkpoint sees exactly the photos, in the same
order and with the same augmentations, as one that was never interrupted."""

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from model.gallery.base import photo_id
from model.imaging import ImageError, load_image
from model.manifest import read_manifest
from model.preprocess import PreprocessConfig, normalize, preprocess
from training.augment import Photometric, field_augmentation
from training.composite import composite, inside_crop, leaf_mask

log = logging.getLogger(__name__)

BACKGROUND_LABEL = "weed.none"
# A bank version's folder of the specialists' confirmed cases (training.bank_version).
CASES = "cases"


@dataclass(frozen=True)
class Record:
    file: str
    label: str
    category: str
    host: str
    setting: str
    split: str
    sha256: str = ""

    @property
    def is_case(self) -> bool:
        """A specialist's confirmed case in a bank version (its photos under ``cases/``)."""
        return self.file.startswith(f"{CASES}/")

    @property
    def photo_id(self) -> str:
        """The photo's identity across bank versions (``model.gallery``'s photo id)."""
        return photo_id(self.sha256)


def read_records(splits_path: Path) -> list[Record]:
    return [
        Record(
            r["file"],
            r["label"],
            r["category"],
            r["host"],
            r["setting"],
            r["split"],
            r.get("sha256") or "",
        )
        for r in read_manifest(splits_path, required=("file", "label", "setting", "split"))
    ]


def readable(records: Sequence[Record], bank_dir: Path) -> list[Record]:
    """Drop photos that cannot be read now (the bank may have changed since preparation),
    naming each one, so that training goes on with the rest."""
    kept = []
    for record in records:
        if (bank_dir / record.file).is_file():
            kept.append(record)
        else:
            log.warning("skipping %s: file not found in %s", record.file, bank_dir)
    return kept


def _load(bank_dir: Path, record: Record) -> np.ndarray | None:
    try:
        return np.asarray(load_image(bank_dir / record.file))
    except ImageError as exc:
        log.warning("skipping %s: %s", record.file, exc)
        return None


@dataclass(frozen=True)
class LabPhotoChanges:
    """What may happen to a lab photo before augmentation: laid on a field background
    (``probability``, shrunk down to ``scale_min``), or replaced by a close-up inside the leaf
    (``inside_probability``)."""

    probability: float = 0.5
    scale_min: float = 1.0
    inside_probability: float = 0.0


class TrainDataset(Dataset[tuple[torch.Tensor, int, float]]):
    """Augmented training photos with their label and domain (1.0 for a field photo); lab
    photos are sometimes laid on field backgrounds or cropped inside the leaf."""

    def __init__(
        self,
        records: Sequence[Record],
        bank_dir: Path,
        label_index: dict[str, int],
        preprocess_config: PreprocessConfig,
        seed: int,
        changes: LabPhotoChanges,
        backgrounds: Sequence[Record] = (),
        crop_scale_min: float = 0.35,
        photometric: Photometric = "standard",
    ) -> None:
        self.records = list(records)
        self.bank_dir = bank_dir
        self.label_index = label_index
        self.config = preprocess_config
        self.seed = seed
        self.changes = changes
        self.backgrounds = list(backgrounds)
        self.augment = field_augmentation(preprocess_config.size, crop_scale_min, photometric)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, float]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        record = self.records[index]
        pixels = _load(self.bank_dir, record)
        if pixels is None:  # unreadable since preparation: a plain grey image, still labelled
            pixels = np.full((self.config.size, self.config.size, 3), 127, np.uint8)
        elif record.setting == "lab":
            pixels = self._change_lab_photo(pixels, rng)
        self.augment.set_random_seed(int(rng.integers(2**31)))
        augmented = self.augment(image=pixels)["image"]
        domain = 1.0 if record.setting == "field" else 0.0
        return (
            torch.from_numpy(normalize(augmented, self.config)),
            self.label_index[record.label],
            domain,
        )

    def _change_lab_photo(self, pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        draw = rng.random()
        inside = draw < self.changes.inside_probability
        laid = not inside and draw < self.changes.inside_probability + self.changes.probability
        if not (inside or (laid and self.backgrounds)):
            return pixels
        mask = leaf_mask(pixels)
        if mask is None:
            return pixels
        if inside:
            close_up = inside_crop(pixels, mask, rng)
            return pixels if close_up is None else close_up
        background = _load(self.bank_dir, self.backgrounds[rng.integers(len(self.backgrounds))])
        if background is None:
            return pixels
        return composite(pixels, mask, background, rng, self.changes.scale_min)


class EvalDataset(Dataset[tuple[torch.Tensor, int]]):
    """Photos preprocessed exactly as at inference (``model.preprocess``)."""

    def __init__(
        self,
        records: Sequence[Record],
        bank_dir: Path,
        label_index: dict[str, int],
        preprocess_config: PreprocessConfig,
    ) -> None:
        self.records = list(records)
        self.bank_dir = bank_dir
        self.label_index = label_index
        self.config = preprocess_config

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        record = self.records[index]
        image = load_image(self.bank_dir / record.file)
        return torch.from_numpy(preprocess(image, self.config)), self.label_index.get(
            record.label, -1
        )


def balanced_weights(
    records: Sequence[Record], power: float, case_weight: float = 1.0
) -> torch.Tensor:
    """Sampling weight per photo so that a label of n photos is drawn in proportion to
    n ** (1 - power): power 0 keeps the bank's imbalance, 1 draws every label equally. A
    confirmed case's photo (:attr:`Record.is_case`) weighs ``case_weight`` times a bank photo."""
    counts = Counter(record.label for record in records)
    return torch.tensor(
        [counts[r.label] ** -power * (case_weight if r.is_case else 1.0) for r in records],
        dtype=torch.double,
    )


class EpochSampler(torch.utils.data.Sampler[int]):
    """Class-balanced sampling with replacement, seeded by (seed, epoch)."""

    def __init__(self, weights: torch.Tensor, seed: int) -> None:
        self.weights = weights
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.weights)

    def __iter__(self):  # type: ignore[no-untyped-def]
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        yield from torch.multinomial(
            self.weights, len(self.weights), replacement=True, generator=generator
        ).tolist()
