"""How the Qdrant backends (qdrant-client's and the embedded engine's) key and move points.

Qdrant ids are unsigned 64-bit integers or UUIDs: a photo id, 16 hex digits, is exactly a u64.
"""

# Qdrant's HNSW search breadth: 128 gives recall@10 of 0.99 and more (bench/gallery.py).
HNSW_EF = 128
UPSERT_BATCH = 256  # points a request: about 1.5 MB of JSON at 1,280 dimensions
SCROLL_PAGE = 10_000


def point_id(photo: str) -> int:
    return int(photo, 16)


def photo_of(point: int | str) -> str:
    return f"{int(point):016x}"
