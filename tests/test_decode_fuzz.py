"""Image decoding fuzzed: whatever bytes arrive, ``decode_image`` gives an RGB image or raises
``ImageError`` (never another exception), quickly, within its memory bound.

Inputs: random bytes; valid photos of every accepted format, mutated, truncated or extended;
headers announcing huge dimensions; text named ``.jpg``. ``make fuzz`` runs many more examples
(``IRIIS_FUZZ_EXAMPLES``) than the test suite's short run.
"""

import io
import os
import struct
import time
import zlib
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from model.imaging import MAX_DECODE_BYTES, ImageError, decode_image, load_image

EXAMPLES = int(os.environ.get("IRIIS_FUZZ_EXAMPLES", "60"))
# No decode may take more processor time than this (a hang; the largest photos take about 1 s),
# nor grow the process's peak memory by more than its bound plus what the interpreter itself may
# allocate meanwhile. Processor time, not the clock's: the suite shares the machine.
CPU_SECONDS = 10.0
MAX_GROWTH = MAX_DECODE_BYTES + 32_000_000
STATUS = Path("/proc/self/status")

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,  # timed below, with the memory, in one place
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@cache
def seeds() -> tuple[bytes, ...]:
    """Small valid photos in every format and mode the decoder accepts."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    grey16 = Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
    exif = Image.Exif()
    exif[0x0112] = 6
    variants: list[tuple[Image.Image, str, dict[str, object]]] = [
        (photo, "JPEG", {}),
        (photo, "JPEG", {"progressive": True}),
        (photo, "JPEG", {"exif": exif.tobytes()}),
        (photo.convert("CMYK"), "JPEG", {}),
        (photo.convert("L"), "PNG", {}),
        (photo.convert("RGBA"), "PNG", {}),
        (photo.convert("P"), "PNG", {"transparency": 0}),
        (grey16, "PNG", {}),
        (photo, "PNG", {"exif": exif.tobytes()}),
        (photo, "WEBP", {}),
        (photo, "TIFF", {"compression": "tiff_deflate"}),
        (photo, "BMP", {}),
        (photo.convert("P"), "GIF", {}),
    ]
    encoded = []
    for image, fmt, options in variants:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        encoded.append(buffer.getvalue())
    return tuple(encoded)


def _memory(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _check(data: bytes, side: dict[str, int]) -> None:
    """Decode ``data``: an RGB image or an ``ImageError``, in time and in memory."""
    measured = STATUS.exists()
    if measured:
        Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
        before = _memory("VmRSS")
    start = time.process_time()
    try:
        image = decode_image(data, **side)
    except ImageError as exc:
        assert str(exc)
    else:
        assert image.mode == "RGB" and image.width > 0 and image.height > 0
    assert time.process_time() - start < CPU_SECONDS
    if measured:
        assert _memory("VmHWM") - before < MAX_GROWTH


sides = st.sampled_from([{}, {"min_side": 224}, {"max_side": 4096}])


@fuzz
@given(data=st.binary(max_size=2048), side=sides)
def test_random_bytes(data: bytes, side: dict[str, int]) -> None:
    _check(data, side)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid photo with bytes overwritten, cut short, or with bytes inserted."""
    data = bytearray(draw(st.sampled_from(seeds())))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["overwrite", "insert", "cut"]))
        if action == "overwrite":
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[position:]
        if len(data) < 2:
            break
    return bytes(data)


@fuzz
@given(data=mutated(), side=sides)
def test_mutated_photos(data: bytes, side: dict[str, int]) -> None:
    _check(data, side)


def _png(width: int, height: int, colour_type: int, bit_depth: int) -> bytes:
    """A PNG header announcing ``width`` x ``height`` and one scanline's worth of data."""
    chunks = [
        b"IHDR" + struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0),
        b"IDAT" + zlib.compress(bytes(min(width, 100_000) + 1)),
        b"IEND",
    ]
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
        for chunk in chunks
    )


def _jpeg(width: int, height: int, progressive: bool) -> bytes:
    """A small JPEG whose frame header claims ``width`` x ``height``."""
    data = bytearray(seeds()[1 if progressive else 0])
    marker = data.find(b"\xff\xc2" if progressive else b"\xff\xc0")
    data[marker + 5 : marker + 9] = struct.pack(">HH", height, width)
    return bytes(data)


dimension = st.one_of(st.integers(1, 70_000), st.integers(1, 2**31 - 1))


@fuzz
@given(
    width=dimension,
    height=dimension,
    png=st.sampled_from([(0, 8), (0, 16), (2, 8), (3, 8), (4, 8), (6, 8), (6, 16), (0, 1)]),
    side=sides,
)
def test_png_headers_announcing_huge_dimensions(
    width: int, height: int, png: tuple[int, int], side: dict[str, int]
) -> None:
    _check(_png(width, height, *png), side)


@fuzz
@given(
    width=st.integers(1, 65_535),
    height=st.integers(1, 65_535),
    progressive=st.booleans(),
    side=sides,
)
def test_jpeg_headers_announcing_huge_dimensions(
    width: int, height: int, progressive: bool, side: dict[str, int]
) -> None:
    _check(_jpeg(width, height, progressive), side)


@pytest.mark.parametrize(
    "text", [b"", b"not a photo\n", "liste d'\u00e9picerie\n".encode() * 500, b"\xff\xd8\xff"]
)
def test_a_text_file_named_jpg_is_a_clear_error(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(text)
    with pytest.raises(ImageError):
        load_image(path)
