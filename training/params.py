"""The pipeline's parameters, read from ``params.yaml`` into typed models (configuration as data).

Each DVC stage reads its own section; a missing key falls back to the default here, an unknown
key is an error (a typo in params.yaml must not be silently ignored).
"""

from pathlib import Path
from typing import TypeVar

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
