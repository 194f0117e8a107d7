"""Qdrant's embedded engine (``qdrant-edge-py``), the server's default backend: Qdrant's own HNSW
index in-process, one shard in ``index/qdrant-edge/`` of the gallery folder (the choice is
measured in ``bench/gallery.py``); points are keyed as in ``model.gallery.points``.
"""

import logging
import shutil
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import qdrant_edge as edge
from tqdm import tqdm

from model.gallery.base import IndexSpec, PersistentIndex
from model.gallery.points import HNSW_EF, SCROLL_PAGE, UPSERT_BATCH, photo_of, point_id

log = logging.getLogger(__name__)

# Qdrant's default graph (16 links a node, 100 candidates while building).
HNSW = edge.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000)


class EdgeIndex(PersistentIndex):
    name: ClassVar[str] = "qdrant-edge"

    def __init__(self, shard: edge.EdgeShard) -> None:
        self.shard = shard

    @classmethod
    def from_spec(cls, spec: IndexSpec) -> "EdgeIndex":
        folder = spec.folder / "index" / cls.name
        if folder.is_dir() and any(folder.iterdir()):
            try:
                return cls(edge.EdgeShard.load(str(folder)))
            except Exception as exc:  # the engine raises bare Exceptions
                # The index is derived data: the gallery folder rebuilds it (sync on open).
                log.warning("%s unreadable (%s): rebuilding it from the gallery", folder, exc)
                shutil.rmtree(folder)
        config = edge.EdgeConfig(
            vectors=edge.EdgeVectorParams(size=spec.dims, distance=edge.Distance.Cosine),
            hnsw_config=HNSW,
            # No write-ahead log: changes are flushed by commit(), the index can be rebuilt from
            # the folder, and without the log's lock every worker process of the service can
            # open the shard (only `iriis gallery build`, or the first opener, writes).
            wal_enabled=False,
        )
        return cls(edge.EdgeShard.create(str(folder), config))

    def stored_ids(self) -> set[str]:
        ids: set[str] = set()
        offset = None
        while True:
            records, offset = self.shard.scroll(
                edge.ScrollRequest(
                    offset=offset, limit=SCROLL_PAGE, with_payload=False, with_vector=False
                )
            )
            ids.update(photo_of(record.id) for record in records)  # type: ignore[arg-type]
            if offset is None:
                return ids

    def add(self, ids: Sequence[str], embeddings: np.ndarray) -> None:
        for start in tqdm(range(0, len(ids), UPSERT_BATCH), desc=f"{self.name} upsert"):
            points = [
                edge.Point(point_id(photo), vector.tolist())
                for photo, vector in zip(
                    ids[start : start + UPSERT_BATCH],
                    np.asarray(embeddings[start : start + UPSERT_BATCH], dtype=np.float32),
                    strict=True,
                )
            ]
            self.shard.update(edge.UpdateOperation.upsert_points(points))

    def remove(self, ids: Sequence[str]) -> None:
        self.shard.update(edge.UpdateOperation.delete_points([point_id(p) for p in ids]))

    def commit(self) -> None:
        """Build the HNSW graph now rather than on the first queries, and write to disk."""
        self.shard.optimize()
        self.shard.flush()

    def search(self, embedding: np.ndarray, k: int) -> list[tuple[str, float]]:
        request = edge.QueryRequest(
            limit=k,
            query=edge.Query.Nearest(np.asarray(embedding, dtype=np.float32).tolist()),
            params=edge.SearchParams(hnsw_ef=max(HNSW_EF, k)),
            with_payload=False,
        )
        return [(photo_of(point.id), float(point.score)) for point in self.shard.query(request)]  # type: ignore[arg-type]

    def close(self) -> None:
        self.shard.close()
