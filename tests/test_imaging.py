"""Every kind of photo a field user can send either decodes to RGB or fails with a clear error."""

import io

import numpy as np
import pytest
from PIL import Image

from model.imaging import ImageError, decode_image, load_image
from tests.helpers import jpeg_bytes, textured_image


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("L", "JPEG"), ("CMYK", "JPEG"), ("P", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("1", "PNG")],
)
def test_colour_modes_become_rgb(mode: str, fmt: str) -> None:
    source = textured_image(1).convert(mode)
    decoded = decode_image(_encode(source, fmt))
    assert decoded.mode == "RGB"
    assert decoded.size == source.size


def test_transparent_pixels_become_grey_not_black() -> None:
    transparent = Image.new("RGBA", (40, 30), (255, 0, 0, 0))
    pixel = decode_image(_encode(transparent, "PNG")).getpixel((0, 0))
    assert pixel == (127, 127, 127)


def test_sixteen_bit_greyscale_keeps_its_range() -> None:
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (16, 1))
    decoded = np.asarray(decode_image(_encode(Image.fromarray(ramp), "PNG")))
    assert decoded[0, 0, 0] == 0
    assert decoded[0, -1, 0] == 255


def test_exif_orientation_is_applied() -> None:
    wide = textured_image(2, size=(200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode_image(_encode(wide, "JPEG", exif=exif.tobytes()))
    assert decoded.size == (100, 200)


def test_truncated_jpeg_is_a_clear_error() -> None:
    data = jpeg_bytes(textured_image(3))
    with pytest.raises(ImageError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_text_file_is_a_clear_error() -> None:
    with pytest.raises(ImageError, match="not an image"):
        decode_image(b"this is a shopping list, not a photo\n")


def test_empty_and_missing_files_are_clear_errors(tmp_path) -> None:
    with pytest.raises(ImageError, match="empty"):
        decode_image(b"")
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nothing.jpg")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # A PNG header announcing 12,000 x 10,000 pixels compresses to almost nothing.
    huge = _encode(Image.new("L", (12_000, 10_000)), "PNG")
    assert len(huge) < 1_000_000
    with pytest.raises(ImageError, match="too large"):
        decode_image(huge, max_pixels=100_000_000)


def test_reduced_size_jpeg_decoding_keeps_the_shorter_side() -> None:
    big = textured_image(4, size=(2000, 1500))
    decoded = decode_image(jpeg_bytes(big), min_side=256)
    assert min(decoded.size) >= 256
    assert decoded.size[0] < 1000  # the decoder skipped detail, so it was faster
