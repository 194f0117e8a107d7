"""Photo quality measures: is a photo too dark, too blurry or too small to judge?

Measured on the decoded photo before preprocessing, on a fixed-size grey copy so that the
measures do not depend on the camera's resolution. The thresholds live in the bundle's
calibration (``quality`` section), chosen from degraded copies of validation photos.
"""

import numpy as np
from PIL import Image, ImageFilter

_SIDE = 256


def measure(image: Image.Image) -> dict[str, float]:
    """``brightness`` (mean luminance, 0-255), ``sharpness`` (variance of the Laplacian on a
    256-pixel grey copy) and ``min_side`` (pixels of the shorter side as received)."""
    grey = image.convert("L")
    scale = _SIDE / min(grey.size)
    if scale < 1:
        grey = grey.resize(
            (max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
            Image.Resampling.BILINEAR,
        )
    pixels = np.asarray(grey, dtype=np.float32)
    laplacian = np.asarray(
        grey.filter(ImageFilter.Kernel((3, 3), (0, 1, 0, 1, -4, 1, 0, 1, 0), scale=1, offset=128)),
        dtype=np.float32,
    )
    return {
        "brightness": float(pixels.mean()),
        "sharpness": float(laplacian.var()),
        "min_side": float(image.info.get("original_min_side", min(image.size))),
    }
