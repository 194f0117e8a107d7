"""The gallery folder, ``IRIIS_HOME/galleries/<model_version>/``: the server's gallery.

::

    gallery.json            model_version, dims, count, items (photo_id, label, source,
                            license, sha256, file) in the order of the embedding rows;
                            projection: null (the rows are the model's own embeddings)
    embeddings.npy          (count, dims) float32, unit-length rows
    pca.npy                 (dims, d) float32: the compact backend's projection, refit at
                            each build
    thumbs/<photo_id>.jpg   about 128 px, no EXIF
    index/<backend>/        persistent local indexes (qdrant-local, qdrant-edge), opened and
                            synced by one process at a time (index/.lock)
    gallery-<version>.zip   the field app's pack (``iriis gallery pack``)
    built-from.json         the bank it was built from (folder, manifest) and that bank's stamp
                            then (``model.gallery.build.bank_stamp``): unchanged, nothing to do
    partial/<n>.npz         while a build runs: the photos embedded so far (ids, embeddings),
                            what a build interrupted half-way resumes from; removed at the end
    progress.json           while a build runs: photos done and to do, for the service's
                            /readyz; removed at the end
    .build.lock             one build of the folder at a time (a service's background one, an
                            operator's ``iriis gallery build``)

``gallery.json`` is written last, so a build interrupted half-way leaves either the previous
gallery or one whose row count does not match, which the next build starts afresh (from the
photos ``partial/`` holds).
"""

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.gallery.backends import index_class
from model.gallery.base import Gallery, GalleryError, GalleryInfo, IndexSpec, PersistentIndex
from model.settings import Settings

log = logging.getLogger(__name__)

ITEM_FIELDS = ("photo_id", "label", "source", "license", "sha256", "file")


@dataclass(frozen=True)
class GalleryFolder:
    root: Path

    @property
    def info_path(self) -> Path:
        return self.root / "gallery.json"

    @property
    def embeddings_path(self) -> Path:
        return self.root / "embeddings.npy"

    @property
    def pca_path(self) -> Path:
        return self.root / "pca.npy"

    @property
    def thumbs_dir(self) -> Path:
        return self.root / "thumbs"

    def thumbnail_path(self, photo: str) -> Path:
        return self.thumbs_dir / f"{photo}.jpg"

    def pack_path(self, version: str) -> Path:
        return self.root / f"gallery-{version}.zip"

    @property
    def source_path(self) -> Path:
        return self.root / "built-from.json"

    @property
    def partial_dir(self) -> Path:
        return self.root / "partial"

    @property
    def progress_path(self) -> Path:
        return self.root / "progress.json"

    def exists(self) -> bool:
        return self.info_path.is_file()

    def building(self) -> AbstractContextManager[None]:
        """Held while building: a second build of the same folder (the service's background
        one and an operator's, two workers of the service) waits for the first, then finds
        nothing left to embed."""
        return _exclusive(self.root / ".build.lock")

    def read(self) -> tuple[GalleryInfo, np.ndarray]:
        """The description and the embeddings (memory-mapped: a large gallery is paged in as
        searched, not read whole)."""
        if not self.exists():
            raise GalleryError(f"no gallery in {self.root}: run `iriis gallery build`")
        try:
            info = GalleryInfo.from_dict(json.loads(self.info_path.read_text(encoding="utf-8")))
            embeddings = np.load(self.embeddings_path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise GalleryError(f"{self.root}: unreadable gallery ({exc}): rebuild it") from None
        if embeddings.shape != (len(info.items), info.dims):
            raise GalleryError(
                f"{self.root}: embeddings.npy has shape {embeddings.shape}, gallery.json says "
                f"({len(info.items)}, {info.dims}): rebuild it"
            )
        return info, embeddings

    def write(self, info: GalleryInfo, embeddings: np.ndarray, pca: np.ndarray) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        replace_atomically(self.embeddings_path, lambda path: np.save(path, embeddings))
        replace_atomically(self.pca_path, lambda path: np.save(path, pca))
        text = json.dumps(info.to_dict(ITEM_FIELDS), ensure_ascii=False, indent=1) + "\n"
        replace_atomically(self.info_path, lambda path: path.write_text(text, encoding="utf-8"))

    def remove_thumbnails_except(self, keep: Iterable[str]) -> None:
        """Delete thumbnails of photos no longer in the gallery (and leftovers of an
        interrupted build)."""
        wanted = {f"{photo}.jpg" for photo in keep}
        for path in self.thumbs_dir.glob("*.jpg"):
            if path.name not in wanted:
                path.unlink()

    def open(self, backend: str, settings: Settings) -> Gallery:
        """The gallery searched by ``backend``, whose index is first brought in step with the
        folder (a persistent index only writes what changed since the last build)."""
        info, embeddings = self.read()
        pca = np.load(self.pca_path) if self.pca_path.is_file() else None
        spec = IndexSpec(self.root, info.model_version, info.dims, settings, pca)
        cls = index_class(backend)
        persistent = issubclass(cls, PersistentIndex)
        with _exclusive(self.root / "index" / ".lock") if persistent else nullcontext():
            index = cls.from_spec(spec)
            try:
                index.sync([item.photo_id for item in info.items], embeddings)
            except BaseException:
                index.close()
                raise
        log.debug("gallery %s: %d photos, %s backend", info.model_version, len(info.items), backend)
        return Gallery(info, index, self._read_thumbnail)

    def _read_thumbnail(self, photo: str) -> bytes:
        return self.thumbnail_path(photo).read_bytes()


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write beside ``path`` then rename: readers never see half a file."""
    partial = path.with_name(f".{path.name}.partial{path.suffix}")
    write(partial)
    os.replace(partial, path)


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """One process at a time opens and syncs a persistent index: the service's workers start
    together, and the first brings a stale index in step while the others wait, then find
    nothing to write (POSIX file lock: the server is Linux; phones read packs)."""
    import fcntl  # here, not at the top: the field app reads packs, on any system

    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
