"""Decoding photos robustly: the one way every component turns bytes into an RGB image.

Field photos arrive in every shape: rotated by EXIF, greyscale, CMYK, palette with transparency,
16-bit scans, truncated uploads, text files named ``.jpg`` and 100-megapixel panoramas. Each
either becomes a plain RGB image or raises :class:`ImageError` with a message a user can act on.
"""

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# A 108-megapixel phone photo is legitimate; beyond this, refuse before decoding anything.
DEFAULT_MAX_PIXELS = 120_000_000
# Transparent pixels become this neutral grey rather than black, which would read as "dark".
ALPHA_BACKGROUND = (127, 127, 127)


class ImageError(ValueError):
    """A photo that cannot be used; the message says why, in words fit for the user."""


def decode_image(
    data: bytes,
    *,
    min_side: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode ``data`` into an upright 8-bit RGB image.

    ``min_side`` lets JPEG decoding skip detail that preprocessing would throw away (the
    decoder's DCT scaling keeps the shorter side at least this large): a 12-megapixel photo
    then decodes about 8 times faster.
    """
    if not data:
        raise ImageError("the file is empty")
    try:
        with warnings.catch_warnings():
            # The size check below replaces Pillow's own, global, decompression-bomb limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError("not an image file, or a format that is not supported") from None
    except Image.DecompressionBombError:
        raise ImageError(f"image too large: more than {max_pixels:,} pixels") from None
    except (OSError, SyntaxError) as exc:  # a file cut inside its header
        raise ImageError(f"the image is truncated or corrupt ({exc})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"image too large: {width}x{height} pixels is more than {max_pixels:,}; "
            "send a smaller photo"
        )
    if min_side and image.format == "JPEG":
        scale = min(width, height) / min_side
        if scale >= 2:
            image.draft("RGB", (max(1, int(width / scale)), max(1, int(height / scale))))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"the image is truncated or corrupt ({exc})") from None
    upright = to_rgb(ImageOps.exif_transpose(image) or image)
    # the size as taken, before reduced decoding: "too small to judge" is about the photo
    upright.info["original_min_side"] = min(width, height)
    return upright


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, compositing transparency over grey."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*ALPHA_BACKGROUND, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def load_image(path: Path, **kwargs: int) -> Image.Image:
    """Read and decode a file; a missing file is an :class:`ImageError` too."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageError(f"file not found: {path}") from None
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror}") from None
    return decode_image(data, **kwargs)
