"""Similar reference photos: the bank's embeddings, searchable by the embedding of a new photo.

A gallery belongs to one model version. The server builds it from the bank into
``IRIIS_HOME/galleries/<version>/`` (``iriis gallery build``) and searches it with a backend from
the registry (``backends.BACKENDS``); the field app downloads a pack of it (``iriis gallery
pack``) and searches that with numpy. Both are a :class:`Gallery`, opened by
:func:`open_gallery`. Layout and formats: ``folder.py``, ``pack.py`` and docs/architecture.md.
"""

from model.gallery.backends import BACKENDS, DEFAULT_BACKEND
from model.gallery.base import Gallery, GalleryError, GalleryItem, photo_id
from model.gallery.factory import open_gallery
from model.gallery.pack import PackedGallery

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "Gallery",
    "GalleryError",
    "GalleryItem",
    "PackedGallery",
    "open_gallery",
    "photo_id",
]
