"""Decoding photos robustly: the one way every component turns bytes into an RGB image.

Field photos arrive in every shape: rotated by EXIF, greyscale, CMYK, palette with transparency,
16-bit scans, truncated uploads, text files named ``.jpg`` and 100-megapixel panoramas. Each
either becomes a plain RGB image or raises :class:`ImageError` with a message a user can act on.

Memory is bounded before anything is decoded: the header gives the size, the mode and the
format, from which the memory decoding would take is worked out and refused above
:data:`MAX_DECODE_BYTES`. Callers say how much detail they need (``min_side`` for the model,
``max_side`` for storage): JPEG decodes straight at a reduced scale (libjpeg's DCT scaling),
other formats are reduced right after decoding, before any conversion or copy.
"""

import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile

from model.i18n import Words

# A 108-megapixel phone photo is legitimate; beyond this, refuse before decoding anything.
DEFAULT_MAX_PIXELS = 120_000_000
# What decoding one photo may take at its peak: a 12,000 x 9,000 JPEG (decoded at half scale),
# a 10,900 x 10,900 greyscale PNG or a 40-megapixel colour PNG fit; a photo needing more is
# refused from its header, so that no upload costs the server more than this.
MAX_DECODE_BYTES = 256_000_000
# What phones, cameras and scanners write (JPEG includes the multi-picture MPO of some phones).
# Pillow reads some 40 formats: each one more parser a hostile file could reach, for no photo a
# user takes.
FORMATS = ("JPEG", "PNG", "WEBP", "AVIF", "TIFF", "BMP", "GIF")
# Decoders that hold more than the image while they decode, in image sizes (measured): libwebp
# and libavif their own frame buffers, libtiff a whole strip.
_DECODER_COPIES = {"WEBP": 4, "AVIF": 3, "TIFF": 2}
_ROW_POINTER = 8  # bytes Pillow keeps per row of an image, besides its pixels
_JPEG_SCALES = (1, 2, 4, 8)  # what libjpeg's DCT scaling can decode at: 1/1 to 1/8
# Transparent pixels become this neutral grey rather than black, which would read as "dark".
ALPHA_BACKGROUND = (127, 127, 127)


class ImageError(ValueError):
    """A photo that cannot be used; the message says why, in words fit for the user, in each
    language (``words``: the API and the app show it in the reader's); ``str()`` is English,
    for logs and the command line."""

    def __init__(self, message: Words) -> None:
        super().__init__(message["en"])
        self.words = message

    def __reduce__(self) -> tuple[type["ImageError"], tuple[Words]]:
        """Unpickled from its words (an error that leaves a process pool's worker), not from
        the English ``args``, which its constructor does not take."""
        return ImageError, (self.words,)


def _count(number: int) -> Words:
    """A large whole number as each language groups its digits: "40 000 000", "40,000,000"."""
    return {"fr": f"{number:,}".replace(",", "\u202f"), "en": f"{number:,}"}


def _corrupt(exc: BaseException) -> ImageError:
    return ImageError(
        {
            "fr": f"l'image est tronquée ou endommagée ({exc})",
            "en": f"the image is truncated or corrupt ({exc})",
        }
    )


def decode_image(
    data: bytes,
    *,
    min_side: int | None = None,
    max_side: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = MAX_DECODE_BYTES,
) -> Image.Image:
    """Decode ``data`` into an upright 8-bit RGB image, no larger than the caller needs.

    ``min_side``: the shorter side may be reduced, by a whole factor, down to this (what
    preprocessing keeps): a 12-megapixel JPEG then decodes about 8 times faster.
    ``max_side``: the longer side is reduced to at most this (what is stored).
    ``info["original_min_side"]`` keeps the shorter side as taken: "too small to judge" is about
    the photo, not the reduced copy.
    """
    if not data:
        raise ImageError({"fr": "le fichier est vide", "en": "the file is empty"})
    image = _open(data, max_pixels)
    width, height = image.size
    if width * height > max_pixels:
        most = _count(max_pixels)
        raise ImageError(
            {
                "fr": f"image trop grande : {width}x{height} pixels, soit plus de {most['fr']} ; "
                "envoyez une photo plus petite",
                "en": f"image too large: {width}x{height} pixels is more than {most['en']}; "
                "send a smaller photo",
            }
        )
    if isinstance(image, JpegImageFile):
        _draft(image, data, min_side, max_side, max_bytes)
    elif _decoding_bytes(image, image.size, min_side, max_side) > max_bytes:
        raise _too_costly(image)
    try:
        image.load()
        target = _target_size(image.size, min_side, max_side)
        if target:
            # In place, so that the EXIF orientation (TIFF tags included) stays readable.
            gap = _reducing_gap(image.mode)
            image.thumbnail(target, Image.Resampling.LANCZOS, reducing_gap=gap)
        ImageOps.exif_transpose(image, in_place=True)
    except (OSError, SyntaxError, ValueError) as exc:
        raise _corrupt(exc) from None
    upright = to_rgb(image)
    upright.info["original_min_side"] = min(width, height)
    return upright


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image with its header read and nothing decoded yet."""
    try:
        with warnings.catch_warnings():
            # The size checks of decode_image replace Pillow's own, global, bomb limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise ImageError(
            {
                "fr": "ce n'est pas une image, ou son format n'est pas pris en charge",
                "en": "not an image file, or a format that is not supported",
            }
        ) from None
    except Image.DecompressionBombError:
        most = _count(max_pixels)
        raise ImageError(
            {
                "fr": f"image trop grande : plus de {most['fr']} pixels",
                "en": f"image too large: more than {most['en']} pixels",
            }
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:  # a file cut inside its header
        raise _corrupt(exc) from None


def _target_size(
    size: tuple[int, int], min_side: int | None, max_side: int | None
) -> tuple[int, int] | None:
    """The box the decoded image is reduced to fit in, or None when it is already small
    enough: the shorter side divided by the largest whole factor that keeps it at least
    ``min_side``, and the longer side at most ``max_side``."""
    width, height = size
    box = (width, height)
    if min_side and (factor := min(size) // min_side) >= 2:
        box = (math.ceil(width / factor), math.ceil(height / factor))
    if max_side and max(box) > max_side:
        box = (min(box[0], max_side), min(box[1], max_side))
    return None if box == size else box


def _draft(
    image: JpegImageFile, data: bytes, min_side: int | None, max_side: int | None, max_bytes: int
) -> None:
    """Have libjpeg decode at the smallest DCT scale that keeps the detail asked for, or at a
    smaller one when that would take more than ``max_bytes``."""
    width, height = image.size
    box = _target_size(image.size, min_side, max_side) or image.size
    reduction = max(width / box[0], height / box[1])
    detail = max(scale for scale in _JPEG_SCALES if scale <= reduction)
    coefficients = _jpeg_coefficient_bytes(image, data)
    # A caller that accepts a reduced image gets a smaller one rather than a refusal.
    scales = [s for s in _JPEG_SCALES if s >= detail] if min_side or max_side else [detail]
    for scale in scales:
        scaled = (math.ceil(width / scale), math.ceil(height / scale))
        if coefficients + _decoding_bytes(image, scaled, min_side, max_side) <= max_bytes:
            if scale > 1:
                image.draft("RGB", (max(1, width // scale), max(1, height // scale)))
            return
    raise _too_costly(image)


def _jpeg_coefficient_bytes(image: JpegImageFile, data: bytes) -> int:
    """What libjpeg holds besides the output for a JPEG it must read whole before it outputs a
    row (progressive, or a first scan without every colour component): every DCT coefficient,
    2 bytes each, at full resolution whatever the output scale."""
    if not image.info.get("progressive") and _first_scan_components(data) == image.layers:
        return 0
    layers = image.layer or [(0, 1, 1, 0)]
    largest = max(1, max(h for _, h, _, _ in layers)) * max(1, max(v for _, _, v, _ in layers))
    samples = sum(h * v for _, h, v, _ in layers) / largest
    return int(2 * image.width * image.height * samples)


def _first_scan_components(data: bytes) -> int | None:
    """How many colour components the first scan of a JPEG holds (the SOS marker's Ns), None
    when the markers cannot be followed to it."""
    position = 2  # after the start-of-image marker
    while position + 4 < len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
        elif marker == 0xDA:  # start of scan: length (2 bytes), then Ns
            return data[position + 4]
        elif 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            position += 2
        else:
            position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def _pixel_bytes(mode: str) -> int:
    """Bytes per pixel of Pillow's storage: one byte, two for 16-bit grey, else four."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _buffer(size: tuple[int, int], pixel: int) -> int:
    """The memory of one Pillow image: its pixels, and a pointer per row (which makes a
    one-pixel-wide image of 100 million rows cost 800 MB)."""
    return math.prod(size) * pixel + size[1] * _ROW_POINTER


def _decoding_bytes(
    image: Image.Image, size: tuple[int, int], min_side: int | None, max_side: int | None
) -> int:
    """The peak memory of decoding ``image`` at ``size`` into an upright RGB image: while it
    is decoded and reduced, the decoder's buffers and Pillow's reduction; then the reduced image
    with its upright copy and its conversion to RGB (RGBA thrice, to composite transparency)."""
    pixel = _pixel_bytes(image.mode)
    copies = _DECODER_COPIES.get(image.format or "", 1)
    decoded = _buffer(size, pixel) + (copies - 1) * math.prod(size) * pixel
    target = _target_size(size, min_side, max_side)
    final = _fitted(size, target) if target else size
    reducing = _reducing_bytes(image.mode, size, final) if target else 0
    if image.mode in ("LA", "RGBA", "PA") or "transparency" in image.info:
        conversions = 3
    else:
        conversions = 0 if image.mode == "RGB" else 1
    converted = 2 * _buffer(final, pixel) + conversions * _buffer(final, 4)
    return max(decoded + reducing, converted)


def _fitted(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The size ``Image.thumbnail`` gives an image of ``size`` fitted in ``box`` (to a pixel)."""
    ratio = max(size[0] / box[0], size[1] / box[1])
    return max(1, round(size[0] / ratio)), max(1, round(size[1] / ratio))


def _reducing_bytes(mode: str, size: tuple[int, int], final: tuple[int, int]) -> int:
    """What ``Image.thumbnail`` allocates to reduce an image of ``size`` to ``final``: a
    premultiplied copy of one with transparency, a copy reduced by a whole factor while that
    leaves twice the final size (``reducing_gap``), the horizontal pass of the resampling, the
    result."""
    premultiplied = mode in ("LA", "RGBA")
    pixel = 4 if premultiplied else _pixel_bytes(mode)
    gap = _reducing_gap(mode) or math.inf
    factors = [max(1, int(whole / part / gap)) for whole, part in zip(size, final, strict=True)]
    width, height = (math.ceil(whole / factor) for whole, factor in zip(size, factors, strict=True))
    steps = [(final[0], height), final]
    if max(factors) > 1:
        steps.append((width, height))
    return (_buffer(size, 4) if premultiplied else 0) + sum(_buffer(step, pixel) for step in steps)


def _reducing_gap(mode: str) -> float | None:
    """Pillow reduces by a whole factor before resampling (``reducing_gap``), except 16-bit
    grey, which it can only resample in one step."""
    return None if mode.startswith("I;16") else 2.0


def _too_costly(image: Image.Image) -> ImageError:
    width, height = image.size
    return ImageError(
        {
            "fr": f"image trop grande pour être décodée : {width}x{height} pixels en "
            f"{image.format} demanderaient trop de mémoire ; envoyez la photo en JPEG, ou une "
            "plus petite",
            "en": f"image too large to decode: {width}x{height} pixels as {image.format} would "
            "take too much memory; send the photo as JPEG, or a smaller one",
        }
    )


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
        raise ImageError(
            {"fr": f"fichier introuvable : {path}", "en": f"file not found: {path}"}
        ) from None
    except OSError as exc:
        raise ImageError(
            {
                "fr": f"impossible de lire {path} : {exc.strerror}",
                "en": f"cannot read {path}: {exc.strerror}",
            }
        ) from None
    return decode_image(data, **kwargs)
