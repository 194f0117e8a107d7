"""The photo store keeps pixels only: orientation applied, every EXIF field gone."""

import io

import numpy as np
from PIL import Image

from api.photostore import PhotoStore, prepare
from tests.helpers import textured_image

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def _phone_photo() -> bytes:
    """A portrait photo as phones store it: landscape pixels, an orientation tag, GPS and the
    owner's name in EXIF."""
    image = textured_image(3, size=(200, 120))
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # rotate 90 degrees clockwise to display
    exif[0x013B] = "Marie Tremblay"  # Artist
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (46.0, 48.0, 44.3), 3: "W", 4: (71.0, 14.0, 44.2)})
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, exif=exif, comment=b"field 12")
    return buffer.getvalue()


def test_stored_photos_are_upright_and_carry_no_metadata(tmp_path) -> None:
    original = _phone_photo()
    assert Image.open(io.BytesIO(original)).getexif()[ORIENTATION] == 6
    photo = prepare(original)
    store = PhotoStore(tmp_path)
    assert store.put(photo) is True
    assert store.put(prepare(original)) is False  # same content, same file
    data = store.read(photo.sha256)
    stored = Image.open(io.BytesIO(data))
    assert stored.size == (120, 200) and (photo.width, photo.height) == (120, 200)
    assert len(stored.getexif()) == 0
    assert not {"exif", "icc_profile", "comment", "xmp"} & set(stored.info)
    assert b"Exif" not in data and b"Marie" not in data and b"field 12" not in data
    # The pixels are those of the upright photo.
    upright = np.asarray(Image.open(io.BytesIO(original)).transpose(Image.Transpose.ROTATE_270))
    assert np.abs(np.asarray(stored, dtype=int) - upright).mean() < 4
    assert store.files() == [store.path(photo.sha256)]
    assert store.path(photo.sha256).name == f"{photo.sha256}.jpg"
