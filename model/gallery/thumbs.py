"""Thumbnails of reference photos: small JPEGs made once, at build time, from the bank photo.

Re-encoding from decoded pixels keeps no metadata: no EXIF (GPS positions of growers' fields,
camera serials), no ICC profile; the pixels are already upright (``decode_image``).
"""

import io

from PIL import Image

from model.imaging import decode_image

THUMBNAIL_SIZE = 128  # the gallery's, for the API and the specialists' pages
PACK_THUMBNAIL_SIZE = 96  # the field app's pack: a small grid on a phone screen
THUMBNAIL_QUALITY = 80
PACK_THUMBNAIL_QUALITY = 70


def thumbnail_jpeg(
    image: Image.Image, size: int = THUMBNAIL_SIZE, quality: int = THUMBNAIL_QUALITY
) -> bytes:
    """The image shrunk to fit ``size`` x ``size`` (aspect kept), as a metadata-free JPEG."""
    small = image.copy()
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def pack_thumbnail(jpeg: bytes) -> bytes:
    """The pack's smaller thumbnail, from the gallery's (the bank is not needed to pack)."""
    return thumbnail_jpeg(decode_image(jpeg), PACK_THUMBNAIL_SIZE, PACK_THUMBNAIL_QUALITY)
