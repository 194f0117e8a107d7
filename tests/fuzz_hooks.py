"""Schemathesis hooks of the API fuzzing (``SCHEMATHESIS_HOOKS=tests.fuzz_hooks``): the photos
it sends are real photos, so that identifications go through decoding, the model and the photo
store instead of stopping at "not an image" (the schema says ``image/*``)."""

import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image

from tests.helpers import jpeg_bytes, textured_image


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


_IMAGES = [textured_image(seed, size) for seed, size in ((1, (160, 120)), (2, (96, 320)))]
schemathesis.openapi.media_type("image/jpeg", st.sampled_from([jpeg_bytes(i) for i in _IMAGES]))
schemathesis.openapi.media_type("image/png", st.sampled_from([_png(i) for i in _IMAGES]))
