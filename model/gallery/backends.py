"""The registry of gallery backends: one name for each place the vectors can live.

Backends are imported only when asked for by name, so the field app, which has neither
qdrant-client nor qdrant-edge-py, runs the numpy ones without them. Add a backend by writing a
:class:`~model.gallery.base.VectorIndex` and naming it here.
"""

import importlib

from model.gallery.base import GalleryError, IndexSpec, VectorIndex
from model.settings import Settings

BACKENDS: dict[str, str] = {
    "exact": "model.gallery.exact:ExactIndex",
    "compact": "model.gallery.exact:CompactIndex",
    "qdrant-local": "model.gallery.qdrant:QdrantIndex",
    "qdrant-edge": "model.gallery.edge:EdgeIndex",
    "qdrant-server": "model.gallery.qdrant:QdrantServerIndex",
}
# Chosen by measurement (docs/performance.md, 100k vectors, one core): Qdrant's embedded engine
# answers in 1.1 ms (p99 1.5 ms) at recall@10 0.996, against 3.8 ms (p99 9.9 ms) for compact
# and 30 ms for exact; loading and syncing a 10k-photo index take 0.2 s, adding photos 0.1 s.
# compact is the choice where qdrant-edge-py is not installed: no dependency, within the target.
DEFAULT_BACKEND = "qdrant-edge"
_PACKAGES = {"qdrant_client": "qdrant-client", "qdrant_edge": "qdrant-edge-py"}


def backend_name(settings: Settings) -> str:
    """The configured backend: ``gallery_backend``, else the server when ``qdrant_url`` is set,
    else the embedded default."""
    if settings.gallery_backend:
        return settings.gallery_backend
    return "qdrant-server" if settings.qdrant_url else DEFAULT_BACKEND


def index_class(name: str) -> type[VectorIndex]:
    try:
        module_name, class_name = BACKENDS[name].split(":")
    except KeyError:
        raise GalleryError(
            f"unknown gallery backend {name!r}; one of: {', '.join(BACKENDS)}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        package = _PACKAGES.get(str(exc.name))
        if package is None:
            raise
        raise GalleryError(f"the {name} gallery backend needs {package}: pip install it") from None
    cls: type[VectorIndex] = getattr(module, class_name)
    return cls


def create_index(name: str, spec: IndexSpec) -> VectorIndex:
    """Open the named backend's index for a gallery (empty until synced)."""
    return index_class(name).from_spec(spec)
