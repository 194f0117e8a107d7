"""Every kind of photo a field user can send either decodes to RGB or fails with a clear error."""

import io
import struct
import zlib

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


def _png_header(width: int, height: int, colour_type: int = 0) -> bytes:
    """A PNG of one row of pixels that announces ``width`` x ``height``."""
    chunks = [
        b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0),
        b"IDAT" + zlib.compress(bytes(width + 1)),
    ]
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
        for chunk in chunks
    )


def test_max_side_reduces_the_longer_side_of_jpeg_and_png() -> None:
    photo = textured_image(5, size=(1500, 1000))
    for data in (jpeg_bytes(photo), _encode(photo, "PNG")):
        decoded = decode_image(data, max_side=600)
        assert decoded.size == (600, 400)
        assert decoded.info["original_min_side"] == 1000


def test_min_side_reduces_png_by_a_whole_factor_like_jpeg() -> None:
    decoded = decode_image(_encode(textured_image(6, size=(1000, 750)), "PNG"), min_side=128)
    assert decoded.size == (200, 150)  # divided by 5: 750 // 128


def test_orientation_is_applied_to_the_reduced_copy() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(textured_image(7, size=(800, 400)), "JPEG", exif=exif.tobytes())
    assert decode_image(data, max_side=200).size == (100, 200)


def test_sixteen_bit_greyscale_is_reduced_too() -> None:
    ramp = np.tile(np.linspace(0, 65535, 1200, dtype=np.uint16), (900, 1))
    decoded = np.asarray(decode_image(_encode(Image.fromarray(ramp), "PNG"), min_side=100))
    assert decoded.shape[:2] == (100, 133) and decoded[0, 0, 0] < 5 and decoded[0, -1, 0] > 250


def test_what_decoding_would_cost_is_refused_from_the_header_alone() -> None:
    # 10,000 x 10,000 RGBA pixels announced, one row sent: refused before anything is decoded.
    with pytest.raises(ImageError, match="too large to decode"):
        decode_image(_png_header(10_000, 10_000, colour_type=6), min_side=256)
    # In greyscale they take an eighth of that: decoded (zlib's stream ends, the rest is black).
    assert decode_image(_png_header(10_000, 10_000), min_side=256).size == (257, 257)


def test_a_progressive_jpeg_counts_the_coefficients_libjpeg_keeps() -> None:
    photo = textured_image(8, size=(1200, 1200))
    baseline, progressive = jpeg_bytes(photo), _encode(photo, "JPEG", progressive=True)
    # Either decodes at 1/8 scale: a few kilobytes of output, but the progressive one needs all
    # of its DCT coefficients first (2 bytes x 1.5 samples x 1.44 megapixels).
    assert decode_image(baseline, min_side=150, max_bytes=2_000_000).size == (150, 150)
    with pytest.raises(ImageError, match="too large to decode"):
        decode_image(progressive, min_side=150, max_bytes=2_000_000)
    assert decode_image(progressive, min_side=150, max_bytes=5_000_000).size == (150, 150)


def test_a_jpeg_over_the_memory_bound_is_decoded_smaller_when_a_reduction_is_asked() -> None:
    data = jpeg_bytes(textured_image(9, size=(2000, 1500)))
    bound = 10_000_000  # 12 MB and its reduced copy at full scale, 3 MB at half
    assert decode_image(data, max_side=1500, max_bytes=bound).size == (1000, 750)
    with pytest.raises(ImageError, match="too large to decode"):
        decode_image(data, max_bytes=bound)


def test_formats_no_camera_writes_are_refused() -> None:
    for fmt in ("PPM", "TGA", "ICO", "PCX"):
        with pytest.raises(ImageError, match="not supported"):
            decode_image(_encode(textured_image(10, size=(64, 48)), fmt))
