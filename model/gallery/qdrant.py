"""Qdrant through qdrant-client: its local mode (a folder, searched in pure Python) and a Qdrant
server or cluster selected by URL, the scale-out path. Both send the very same requests, built
by the small functions below so that they can be checked without a server.

Points are keyed by the photo id read as an unsigned 64-bit integer (Qdrant's integer ids), and
carry no payload: labels and sources come from the gallery's own ``gallery.json``, which every
machine serving the gallery has, with the thumbnails.

Server configuration (settings): ``qdrant_url`` (``http://host:6333``; ``https://`` for a cloud
cluster) and ``qdrant_api_key``. Each model version gets its own collection,
``iriis-gallery-<version>``, so a new model is rolled out beside the old one.
"""

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from qdrant_client import QdrantClient, models
from tqdm import tqdm

from model.gallery.base import GalleryError, IndexSpec, PersistentIndex
from model.gallery.points import HNSW_EF, SCROLL_PAGE, UPSERT_BATCH, photo_of, point_id

LOCAL_COLLECTION = "gallery"
SERVER_COLLECTION_PREFIX = "iriis-gallery-"


def collection_request(dims: int) -> models.CreateCollection:
    return models.CreateCollection(
        vectors=models.VectorParams(size=dims, distance=models.Distance.COSINE)
    )


def upsert_request(ids: Sequence[str], embeddings: np.ndarray) -> models.Batch:
    return models.Batch(
        ids=[point_id(photo) for photo in ids],
        vectors=np.asarray(embeddings, dtype=np.float32).tolist(),
    )


def delete_request(ids: Sequence[str]) -> models.PointIdsList:
    return models.PointIdsList(points=[point_id(photo) for photo in ids])


def query_request(embedding: np.ndarray, k: int, hnsw_ef: int | None) -> models.QueryRequest:
    return models.QueryRequest(
        query=np.asarray(embedding, dtype=np.float32).tolist(),
        limit=k,
        params=models.SearchParams(hnsw_ef=max(hnsw_ef, k)) if hnsw_ef else None,
        with_payload=False,
    )


class QdrantIndex(PersistentIndex):
    """A collection reached through a ``QdrantClient``, local or remote alike."""

    name: ClassVar[str] = "qdrant-local"
    hnsw_ef: ClassVar[int | None] = None  # the local mode always searches exhaustively

    def __init__(self, client: QdrantClient, collection: str, dims: int) -> None:
        self.client = client
        self.collection = collection
        self.dims = dims

    @classmethod
    def from_spec(cls, spec: IndexSpec) -> "QdrantIndex":
        folder = spec.folder / "index" / cls.name
        folder.mkdir(parents=True, exist_ok=True)
        return cls(QdrantClient(path=str(folder)), LOCAL_COLLECTION, spec.dims)

    def stored_ids(self) -> set[str]:
        if not self.client.collection_exists(self.collection):
            return set()
        ids: set[str] = set()
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection,
                limit=SCROLL_PAGE,
                offset=offset,
                with_payload=False,
                with_vectors=False,
            )
            ids.update(photo_of(record.id) for record in records)  # type: ignore[arg-type]
            if offset is None:
                return ids

    def add(self, ids: Sequence[str], embeddings: np.ndarray) -> None:
        if not self.client.collection_exists(self.collection):
            request = collection_request(self.dims)
            self.client.create_collection(self.collection, vectors_config=request.vectors)
        for start in tqdm(range(0, len(ids), UPSERT_BATCH), desc=f"{self.name} upsert"):
            batch = upsert_request(
                ids[start : start + UPSERT_BATCH], embeddings[start : start + UPSERT_BATCH]
            )
            self.client.upsert(self.collection, points=batch, wait=True)

    def remove(self, ids: Sequence[str]) -> None:
        self.client.delete(self.collection, points_selector=delete_request(ids), wait=True)

    def search(self, embedding: np.ndarray, k: int) -> list[tuple[str, float]]:
        response = self.client.query_batch_points(
            self.collection, requests=[query_request(embedding, k, self.hnsw_ef)]
        )
        return [(photo_of(point.id), float(point.score)) for point in response[0].points]  # type: ignore[arg-type]

    def close(self) -> None:
        self.client.close()


class QdrantServerIndex(QdrantIndex):
    """A Qdrant server or cluster named by the ``qdrant_url`` setting."""

    name: ClassVar[str] = "qdrant-server"
    hnsw_ef: ClassVar[int | None] = HNSW_EF

    @classmethod
    def from_spec(cls, spec: IndexSpec) -> "QdrantIndex":
        settings = spec.settings
        if not settings.qdrant_url:
            raise GalleryError("the qdrant-server backend needs IRIIS_QDRANT_URL")
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        # No version check at start-up: it would be a request, and a server that is down
        # should fail the first query with its own error, not the opening of the gallery.
        client = QdrantClient(url=settings.qdrant_url, api_key=key, check_compatibility=False)
        return cls(client, SERVER_COLLECTION_PREFIX + spec.model_version, spec.dims)
