"""The evaluation-time preprocessing, shared by training's evaluation path and inference.

Training imports this very function for validation and test photos, so the numbers in the
model card are measured on exactly the tensors the API and the phone compute.
"""

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

_RESAMPLING = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
}


@dataclass(frozen=True)
class PreprocessConfig:
    """How a photo becomes the network's input; stored as ``preprocess.json`` in a bundle.

    The shorter side is resized to ``size`` and the centre ``size`` x ``size`` square kept
    (no extra margin cropped: lesions and insects often sit near the edge of field photos).
    """

    size: int = 224
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PreprocessConfig":
        return cls(
            size=int(data["size"]),
            interpolation=str(data["interpolation"]),
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
        )


def resize_and_crop(image: Image.Image, config: PreprocessConfig) -> Image.Image:
    """Shorter side to ``config.size``, then the centre square."""
    width, height = image.size
    scale = config.size / min(width, height)
    new_size = (max(config.size, round(width * scale)), max(config.size, round(height * scale)))
    if new_size != image.size:
        image = image.resize(new_size, _RESAMPLING[config.interpolation])
    left = (new_size[0] - config.size) // 2
    top = (new_size[1] - config.size) // 2
    return image.crop((left, top, left + config.size, top + config.size))


def normalize(pixels: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """HWC uint8 pixels to the CHW float32 tensor the network expects."""
    mean = np.asarray(config.mean, dtype=np.float32) * 255.0
    std = np.asarray(config.std, dtype=np.float32) * 255.0
    return ((pixels.astype(np.float32) - mean) / std).transpose(2, 0, 1).copy()


def preprocess(image: Image.Image, config: PreprocessConfig) -> np.ndarray:
    """An RGB photo to a ``(3, size, size)`` float32 array."""
    return normalize(np.asarray(resize_and_crop(image, config)), config)
