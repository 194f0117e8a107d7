"""The case page's readings of stored photos are kept: a second view of a case costs no
inference, a reading is named by the model's version, the photos and the crop, and the oldest
go first when the store of readings is full."""

from pathlib import Path
from typing import Any

import pytest

from api.photostore import FolderStore, prepare
from api.services.suggestions import Readings
from model.bundle import latest_bundle
from model.identifier import Identifier, open_identifier
from model.settings import Settings
from tests.helpers import jpeg_bytes, textured_image


@pytest.fixture(scope="module")
def identifier(settings: Settings) -> Identifier:
    return open_identifier(latest_bundle(settings.bundles_dir), threads=1)


def test_a_reading_is_kept_per_model_photos_and_crop(
    identifier: Identifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FolderStore(tmp_path)
    photos = [prepare(jpeg_bytes(textured_image(seed, (320, 240)))) for seed in range(3)]
    for photo in photos:
        store.put(photo)
    calls: list[int] = []
    identify = identifier.identify

    def counted(images: list[bytes], **kwargs: Any) -> Any:
        calls.append(len(images))
        return identify(images, **kwargs)

    monkeypatch.setattr(identifier, "identify", counted)
    readings = Readings(size=2)
    first = readings.read(identifier, [photos[0].sha256], None, store)
    assert readings.read(identifier, [photos[0].sha256], None, store) == first
    assert calls == [1]  # the second view: no inference
    readings.read(identifier, [photos[0].sha256], "apple", store)  # another crop: another reading
    readings.read(identifier, [photos[1].sha256, photos[2].sha256], None, store)
    assert calls == [1, 1, 2]
    readings.read(identifier, [photos[0].sha256], None, store)  # the oldest went
    assert calls == [1, 1, 2, 1]
    with pytest.raises(OSError):  # a photo gone from the store: nothing kept
        readings.read(identifier, ["0" * 64], None, store)
    assert calls == [1, 1, 2, 1]
