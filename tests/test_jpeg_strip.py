"""A JPEG's stored copy keeps its compressed data byte for byte and nothing else (api.jpeg_strip,
through api.photostore.prepare): no metadata of any kind is left, the pixels are exactly the
upload's, a turned photo still shows upright, and every photo the re-encoding path refuses is
refused the same way."""

import io
import random

import pytest
from PIL import Image, ImageChops, ImageCms

from api.jpeg_strip import strip_metadata
from api.photostore import PreparedPhoto, prepare
from model.imaging import ImageError, decode_image
from tests.helpers import jpeg_bytes, textured_image

ORIENTATION, ARTIST, EXIF_IFD, GPS_IFD, BODY_SERIAL = 0x0112, 0x013B, 0x8769, 0x8825, 0xA431
# What a phone and its owner put in a photo besides its pixels; none of it may be stored.
SECRETS = [
    b"Marie",  # EXIF Artist
    b"SN-4417",  # EXIF body serial
    b"GPSLatitude",  # XMP
    b"46,48.738N",
    b"Ferme Tremblay",  # comment
    b"Tremblay IPTC",  # APP13 Photoshop IPTC
    b"Ducky",  # APP12
    b"FPXR",  # APP2 FlashPix
    b"ICC_PROFILE",
    b"MPF",  # the MPO index
    b"Exif",
    b"SEFH GPS 46.8123",  # a trailer after the last image
]
TRAILER = b"\x00\x00SEFH GPS 46.8123 -71.2456 depth map"


def _segment(code: int, payload: bytes) -> bytes:
    return bytes([0xFF, code]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _camera_photo(orientation: int = 1, **options: object) -> bytes:
    """A photo as phones and cameras write it: two frames (MPO), EXIF with the owner, the
    device serial and a GPS position, XMP, an ICC profile, a comment, IPTC, FlashPix and
    APP12 segments, and a trailer after the last frame."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[ARTIST] = "Marie Tremblay"
    exif.get_ifd(EXIF_IFD)[BODY_SERIAL] = "SN-4417-0092"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (46.0, 48.0, 44.3), 3: "W", 4: (71.0, 14.0, 44.2)})
    buffer = io.BytesIO()
    textured_image(11, size=(96, 64)).save(
        buffer,
        format="MPO",
        save_all=True,
        append_images=[textured_image(12, size=(96, 64))],
        exif=exif,
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        xmp=b'<x:xmpmeta><rdf:Description exif:GPSLatitude="46,48.738N"/></x:xmpmeta>',
        comment=b"Ferme Tremblay, rang 4",
        quality=92,
        **options,
    )
    data = buffer.getvalue()
    extra = (
        _segment(0xEC, b"Ducky\x00\x01\x00\x04\x00\x00\x00\x50")
        + _segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x0dTremblay IPTC")
        + _segment(0xE2, b"FPXR\x00\x00\x01\x02\x03")
    )
    return data[:2] + extra + data[2:] + TRAILER


def _decoded(data: bytes) -> Image.Image:
    """The pixels as coded (first frame, no orientation applied)."""
    return Image.open(io.BytesIO(data)).convert("RGB")


def _outcome(data: bytes, **kwargs: object) -> tuple[int, int] | str:
    """What ``prepare`` makes of ``data``: the stored size, or the refusal's message."""
    try:
        photo = prepare(data, **kwargs)  # type: ignore[arg-type]
    except ImageError as exc:
        return str(exc)
    return photo.width, photo.height


def test_a_camera_photo_keeps_its_pixels_and_nothing_else() -> None:
    original = _camera_photo()
    assert Image.open(io.BytesIO(original)).format == "MPO"
    assert all(secret in original for secret in SECRETS)
    photo = prepare(original, max_side=4096)
    stored = Image.open(io.BytesIO(photo.data))
    assert [secret for secret in SECRETS if secret in photo.data] == []
    assert stored.format == "JPEG" and not stored.getexif()
    assert [name for name, _ in stored.applist] == ["APP0"]  # JFIF: aspect ratio only
    assert not {"exif", "icc_profile", "comment", "xmp", "mp", "photoshop"} & set(stored.info)
    assert photo.data.endswith(b"\xff\xd9")
    # Lossless: the very pixels of the upload's first frame.
    assert ImageChops.difference(_decoded(original), _decoded(photo.data)).getbbox() is None
    assert (photo.width, photo.height) == stored.size == (96, 64)
    assert prepare(original, max_side=4096) == photo  # the same upload, the same bytes


def test_a_turned_photo_keeps_its_orientation_only_and_decodes_upright() -> None:
    original = _camera_photo(orientation=6)
    photo = prepare(original, max_side=4096)
    stored = Image.open(io.BytesIO(photo.data))
    assert dict(stored.getexif()) == {ORIENTATION: 6}
    assert [secret for secret in SECRETS if secret in photo.data] == [b"Exif"]
    assert stored.size == (96, 64)  # as coded; shown turned
    upright = decode_image(photo.data)
    assert upright.size == (photo.width, photo.height) == (64, 96)
    assert ImageChops.difference(upright, decode_image(original)).getbbox() is None
    # The same size as the re-encoding path gives, which stores the pixels turned.
    reencoded = prepare(original, max_side=4096, lossless=False)
    assert (reencoded.width, reencoded.height) == (64, 96)
    assert Image.open(io.BytesIO(reencoded.data)).size == (64, 96)


def test_an_orientation_given_by_xmp_alone_is_kept_too() -> None:
    """Pillow, hence ``decode_image``, turns a photo by XMP's tiff:Orientation when EXIF has
    none: the copy keeps that turn (as EXIF) and nothing else of the XMP."""
    buffer = io.BytesIO()
    textured_image(13, size=(80, 48)).save(
        buffer, format="JPEG", xmp=b'<x:xmpmeta tiff:Orientation="8" Owner="Marie"/>'
    )
    photo = prepare(buffer.getvalue())
    assert dict(Image.open(io.BytesIO(photo.data)).getexif()) == {ORIENTATION: 8}
    assert b"Marie" not in photo.data and b"xmpmeta" not in photo.data
    assert decode_image(photo.data).tobytes() == decode_image(buffer.getvalue()).tobytes()
    assert (photo.width, photo.height) == (48, 80)


@pytest.mark.parametrize(
    "options",
    [
        {"progressive": True},
        {"restart_marker_blocks": 1},  # a restart marker after every MCU
        {"progressive": True, "restart_marker_rows": 1},
        {"keep_rgb": True},  # RGB coded as is: the Adobe segment says so
        {"subsampling": 0},
    ],
    ids=str,
)
def test_every_coding_is_copied_losslessly(options: dict[str, object]) -> None:
    buffer = io.BytesIO()
    textured_image(14, size=(200, 152)).save(
        buffer, format="JPEG", quality=90, comment=b"Ferme Tremblay", **options
    )
    original = buffer.getvalue()
    photo = prepare(original)
    assert b"Ferme" not in photo.data
    assert ImageChops.difference(_decoded(original), _decoded(photo.data)).getbbox() is None
    stored = Image.open(io.BytesIO(photo.data))
    assert bool(stored.info.get("progressive")) == bool(options.get("progressive"))
    if "restart_marker_blocks" in options:
        assert b"\xff\xdd" in photo.data and b"\xff\xd0" in photo.data  # DRI and RST0 kept


def test_the_adobe_segment_is_kept_when_it_decides_the_colours() -> None:
    """An RGB-coded JPEG whose components are numbered 1, 2, 3 (as YCbCr's are) says that it is
    RGB in its Adobe APP14 alone (transform 0): without it, libjpeg reads YCbCr."""
    buffer = io.BytesIO()
    textured_image(15, size=(64, 48)).save(buffer, format="JPEG", keep_rgb=True)
    original = bytearray(buffer.getvalue())
    frame, scan = original.index(b"\xff\xc0"), original.index(b"\xff\xda")
    for number in range(3):  # Pillow numbers them "R", "G", "B": renumbered 1, 2, 3
        original[frame + 10 + 3 * number] = original[scan + 5 + 2 * number] = number + 1
    copy = strip_metadata(bytes(original))
    assert copy is not None
    assert Image.open(io.BytesIO(copy.data)).info["adobe_transform"] == 0
    assert ImageChops.difference(_decoded(original), _decoded(copy.data)).getbbox() is None
    position = copy.data.index(b"\xff\xee\x00\x0eAdobe")
    without = copy.data[:position] + copy.data[position + 16 :]
    assert ImageChops.difference(_decoded(original), _decoded(without)).getbbox() is not None


def test_a_greyscale_photo_stays_greyscale_and_identical() -> None:
    original = jpeg_bytes(textured_image(16, size=(64, 48)).convert("L"))
    photo = prepare(original)
    assert Image.open(io.BytesIO(photo.data)).mode == "L"
    assert (
        Image.open(io.BytesIO(photo.data)).tobytes() == Image.open(io.BytesIO(original)).tobytes()
    )


def test_segments_between_scans_and_fill_bytes_are_followed() -> None:
    """A comment between two scans of a progressive JPEG goes; 0xFF fill bytes before a marker
    (allowed anywhere one starts) are read past."""
    buffer = io.BytesIO()
    textured_image(17, size=(64, 48)).save(buffer, format="JPEG", progressive=True)
    original = buffer.getvalue()
    second_scan = original.index(b"\xff\xda", original.index(b"\xff\xda") + 2)
    original = (
        original[:second_scan]
        + _segment(0xFE, b"Marie between scans")
        + b"\xff\xff"
        + original[second_scan:-2]
        + b"\xff\xff\xd9"
    )
    photo = prepare(original)
    assert b"Marie" not in photo.data
    assert ImageChops.difference(_decoded(original), _decoded(photo.data)).getbbox() is None


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_truncated_photos_are_refused_as_before(progressive: bool) -> None:
    original = jpeg_bytes(textured_image(18, size=(160, 120)))
    if progressive:
        buffer = io.BytesIO()
        textured_image(18, size=(160, 120)).save(buffer, format="JPEG", progressive=True)
        original = buffer.getvalue()
    for cut in (100, 400, len(original) // 2, len(original) - 40, len(original) - 2):
        refusal = _outcome(original[:cut], max_side=4096)
        assert isinstance(refusal, str) and "truncated or corrupt" in refusal
        assert refusal == _outcome(original[:cut], max_side=4096, lossless=False)
    # The copy's check, a decode at 1/8 scale, refuses a photo cut inside its scans too: it
    # reads every scan whole.
    for cut in (len(original) // 2, len(original) - 2):
        with pytest.raises(ImageError, match="truncated"):
            decode_image(original[:cut], max_side=20)


def test_a_copy_whose_data_cannot_be_decoded_is_refused_as_before() -> None:
    """The segments can be followed, but a Huffman table is broken: the copy's check decode
    refuses it, with the re-encoding path's words."""
    original = jpeg_bytes(textured_image(19, size=(64, 48)))
    table = original.index(b"\xff\xc4") + 5  # the first DHT's counts of codes per length
    broken = original[:table] + b"\xff" * 16 + original[table + 16 :]
    assert strip_metadata(broken) is not None
    refusal = _outcome(broken)
    assert isinstance(refusal, str) and refusal == _outcome(broken, lossless=False)


def test_the_lossless_path_refuses_and_sizes_photos_as_the_reencoding_path_does() -> None:
    """Photos damaged at random (bytes changed, cut short) are accepted or refused alike by
    both paths, with the same words and the same stored size."""
    rng = random.Random(20)
    image = textured_image(20, size=(48, 40))
    seeds = []
    for options in ({}, {"progressive": True}, {"restart_marker_blocks": 2}):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85, **options)
        seeds.append(buffer.getvalue())
    lossless = 0
    for _ in range(150):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        outcome = _outcome(bytes(data))
        assert outcome == _outcome(bytes(data), lossless=False)
        lossless += strip_metadata(bytes(data)) is not None
    assert lossless > 50  # most damage leaves the segments followable


def test_other_photos_are_decoded_and_reencoded_as_before() -> None:
    """PNG, WebP, a CMYK JPEG and a JPEG over ``max_side`` take the re-encoding path."""
    image = textured_image(21, size=(120, 90))
    uploads = {}
    for mode, fmt in (("RGB", "PNG"), ("RGB", "WEBP"), ("CMYK", "JPEG")):
        buffer = io.BytesIO()
        image.convert(mode).save(buffer, format=fmt)
        uploads[f"{mode} {fmt}"] = (buffer.getvalue(), 4096, 120)
    uploads["JPEG over max_side"] = (jpeg_bytes(image), 100, 100)
    for name, (upload, max_side, side) in uploads.items():
        assert strip_metadata(upload, max_side=max_side) is None, name
        photo: PreparedPhoto = prepare(upload, max_side=max_side)
        assert photo == prepare(upload, max_side=max_side, lossless=False)
        stored = Image.open(io.BytesIO(photo.data))
        assert stored.format == "JPEG" and stored.mode == "RGB" and max(stored.size) == side
