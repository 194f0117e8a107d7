"""The pipeline's parameters, read from ``params.yaml`` into typed models (configuration as data).

Each DVC stage reads its own section; a missing key falls back to the default here, an unknown
key is an error (a typo in params.yaml must not be silently ignored).
"""

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict

from model.paths import REPO_ROOT

PARAMS_PATH = REPO_ROOT / "params.yaml"

P = TypeVar("P", bound=BaseModel)


class PrepareParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ratios: dict[str, float] = {"train": 0.70, "val": 0.15, "test": 0.15}
    near_duplicate_max_distance: int = 56
    min_side: int = 32
    small_label: int = 30


def load_params(section: str, model: type[P], path: Path = PARAMS_PATH) -> P:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    return model.model_validate((data or {}).get(section, {}))


class TrainParams(BaseModel):
    """The fine-tuning recipe. ``profiles`` hold named overrides (``iriis train --profile``)."""

    model_config = ConfigDict(extra="forbid")

    backbone: str = "efficientnet_lite0"
    image_size: int = 224
    epochs: int = 12
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.02
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    # Layers before this stage stay frozen (ImageNet weights); null trains every layer.
    train_from_stage: int | None = 4
    # Labels are drawn in proportion to n ** (1 - power): 0.5 halves the imbalance on a log scale.
    class_balance_power: float = 0.5
    composite_probability: float = 0.5
    # The field photos lab leaves are laid on: "ground" (weed.none: soil and stubble) or
    # "vegetation" (every weed label's field photos: leaves and stems of other plants).
    composite_backgrounds: Literal["ground", "vegetation"] = "ground"
    # Smallest factor a composited leaf is shrunk by (1: kept at its lab size).
    composite_scale_min: float = 1.0
    # Share of lab photos replaced by a close-up taken inside the leaf (no background left).
    inside_leaf_probability: float = 0.0
    # "field" adds outdoor light, glare, perspective and defocus (training.augment).
    photometric: Literal["standard", "field"] = "standard"
    # Weight of the domain-adversarial loss (a lab-or-field head behind a gradient reversal,
    # Ganin et al. 2016): features that cannot tell a lab photo from a field one. 0: off.
    domain_weight: float = 0.0
    # Smallest share of a photo kept by a random crop.
    crop_scale_min: float = 0.35
    # Hosts whose field photos are left out of training (the field-free ablation: [apple]).
    exclude_field_hosts: list[str] = []
    # A list of photos held back from training and from everything the run's bundle is tuned
    # on (``training.holdout``; the field proxy's is data/field_proxy/holdout.csv), relative
    # to the repository; a label left without training photos is not learnt.
    holdout: str | None = None
    # How many times more often a photo of a specialist's confirmed case (a bank version's
    # ``cases/`` folder, ``training.bank_version``) is drawn than a bank photo of its label:
    # a few dozen field cases must count against hundreds of lab photos.
    case_weight: float = 1.0
    # Refit only the classifier on the warm start's features (``training.head_refit``): the
    # minutes-long fast path of ``iriis retrain``, instead of fine-tuning the network.
    head_only: bool = False
    seed: int = 0
    threads: int = 2
    workers: int = 2
    # Validate every this many epochs and after the last; 0: after the last only; null: never
    # (issue 14's trials are scored by training/trials.py instead).
    val_every: int | None = 4
    # For tests and smoke runs: at most this many training photos per label.
    limit_per_label: int | None = None
    # Knowledge distillation: the final weights of a larger network trained on the same labels
    # (``iriis train --profile teacher``); the student also learns the teacher's probabilities,
    # softened by ``distill_temperature``, with weight ``distill_weight`` (0: labels only).
    teacher: str | None = None
    distill_weight: float = 0.5
    distill_temperature: float = 2.0
    # Start from trained weights instead of ImageNet's (``training.warm_start``): a final weights
    # file, or a bundle folder (its weights.pt, else recovered from its model.onnx); the same
    # labels as this run's. Every batch norm then stays frozen in eval mode (a released graph's
    # are folded into its convolutions).
    warm_start: str | None = None
    profile: str | None = None
    profiles: dict[str, dict[str, object]] = {}

    def with_profile(self, name: str | None) -> "TrainParams":
        """These parameters with the named profile's overrides applied."""
        name = name or self.profile
        if not name:
            return self
        if name not in self.profiles:
            raise ValueError(f"unknown training profile {name!r}; known: {sorted(self.profiles)}")
        return self.model_copy(update={**self.profiles[name], "profile": name})

    def with_overrides(self, overrides: dict[str, object]) -> "TrainParams":
        return type(self).model_validate({**self.model_dump(), **overrides})
