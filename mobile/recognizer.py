"""On-device identification: the shared identifier (``model/``) on the active model, int8, with
the most similar reference photos from the model's gallery pack.

The app never reimplements inference: it answers with the identifier ``mobile.modelstore``
loaded on the active bundle (``model.identifier.Identifier``, the int8 graph and the catalog's
groups, its trial identification passed before the model was made active), adding the gallery,
so a phone answers exactly as the API's int8 variant would.
"""

import logging
from collections.abc import Callable, Collection, Sequence

from mobile.modelstore import InstalledModel
from model.gallery import Gallery, GalleryError, open_gallery
from model.identifier import Identifier, Photo
from model.result import Identification

log = logging.getLogger(__name__)


class Recognizer:
    def __init__(
        self,
        model: InstalledModel,
        identifier: Identifier,
        withdrawn: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        """``withdrawn``: the gallery photos not to show, read at each answer (the last sync's
        list, ``ModelStore.withdrawn``)."""
        self.model = model
        self.withdrawn = withdrawn
        self.gallery = _open(model)
        self.identifier = identifier.with_gallery(self.gallery)
        log.info(
            "identifier ready: model %s (int8), gallery: %s",
            model.version,
            f"{len(self.gallery)} photos" if self.gallery else "none",
        )

    @property
    def version(self) -> str:
        return self.model.version

    def identify(self, photos: Sequence[Photo], crop: str | None = None) -> Identification:
        """1 to 5 photos of one specimen, on the crop the user named (a catalog crop id or
        ``other``); raises ``model.imaging.ImageError`` on a bad one."""
        return self.identifier.identify(photos, crop=crop, hidden=self.withdrawn())

    def thumbnail(self, photo_id: str) -> bytes:
        """A reference photo's thumbnail (JPEG) from the gallery pack; ``KeyError`` for one
        not in it or withdrawn."""
        if self.gallery is None:
            raise KeyError(f"no gallery to show {photo_id} from")
        if photo_id in self.withdrawn():
            raise KeyError(f"reference photo {photo_id} was withdrawn")
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
