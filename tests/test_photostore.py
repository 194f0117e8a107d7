"""The photo store keeps pixels only (every EXIF field gone but the orientation), and both its
backends, the folder and an S3 bucket on a real SeaweedFS, keep the same contract: whole photos
by content hash, read back, listed with when they were written, swept when nothing names them."""

import hashlib
import io
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from api.photostore import FolderStore, PhotoStore, StoreUnavailable, open_store, prepare
from api.photostore_s3 import S3Store
from api.settings import ApiSettings
from model.imaging import decode_image
from tests.helpers import jpeg_bytes, textured_image
from tests.seaweed_support import Seaweed

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


@pytest.fixture(params=["folder", pytest.param("s3", marks=pytest.mark.slow)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> PhotoStore:
    """Each backend in turn: a folder, and a bucket of a real SeaweedFS."""
    if request.param == "folder":
        return FolderStore(tmp_path / "photos")
    store: S3Store = request.getfixturevalue("s3_store")
    return store


def test_stored_photos_are_upright_and_carry_no_metadata(any_store: PhotoStore) -> None:
    original = _phone_photo()
    assert Image.open(io.BytesIO(original)).getexif()[ORIENTATION] == 6
    photo = prepare(original)
    assert any_store.put(photo) is True
    assert any_store.put(prepare(original)) is False  # same content, same photo
    data = any_store.read(photo.sha256)
    assert hashlib.sha256(data).hexdigest() == photo.sha256
    stored = Image.open(io.BytesIO(data))
    # The compressed data as sent (api.jpeg_strip): the orientation is the one EXIF field left.
    assert stored.size == (200, 120) and (photo.width, photo.height) == (120, 200)
    assert dict(stored.getexif()) == {ORIENTATION: 6}
    assert not {"icc_profile", "comment", "xmp"} & set(stored.info)
    assert b"Marie" not in data and b"PhoneMaker" not in data and b"field 12" not in data
    # Decoded, the pixels are those of the upright photo.
    upright = np.asarray(Image.open(io.BytesIO(original)).transpose(Image.Transpose.ROTATE_270))
    assert np.abs(np.asarray(decode_image(data), dtype=int) - upright).mean() < 4
    assert any_store.hashes() == [photo.sha256]


def test_photos_are_listed_read_thumbnailed_and_discarded(any_store: PhotoStore) -> None:
    photos = [prepare(jpeg_bytes(textured_image(n, size=(640, 480)))) for n in (1, 2)]
    before = time.time()
    assert [any_store.put(photo) for photo in photos] == [True, True]
    assert any_store.hashes() == sorted(photo.sha256 for photo in photos)
    for sha256, written in any_store.listing():
        assert written == any_store.written_at(sha256)
        assert before - 2 <= written <= time.time() + 1  # S3 keeps whole seconds
    thumbnail = Image.open(io.BytesIO(any_store.thumbnail(photos[0].sha256, side=160)))
    assert max(thumbnail.size) <= 160
    any_store.discard(photos[0].sha256)
    any_store.discard(photos[0].sha256)  # gone already: nothing happens
    assert any_store.hashes() == [photos[1].sha256]
    assert any_store.written_at(photos[0].sha256) is None
    with pytest.raises(FileNotFoundError):
        any_store.read(photos[0].sha256)
    for name in ("../../etc/passwd", "ab" * 33, photos[1].sha256.upper()):
        with pytest.raises(ValueError):
            any_store.read(name)


def test_the_sweep_removes_old_unreferenced_photos_only(any_store: PhotoStore) -> None:
    kept, orphan = (prepare(jpeg_bytes(textured_image(n))) for n in (3, 4))
    any_store.put(kept)
    any_store.put(orphan)
    asked: list[list[str]] = []

    def referenced(hashes: list[str]) -> set[str]:
        asked.append(sorted(hashes))
        return {kept.sha256} & set(hashes)

    assert any_store.sweep(referenced) == 0  # both within the grace period: nothing asked
    assert asked == [] and len(any_store.hashes()) == 2
    # A grace period in the future: both count as old, the one no row names goes.
    assert any_store.sweep(referenced, grace_s=-60) == 1
    assert asked == [sorted([kept.sha256, orphan.sha256])]
    assert any_store.hashes() == [kept.sha256]


def test_the_sweep_removes_nothing_when_the_database_does_not_answer(
    any_store: PhotoStore,
) -> None:
    any_store.put(prepare(jpeg_bytes(textured_image(5))))

    def down(_hashes: list[str]) -> set[str]:
        raise ConnectionRefusedError("the database is restarting")

    with pytest.raises(ConnectionRefusedError):
        any_store.sweep(down, grace_s=-60)
    assert len(any_store.hashes()) == 1


def test_a_folder_store_names_files_by_their_hash(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    photo = prepare(jpeg_bytes(textured_image(6)))
    store.put(photo)
    assert store.files() == [tmp_path / photo.sha256[:2] / f"{photo.sha256}.jpg"]


@pytest.mark.slow
def test_an_s3_store_refuses_bytes_other_than_their_name_and_keeps_nothing(
    s3_store: S3Store,
) -> None:
    """The bucket checks each upload against its SHA-256 (and MD5): what arrives altered is
    refused whole, and nothing is stored under the photo's name."""
    photo = prepare(jpeg_bytes(textured_image(7)))
    altered = replace(photo, sha256=hashlib.sha256(b"other bytes").hexdigest())
    with pytest.raises(StoreUnavailable):
        s3_store.put(altered)
    assert s3_store.hashes() == []


@pytest.mark.slow
def test_an_s3_store_lists_its_own_prefix_only(seaweed: Seaweed, seaweed_bucket: str) -> None:
    bucket, prefix = seaweed_bucket, uuid.uuid4().hex
    ours, theirs = (S3Store.from_url(seaweed.url(bucket, f"{prefix}/{n}")) for n in ("a", "b"))
    photo = prepare(jpeg_bytes(textured_image(8)))
    theirs.put(photo)
    seaweed.client.put_object(Bucket=bucket, Key=f"{prefix}/a/notes.txt", Body=b"not a photo")
    assert ours.hashes() == [] and theirs.hashes() == [photo.sha256]
    assert ours.written_at(photo.sha256) is None


def test_the_store_is_chosen_by_its_url(tmp_path: Path) -> None:
    def opened(url: str) -> PhotoStore:
        return open_store(ApiSettings(home=tmp_path, photos_url=url))

    for default in ("", "file:"):
        store = opened(default)
        assert isinstance(store, FolderStore) and store.root == tmp_path / "photos"
    elsewhere = opened(f"file://{tmp_path / 'elsewhere'}")
    assert isinstance(elsewhere, FolderStore) and elsewhere.root == tmp_path / "elsewhere"
    bucket = opened("s3://K%2Fey:se%2Bcret@lab-photos/iriis/?endpoint=http://127.0.0.1:1&region=ca")
    assert isinstance(bucket, S3Store)
    assert (bucket.bucket, bucket.prefix, bucket.endpoint) == (
        "lab-photos",
        "iriis/",
        "http://127.0.0.1:1",
    )
    credentials = bucket.client._request_signer._credentials  # as boto3 will sign
    assert (credentials.access_key, credentials.secret_key) == ("K/ey", "se+cret")
    assert "se+cret" not in repr(bucket) and bucket.client.meta.region_name == "ca"
    for wrong in ("ftp://host/photos", "s3://?endpoint=x", "s3://b?endpont=x", "file:relative"):
        with pytest.raises(ValueError):
            opened(wrong)
