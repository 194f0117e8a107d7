"""On-device identification: the shared identifier (``model/``) on the active model, int8, with
the most similar reference photos from the model's gallery pack.

The app never reimplements inference: it loads the active bundle (``mobile.modelstore``, already
verified against its manifest there) through ``model.identifier.Identifier`` with the int8 graph,
the catalog's groups and the gallery, so a phone answers exactly as the API's int8 variant would.
Loading runs the identifier's trial identification (``model.identifier.check_identifier``), as
``ModelStore`` did before making the model active: a model that cannot answer is never switched to.
"""

import logging
from collections.abc import Sequence

from mobile.modelstore import InstalledModel
from model.catalog import Catalog
from model.gallery import Gallery, GalleryError, open_gallery
from model.identifier import Photo, open_identifier
from model.result import Identification

log = logging.getLogger(__name__)


class Recognizer:
    def __init__(self, model: InstalledModel, catalog: Catalog, threads: int) -> None:
        self.model = model
        self.gallery = _open(model)
        self.identifier = open_identifier(
            model.folder,
            variant="int8",
            threads=threads,
            catalog=catalog,
            check=False,  # verified by ModelStore, which knows the phone keeps no fp32 graph
            gallery=self.gallery,
        )
        log.info(
            "identifier ready: model %s (int8, %d threads), gallery: %s",
            model.version,
            threads,
            f"{len(self.gallery)} photos" if self.gallery else "none",
        )

    @property
    def version(self) -> str:
        return self.model.version

    def identify(self, photos: Sequence[Photo], crop: str | None = None) -> Identification:
        """1 to 5 photos of one specimen, on the crop the user named (a catalog crop id or
        ``other``); raises ``model.imaging.ImageError`` on a bad one."""
        return self.identifier.identify(photos, crop=crop)

    def thumbnail(self, photo_id: str) -> bytes:
        """A reference photo's thumbnail (JPEG) from the gallery pack."""
        if self.gallery is None:
            raise KeyError(f"no gallery to show {photo_id} from")
        return self.gallery.thumbnail(photo_id)


def _open(model: InstalledModel) -> Gallery | None:
    """The model's gallery pack, or None: a damaged pack costs the similar photos, never the
    answer."""
    if model.gallery_pack is None:
        return None
    try:
        return open_gallery(model.gallery_pack, model_version=model.version)
    except GalleryError as exc:
        log.error("gallery pack unusable, answering without similar photos: %s", exc)
        return None
