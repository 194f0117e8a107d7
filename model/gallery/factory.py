"""``open_gallery``: the one way the API, the field app and the CLI get a gallery."""

from pathlib import Path

from model.gallery.backends import backend_name
from model.gallery.base import Gallery, GalleryError
from model.gallery.folder import GalleryFolder
from model.gallery.pack import PackedGallery
from model.settings import Settings, get_settings


def open_gallery(
    location: Path | str | None = None,
    *,
    model_version: str | None = None,
    backend: str | None = None,
    url: str | None = None,
    settings: Settings | None = None,
) -> Gallery:
    """Open a gallery for searching.

    ``location`` is a pack (``*.zip``: the field app's exact numpy search) or a gallery folder;
    by default, the folder of ``model_version`` under ``IRIIS_HOME/galleries``. A folder is
    searched by ``backend`` (by default the configured one, ``backends.backend_name``); ``url``
    names a Qdrant server and selects the ``qdrant-server`` backend. ``model_version``, when
    given, must be the gallery's: an embedding from another model would find nonsense.
    """
    settings = settings or get_settings()
    if url:
        settings = settings.model_copy(update={"qdrant_url": url})
        backend = backend or "qdrant-server"
    if location is None:
        if model_version is None:
            raise ValueError("open_gallery needs a location or a model_version")
        location = settings.galleries_dir / model_version
    path = Path(location)
    if path.suffix == ".zip":
        gallery: Gallery = PackedGallery(path)
    else:
        gallery = GalleryFolder(path).open(backend or backend_name(settings), settings)
    if model_version is not None and gallery.model_version != model_version:
        gallery.close()
        raise GalleryError(
            f"{path} is the gallery of model {gallery.model_version}, not {model_version}"
        )
    return gallery
