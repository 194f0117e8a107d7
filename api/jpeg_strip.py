"""A JPEG's stored copy without re-encoding: its compressed data kept byte for byte, every
metadata segment dropped.

Decoding a phone's photo (4,000 px) and encoding it again as JPEG, only to leave its metadata
(the EXIF GPS position, the owner's name, the device serial) behind, costs about 240 ms and a
second JPEG loss. A JPEG is a list of segments, each a marker (0xFF and a code) most followed
by a two-byte length, and each scan's entropy-coded data runs from its SOS segment to the next
marker other than a restart (a 0xFF inside the data is followed by 0x00) (ITU-T T.81, annex B):
copying the segments decoding needs takes milliseconds and leaves the pixels exactly as taken.

What is kept is a list of what decoding needs, not of what to remove: the frame (SOF0 to SOF2:
baseline, extended and progressive, Huffman-coded), the tables (DQT, DHT, DRI), each scan (SOS
and its data) and EOI; and, in a fixed minimal form, the two application segments that change
how libjpeg reads the colours (the JFIF APP0, without its density or thumbnail, and the Adobe
APP14, its colour transform only) when the photo had them before its first scan, which is
where libjpeg reads them. Every other segment goes: every other APPn (EXIF, XMP, ICC profiles,
FlashPix, the MPO index, IPTC and Photoshop, makers' data), comments, and whatever follows EOI
(an MPO's second image, the trailers of depth maps and motion photos). A photo to be turned
(EXIF orientation 2 to 8) keeps its turn in an EXIF segment holding that one tag, so that
browsers and ``model.imaging.decode_image`` show it upright as before.

What this does not know (another coding process, 12-bit samples, CMYK, a marker it does not
expect, bytes where a marker should be, a file that ends before its EOI) gives None: the caller
then decodes and re-encodes, which refuses a photo that cannot be decoded.
"""

import io
import re
import struct
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image

from model.imaging import DEFAULT_MAX_PIXELS

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_FRAMES = {0xC0, 0xC1, 0xC2}  # SOF0-2: baseline, extended sequential, progressive; Huffman
_TABLES = {0xC4, 0xDB, 0xDD}  # DHT, DQT, DRI
_APP0, _APP14, _COM = 0xE0, 0xEE, 0xFE
_APPS = range(0xE0, 0xF0)
# The end of a scan's data: a 0xFF followed by neither a stuffed 0x00, a restart marker
# (RST0-7, part of the scan) nor another 0xFF (a fill byte: the marker follows it).
_MARKER_AFTER_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Where libjpeg looks for them (jdmarker.c): a JFIF APP0 of at least 14 bytes, an Adobe APP14
# of at least 12, the colour transform in its 12th byte.
_JFIF_LENGTH, _ADOBE_LENGTH = 14, 12

# JFIF 1.01, aspect ratio 1:1, no thumbnail.
_JFIF = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
# Adobe, version 100, no flags; the colour transform byte follows.
_ADOBE = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00"
# EXIF: a big-endian TIFF header, then IFD0 with one entry, Orientation (SHORT, 1 value: the
# value follows, padded to 4 bytes), and no next IFD.
_EXIF_ORIENTATION = (
    b"\xff\xe1\x00\x22Exif\x00\x00"  # APP1, 34 bytes
    b"MM\x00\x2a\x00\x00\x00\x08"  # TIFF header, IFD0 at 8
    b"\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01"  # one entry: 0x0112, SHORT, 1 value
)
_TURNS = range(2, 9)  # the orientations that turn or flip the photo
_SIDEWAYS = range(5, 9)  # those that swap its width and height


@dataclass(frozen=True)
class StrippedJpeg:
    """A JPEG's copy with nothing but what decoding (and turning it upright) needs."""

    data: bytes
    width: int  # upright, as it is shown: the EXIF orientation applied
    height: int


@dataclass(frozen=True)
class _Walk:
    kept: list[bytes]  # the frame, tables and scans, in their order
    width: int  # as coded
    height: int
    jfif: bool
    adobe_transform: int | None


def strip_metadata(data: bytes, *, max_side: int | None = None) -> StrippedJpeg | None:
    """The copy of ``data`` without metadata, or None when ``data`` is not a JPEG this copies
    (not a JPEG, one of a kind it does not know or cannot follow to its end, one with a side
    over ``max_side``, or too many pixels to decode): the caller re-encodes it then. Nothing is
    decoded here: the caller decodes the copy to check its data."""
    walk = _walk(data)
    if walk is None:
        return None
    if max_side and max(walk.width, walk.height) > max_side:
        return None
    if walk.width * walk.height > DEFAULT_MAX_PIXELS:
        return None
    orientation = _orientation(data)
    if orientation is None:
        return None
    head = [b"\xff\xd8"]
    if walk.jfif:
        head.append(_JFIF)
    if orientation != 1:
        head.append(_EXIF_ORIENTATION + struct.pack(">HH", orientation, 0) + bytes(4))
    if walk.adobe_transform is not None:
        head.append(_ADOBE + bytes([walk.adobe_transform]))
    copy = b"".join([*head, *walk.kept, b"\xff\xd9"])
    width, height = walk.width, walk.height
    if orientation in _SIDEWAYS:
        width, height = height, width
    return StrippedJpeg(data=copy, width=width, height=height)


def _walk(data: bytes) -> _Walk | None:
    """Follow ``data``'s segments from SOI to EOI, keeping those decoding needs; None at
    anything unexpected."""
    if not data.startswith(b"\xff\xd8"):
        return None
    kept: list[bytes] = []
    size: tuple[int, int] | None = None
    jfif, adobe_transform, scans = False, None, 0
    position, end = 2, len(data)
    while True:
        # A marker: 0xFF, as many 0xFF fill bytes as the writer liked, then its code.
        if position >= end or data[position] != 0xFF:
            return None
        while position < end and data[position] == 0xFF:
            position += 1
        if position >= end:
            return None
        start, code = position - 1, data[position]
        position += 1
        if code == _EOI:
            if size is None or not scans:
                return None
            return _Walk(kept, size[0], size[1], jfif, adobe_transform)
        if code == _SOI or code == 0x00 or code == 0x01 or 0xD0 <= code <= 0xD7:
            return None  # no length, and none of these starts a segment here
        if position + 2 > end:
            return None
        segment_end = position + int.from_bytes(data[position : position + 2], "big")
        if segment_end < position + 2 or segment_end > end:
            return None
        payload = data[position + 2 : segment_end]
        if code in _FRAMES:
            if size is not None:
                return None
            size = _frame_size(payload)
            if size is None:
                return None
            kept.append(data[start:segment_end])
        elif code in _TABLES:
            kept.append(data[start:segment_end])
        elif code == _SOS:
            if size is None:
                return None
            following = _MARKER_AFTER_SCAN.search(data, segment_end)
            if following is None:
                return None  # the file ends inside the scan: truncated
            kept.append(data[start : following.start()])
            scans += 1
            position = following.start()
            continue
        elif code == _APP0:
            if not scans and len(payload) >= _JFIF_LENGTH and payload.startswith(b"JFIF\x00"):
                jfif = True
        elif code == _APP14:
            if not scans and len(payload) >= _ADOBE_LENGTH and payload.startswith(b"Adobe"):
                adobe_transform = payload[11]  # libjpeg reads the last one
        elif code not in _APPS and code != _COM:
            return None  # DNL, DAC, EXP, JPGn, another frame type: not for this path
        position = segment_end


def _frame_size(payload: bytes) -> tuple[int, int] | None:
    """Width and height from a frame header of 8-bit samples in 1 (grey) or 3 components
    (YCbCr or RGB); None for another (12-bit, CMYK, a height left to a DNL marker)."""
    if len(payload) < 6:
        return None
    precision, height, width, components = struct.unpack(">BHHB", payload[:6])
    if precision != 8 or components not in (1, 3) or len(payload) != 6 + 3 * components:
        return None
    if not width or not height:
        return None
    return width, height


def _orientation(data: bytes) -> int | None:
    """The EXIF orientation as ``decode_image`` applies it (Pillow's: from EXIF, else from
    XMP's ``tiff:Orientation``), 1 when it neither turns nor flips; None when Pillow cannot
    read the header."""
    try:
        with warnings.catch_warnings():
            # Large photos are refused, or not, by decode_image's own size checks.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=("JPEG",)) as image:
                orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except (OSError, SyntaxError, ValueError):
        return None
    return int(orientation) if orientation in _TURNS else 1
