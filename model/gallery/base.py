"""The gallery's vocabulary: its items, its description, the vector-index interface every backend
implements, and the :class:`Gallery` that answers "which reference photos look like this one".

A gallery is a fixed set of reference photos embedded by one model version. Searching is
delegated to a :class:`VectorIndex` (exact numpy, compact numpy, Qdrant...), so that the API, the
field app and the bench call the same ``query`` whatever holds the vectors.
"""

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from model.result import Neighbour
from model.settings import Settings

log = logging.getLogger(__name__)

PHOTO_ID_LENGTH = 16


class GalleryError(RuntimeError):
    """A gallery that is missing, corrupt, built by another model or cannot be searched."""


def photo_id(sha256: str) -> str:
    """A reference photo's public id: the first 16 hex digits of its content hash, stable across
    bank versions and short enough for URLs and file names (64 bits: no collision in practice,
    and the build checks)."""
    return sha256[:PHOTO_ID_LENGTH]


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero), as float32: cosine becomes a dot."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


@dataclass(frozen=True)
class GalleryItem:
    """One reference photo. ``sha256`` and ``file`` are known to the server's gallery only; the
    field app's pack carries what a user sees."""

    photo_id: str
    label: str
    source: str = ""
    license: str = ""
    sha256: str = ""
    file: str = ""

    def to_dict(self, fields: Sequence[str] | None = None) -> dict[str, str]:
        data = asdict(self)
        return {key: data[key] for key in fields} if fields else data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GalleryItem":
        return cls(**{key: str(data.get(key, "")) for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class GalleryInfo:
    """What ``gallery.json`` says, in the gallery folder and in the pack alike: the model that
    made the embeddings, their dimensions, the items in the order of the embedding rows, and the
    optional projection file."""

    model_version: str
    dims: int
    items: tuple[GalleryItem, ...]
    projection: str | None = None

    def to_dict(self, item_fields: Sequence[str] | None = None) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "dims": self.dims,
            "count": len(self.items),
            "projection": self.projection,
            "items": [item.to_dict(item_fields) for item in self.items],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GalleryInfo":
        try:
            items = tuple(GalleryItem.from_dict(item) for item in data["items"])
            info = cls(
                model_version=str(data["model_version"]),
                dims=int(data["dims"]),
                items=items,
                projection=data.get("projection"),
            )
            count = int(data["count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GalleryError(f"gallery.json is incomplete or malformed ({exc!r})") from None
        if count != len(items):
            raise GalleryError(f"gallery.json lists {len(items)} items but says {count}")
        return info


@dataclass(frozen=True)
class IndexSpec:
    """What a backend may need to open its index: persistent local indexes live in
    ``folder/index/<backend>/``, a server keeps one collection per ``model_version``, and
    ``pca`` is the projection fitted at build (``pca.npy``)."""

    folder: Path
    model_version: str
    dims: int
    settings: Settings
    pca: np.ndarray | None = None


class VectorIndex(ABC):
    """A backend holding the gallery's embeddings, keyed by photo id. The registry in
    ``model.gallery.backends`` creates them by name; all return cosine similarities."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: IndexSpec) -> "VectorIndex":
        """Open (or create, empty) this backend's index for a gallery."""

    @abstractmethod
    def sync(self, ids: Sequence[str], embeddings: np.ndarray) -> None:
        """Make the index hold exactly these photos (unit-length rows, in ``ids`` order); a
        persistent index only writes the difference with what it already holds."""

    @abstractmethod
    def search(self, embedding: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` most similar photos to one unit-length embedding, best first."""

    def close(self) -> None:  # noqa: B027 - a no-op default, not a method to implement
        """Release files or connections (nothing to do for in-memory indexes)."""


class PersistentIndex(VectorIndex):
    """An index that keeps its vectors between runs (on disk or on a server): syncing writes only
    the photos added to or removed from the gallery since the last build."""

    @abstractmethod
    def stored_ids(self) -> set[str]:
        """The photo ids the index holds now."""

    @abstractmethod
    def add(self, ids: Sequence[str], embeddings: np.ndarray) -> None: ...

    @abstractmethod
    def remove(self, ids: Sequence[str]) -> None: ...

    def commit(self) -> None:
        """Make written changes durable and searchable (index building, flushing)."""

    def sync(self, ids: Sequence[str], embeddings: np.ndarray) -> None:
        stored = self.stored_ids()
        wanted = set(ids)
        gone = sorted(stored - wanted)
        new = [row for row, photo in enumerate(ids) if photo not in stored]
        if gone:
            self.remove(gone)
        if new:
            self.add([ids[row] for row in new], embeddings[new])
        if gone or new:
            self.commit()
            log.info("%s index: %d photos added, %d removed", self.name, len(new), len(gone))


class Gallery:
    """Reference photos searchable by embedding, with their thumbnails.

    ``query`` takes the model's embedding of a photo (what ``Identifier.infer`` returns) and gives
    the most similar reference photos as :class:`~model.result.Neighbour`; ``thumbnail`` gives a
    small JPEG of one of them for display.
    """

    def __init__(
        self,
        info: GalleryInfo,
        index: VectorIndex,
        read_thumbnail: Callable[[str], bytes],
        projection: np.ndarray | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """``projection`` (model dims x stored dims) maps a query into the space of stored
        vectors that were projected to save room (a compact pack); ``None`` when the index holds
        the model's own embeddings."""
        self.info = info
        self.index = index
        self.projection = projection
        self.embedding_dims = info.dims if projection is None else projection.shape[0]
        self._items = {item.photo_id: item for item in info.items}
        self._read_thumbnail = read_thumbnail
        self._on_close = on_close

    @property
    def model_version(self) -> str:
        """The model whose embeddings the gallery holds: query it with that model's only."""
        return self.info.model_version

    @property
    def items(self) -> tuple[GalleryItem, ...]:
        return self.info.items

    def __len__(self) -> int:
        return len(self.info.items)

    def item(self, photo: str) -> GalleryItem:
        try:
            return self._items[photo]
        except KeyError:
            raise KeyError(f"no photo {photo!r} in the gallery of {self.model_version}") from None

    def query(
        self, embedding: np.ndarray, k: int = 10, exclude: Collection[str] = ()
    ) -> list[Neighbour]:
        """The ``k`` reference photos most similar to ``embedding`` (cosine), best first.

        ``exclude`` leaves out given photo ids: the gallery holds the whole bank, test photos
        included, so a metric computed on a bank photo must not count the photo itself; and a
        case photo its owner withdrew after the gallery was built is shown to nobody.
        """
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.embedding_dims:
            raise ValueError(
                f"a {vector.shape[0]}-d embedding for a gallery of {self.embedding_dims}-d ones: "
                f"query with model {self.model_version}'s embeddings"
            )
        limit = min(len(self), k + len(exclude))
        if limit <= 0:
            return []
        if self.projection is not None:
            vector = vector @ self.projection
        hits = [hit for hit in self.index.search(normalise(vector), limit) if hit[0] not in exclude]
        return [
            Neighbour(
                label=self._items[photo].label,
                similarity=round(score, 6),
                photo_id=photo,
                source=self._items[photo].source,
            )
            for photo, score in hits[:k]
        ]

    def thumbnail(self, photo: str) -> bytes:
        """A small JPEG of a reference photo (no EXIF); ``KeyError`` for an unknown id, checked
        before any file is touched, so an id from a request cannot name another file."""
        self.item(photo)
        return self._read_thumbnail(photo)

    def close(self) -> None:
        self.index.close()
        if self._on_close:
            self._on_close()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
