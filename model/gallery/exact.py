"""Numpy backends: exact search, and the compact two-stage search that is the embedded default.

Exact search scores every stored vector: one matrix-vector product. It is what the field app
runs on its pack and the reference the other backends' recall is measured against.

Compact search scans a PCA projection of the embeddings (64 dimensions by default, a twentieth
of the bytes to read), then re-ranks its best candidates exactly on the full embeddings. PCA alone
loses too much (recall@10 0.86 at 256 dimensions on the bank) but the true neighbours are almost
always among the first few hundred candidates, so the re-ranking restores exact results at a
fraction of the cost (figures in ``docs/performance.md``).
"""

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from model.gallery.base import GalleryError, IndexSpec, VectorIndex, normalise

_CHUNK = 1 << 16


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest scores, best first (a partial sort: O(n), not n log n)."""
    k = min(k, scores.shape[0])
    rows = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(k)
    return rows[np.argsort(-scores[rows], kind="stable")]


def fit_projection(embeddings: np.ndarray, dims: int) -> np.ndarray:
    """The ``dims`` principal directions of the embeddings, as a (D, dims) float32 matrix.

    Not centred: the projection must preserve dot products between unit vectors (cosine), which
    the leading eigenvectors of E^T E do best in the least-squares sense, and a pure linear map
    is all the field app's pack can describe.
    """
    matrix = np.asarray(embeddings, dtype=np.float64)
    if matrix.shape[0] < matrix.shape[1]:  # fewer photos than dimensions: the SVD is cheaper
        directions = np.linalg.svd(matrix, full_matrices=False)[2].T
    else:
        values, vectors = np.linalg.eigh(matrix.T @ matrix)
        directions = vectors[:, np.argsort(-values, kind="stable")]
    return np.ascontiguousarray(directions[:, :dims], dtype=np.float32)


class ExactIndex(VectorIndex):
    """Every stored vector scored for every query: exact, in memory, no dependency."""

    name: ClassVar[str] = "exact"

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)

    @classmethod
    def from_spec(cls, spec: IndexSpec) -> "ExactIndex":
        return cls()

    def sync(self, ids: Sequence[str], embeddings: np.ndarray) -> None:
        self._ids = list(ids)
        self._vectors = np.ascontiguousarray(embeddings, dtype=np.float32)

    def search(self, embedding: np.ndarray, k: int) -> list[tuple[str, float]]:
        scores = self._vectors @ embedding
        return [(self._ids[row], float(scores[row])) for row in top_rows(scores, k)]


class CompactIndex(VectorIndex):
    """A scan of PCA-projected vectors, then an exact re-ranking of the best ``candidates`` on
    the full embeddings (kept as given: a memory map stays one)."""

    name: ClassVar[str] = "compact"
    # Measured at 100k vectors (bench/gallery.py): with 64 dimensions, 400 candidates give
    # recall@10 0.997 in 3.8 ms, where 128 dimensions and 200 candidates take 5 ms for the same.
    CANDIDATES: ClassVar[int] = 400

    def __init__(self, projection: np.ndarray, candidates: int = CANDIDATES) -> None:
        self.projection = np.asarray(projection, dtype=np.float32)
        self.candidates = candidates
        self._ids: list[str] = []
        self._coarse = np.zeros((0, self.projection.shape[1]), dtype=np.float32)
        self._full: np.ndarray = np.zeros((0, self.projection.shape[0]), dtype=np.float32)

    @classmethod
    def from_spec(cls, spec: IndexSpec) -> "CompactIndex":
        if spec.pca is None:
            raise GalleryError(f"{spec.folder}: no pca.npy for the compact backend: rebuild")
        return cls(spec.pca)

    def sync(self, ids: Sequence[str], embeddings: np.ndarray) -> None:
        self._ids = list(ids)
        self._full = embeddings
        self._coarse = np.zeros((len(ids), self.projection.shape[1]), dtype=np.float32)
        for start in range(0, len(ids), _CHUNK):  # in chunks: a million rows fit in memory
            chunk = np.asarray(embeddings[start : start + _CHUNK], dtype=np.float32)
            self._coarse[start : start + len(chunk)] = normalise(chunk @ self.projection)

    def search(self, embedding: np.ndarray, k: int) -> list[tuple[str, float]]:
        coarse = self._coarse @ normalise(embedding @ self.projection)
        candidates = np.sort(top_rows(coarse, max(k, self.candidates)))  # sorted: faster gather
        scores = np.asarray(self._full[candidates], dtype=np.float32) @ embedding
        return [(self._ids[candidates[row]], float(scores[row])) for row in top_rows(scores, k)]
