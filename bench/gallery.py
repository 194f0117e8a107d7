"""Gallery speed and recall, per backend; the whole bank's build time and the pack's size.

    python bench/gallery.py build    # embeds the whole bank from scratch: build, rebuild, packs
    OPENBLAS_NUM_THREADS=1 python bench/gallery.py search   # p50/p99, recall@10

``build`` works in ``IRIIS_HOME/bench-gallery/`` (the service's own gallery is not touched) and
writes bench/results/gallery-build.json. ``search`` times ``Gallery.query`` (projection,
search, neighbours) one query at a time at 10k vectors (the bank's real embeddings, each photo
querying for the others), 100k and 1M (synthetic: a real embedding moved part of the way towards
another of the same label, plus a little noise, normalised: more photos like the bank's), with
recall@10 against exact search on the full 1,280-d embeddings, and writes
bench/results/gallery-search.json. Both update their section of docs/performance.md.
"""

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import save, summary_ms, update_section
from model.bundle import latest_bundle
from model.gallery.backends import DEFAULT_BACKEND, backend_name, create_index
from model.gallery.base import Gallery, GalleryInfo, GalleryItem, IndexSpec, normalise
from model.gallery.build import build_gallery
from model.gallery.exact import CompactIndex, fit_projection, top_rows
from model.gallery.folder import GalleryFolder
from model.gallery.pack import PackedGallery, write_pack
from model.identifier import open_identifier
from model.settings import Settings, get_settings

log = logging.getLogger("bench.gallery")

K = 10
PACK_DIMS = (None, 256)
# backend -> sizes it is measured at. qdrant-client's local mode takes minutes to insert 10k
# points (its storage is rewritten batch by batch), hours for 100k: 10k only.
BACKENDS = {
    "exact": ("10k", "100k"),
    "compact": ("10k", "100k", "1M"),
    "qdrant-local": ("10k",),
    "qdrant-edge": ("10k", "100k", "1M"),
}
SIZE_QUERIES = {"1M": 100}  # exact answers for recall cost a full scan each
COMPACT_SWEEP = ((32, 400), (64, 200), (64, 400), (128, 200), (128, 400), (256, 400))
CHUNK = 1 << 16


def _bench_settings() -> Settings:
    settings = get_settings()
    return settings.model_copy(update={"home": settings.home / "bench-gallery"})


# --- build ------------------------------------------------------------------------------------


def bench_build(threads: int) -> dict[str, Any]:
    settings = _bench_settings()
    shutil.rmtree(settings.home, ignore_errors=True)
    load_before = os.getloadavg()[0]
    identifier = open_identifier(latest_bundle(settings.bundles_dir), threads=threads)
    folder = GalleryFolder(settings.galleries_dir / identifier.version)
    dims = settings.gallery_projection_dims

    def timed(run: Callable[[], Any]) -> tuple[Any, float]:
        start = time.perf_counter()
        result = run()
        return result, round(time.perf_counter() - start, 1)

    report, build_s = timed(lambda: build_gallery(identifier, settings.bank_dir, folder, dims))
    backend = backend_name(settings)
    _, index_s = timed(lambda: folder.open(backend, settings).close())
    again, rebuild_s = timed(lambda: build_gallery(identifier, settings.bank_dir, folder, dims))
    packs = {}
    for pack_dims in PACK_DIMS:
        path, pack_s = timed(lambda d=pack_dims: write_pack(folder, dims=d))
        kept = path.with_name(f"{path.stem}-{pack_dims or 'full'}{path.suffix}")
        os.replace(path, kept)
        packs[str(pack_dims or "full")] = {
            "file": kept.name,
            "mb": round(kept.stat().st_size / 1e6, 1),
            "seconds": pack_s,
        }
    thumbs = sum(p.stat().st_size for p in folder.thumbs_dir.glob("*.jpg"))
    return {
        "bundle": identifier.version,
        "onnx_threads": threads,
        "photos": report.photos,
        "skipped": len(report.skipped),
        "build_s": build_s,
        "backend": backend,
        "index_s": index_s,
        "rebuild_nothing_new_s": rebuild_s,
        "rebuild_embedded": again.embedded,
        "thumbnails_mb": round(thumbs / 1e6, 1),
        "packs": packs,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def build_markdown(figures: dict[str, Any]) -> str:
    packs = figures["packs"]
    lines = [
        f"Bundle {figures['bundle']}, {figures['photos']:,} reference photos, ONNX Runtime on "
        f"{figures['onnx_threads']} threads; load average {figures['load_before']:.1f} before, "
        f"{figures['load_after']:.1f} after (shared machine, 2 cores).",
        "",
        "| what | figure |",
        "|---|---|",
        f"| embedding the whole bank from scratch (hashing, decoding, thumbnails, model) | "
        f"{figures['build_s']:.0f} s |",
        f"| then building the {figures['backend']} index | {figures['index_s']} s |",
        f"| rebuild with nothing new (hashing the bank) | {figures['rebuild_nothing_new_s']} s |",
        f"| thumbnails (128 px) on the server | {figures['thumbnails_mb']} MB |",
        f"| pack, full 1,280-d embeddings (default) | {packs['full']['mb']} MB |",
        f"| pack, `--dims 256` | {packs['256']['mb']} MB |",
        "",
        "Command: `python bench/gallery.py build` (bench/results/gallery-build.json).",
    ]
    return "\n".join(lines)


# --- search -----------------------------------------------------------------------------------


def _synthetic(real: np.ndarray, labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` unit vectors like the bank's: each a real embedding moved up to half-way
    towards another of its label, plus noise (float16: a million fit in 2.6 GB)."""
    rng = np.random.default_rng(seed)
    by_label = {label: np.flatnonzero(labels == label) for label in np.unique(labels)}
    out = np.empty((count, real.shape[1]), dtype=np.float16)
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        a = rng.integers(0, len(real), n)
        b = np.array([rng.choice(by_label[labels[i]]) for i in a])
        t = rng.uniform(0, 0.5, (n, 1)).astype(np.float32)
        noise = rng.normal(0, 0.1 / np.sqrt(real.shape[1]), (n, real.shape[1]))
        out[start : start + n] = normalise(real[a] + t * (real[b] - real[a]) + noise)
    return out


def _exact_top(vectors: np.ndarray, queries: np.ndarray, exclude: list[int | None]) -> list[set]:
    """The true top-k of each query over the full embeddings, by chunks."""
    scores = np.empty((len(queries), len(vectors)), dtype=np.float32)
    for start in range(0, len(vectors), CHUNK):
        chunk = np.asarray(vectors[start : start + CHUNK], dtype=np.float32)
        scores[:, start : start + len(chunk)] = queries @ chunk.T
    for row, own in enumerate(exclude):
        if own is not None:
            scores[row, own] = -np.inf
    return [set(top_rows(s, K).tolist()) for s in scores]


def _gallery(index: Any, count: int, labels: np.ndarray) -> Gallery:
    items = tuple(GalleryItem(f"{i:016x}", str(labels[i % len(labels)])) for i in range(count))
    return Gallery(GalleryInfo("bench", 1280, items), index, lambda photo: b"")


def _measure(
    galleries: dict[str, Gallery],
    queries: np.ndarray,
    truth: list[set],
    exclude: list[int | None],
    ids: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Time each gallery on the same queries, taking turns query by query, so that the load of
    this shared machine falls on all backends alike. ``ids`` are the photo ids of the rows
    (default: the row number in hex, as ``_gallery`` names them)."""
    row_of = {photo: row for row, photo in enumerate(ids)} if ids else None
    seconds: dict[str, list[float]] = {name: [] for name in galleries}
    recalls: dict[str, list[float]] = {name: [] for name in galleries}
    for query, true, own in zip(queries, truth, exclude, strict=True):
        skip = set() if own is None else {ids[own] if ids else f"{own:016x}"}
        for name, gallery in galleries.items():
            start = time.perf_counter()
            hits = gallery.query(query, k=K, exclude=skip)
            seconds[name].append(time.perf_counter() - start)
            rows = {row_of[h.photo_id] if row_of else int(h.photo_id, 16) for h in hits}
            recalls[name].append(len(rows & true) / K)
    return {
        name: {
            **summary_ms(seconds[name]),
            "recall_at_10": round(float(np.mean(recalls[name])), 4),
            "queries": len(seconds[name]),
        }
        for name in galleries
    }


def _open(
    name: str, spec: IndexSpec, vectors: np.ndarray, labels: np.ndarray
) -> tuple[Gallery, float]:
    index = create_index(name, spec)
    start = time.perf_counter()
    index.sync([f"{i:016x}" for i in range(len(vectors))], vectors)
    gallery = _gallery(index, len(vectors), labels)
    for query in vectors[:3]:  # warm-up: caches, lazily loaded graph
        gallery.query(np.asarray(query, dtype=np.float32), k=K)
    return gallery, round(time.perf_counter() - start, 1)


def bench_search(queries_per_size: int) -> dict[str, Any]:
    settings = _bench_settings()
    version = latest_bundle(settings.bundles_dir).name
    folder = GalleryFolder(settings.galleries_dir / version)
    info, stored = folder.read()
    real = np.asarray(stored, dtype=np.float32)
    labels = np.array([item.label for item in info.items])
    pca = fit_projection(real, settings.gallery_projection_dims)  # as `iriis gallery build`
    rng = np.random.default_rng(0)
    figures: dict[str, Any] = {
        "bundle": version,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "all cores"),
        "load_before": os.getloadavg()[0],
    }
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for size, count in (("10k", len(real)), ("100k", 100_000), ("1M", 1_000_000)):
            wanted = SIZE_QUERIES.get(size, queries_per_size)
            if size == "10k":
                rows = rng.choice(len(real), wanted, replace=False)
                vectors, queries = real, real[rows]
                exclude: list[int | None] = [int(r) for r in rows]
            else:
                _check_memory(count)
                vectors = _synthetic(real, labels, count, seed=count)
                queries = _synthetic(real, labels, wanted, seed=1).astype(np.float32)
                exclude = [None] * wanted
            truth = _exact_top(vectors, queries, exclude)
            galleries, index_s = {}, {}
            for name, sizes in BACKENDS.items():
                if size in sizes:
                    spec = IndexSpec(Path(scratch) / f"{name}-{size}", size, 1280, settings, pca)
                    galleries[name], index_s[name] = _open(name, spec, vectors, labels)
            measured = _measure(galleries, queries, truth, exclude)
            results[size] = {"vectors": len(vectors)}
            for name, row in measured.items():
                results[size][name] = {"index_s": index_s[name], **row}
                log.info("%s at %s: %s", name, size, results[size][name])
                galleries[name].close()
            if size == "100k":
                results[size]["compact sweep"] = _compact_sweep(
                    real, labels, vectors, queries, truth
                )
            del vectors
        ids = [item.photo_id for item in info.items]
        results["10k"]["packs"] = _packs(
            folder, ids, real, rng.choice(len(real), 200, replace=False)
        )
    figures["sizes"] = results
    figures["load_after"] = os.getloadavg()[0]
    return figures


def _compact_sweep(real, labels, vectors, queries, truth) -> dict[str, dict[str, float]]:
    """The compact backend's two levers, projection dimensions and re-ranked candidates."""
    galleries = {}
    for dims, candidates in tqdm(COMPACT_SWEEP, desc="compact sweep"):
        index = CompactIndex(fit_projection(real, dims), candidates)
        index.sync([f"{i:016x}" for i in range(len(vectors))], vectors)
        galleries[f"{dims} dims, {candidates} candidates"] = _gallery(index, len(vectors), labels)
    return _measure(galleries, queries, truth, [None] * len(queries))


def _check_memory(count: int) -> None:
    """Refuse to start a size that would push this shared machine into swapping or the OOM
    killer: float16 vectors, a float32 copy (exact, or the engine's storage), the exact scores
    for recall, and a quarter more for the rest."""
    queries = SIZE_QUERIES.get("1M" if count >= 1_000_000 else "", 200)
    needed = 1.25 * count * (1280 * (2 + 4) + 4 * queries)
    with open("/proc/meminfo", encoding="ascii") as handle:
        meminfo = dict(line.split(":", 1) for line in handle)
    available = int(meminfo["MemAvailable"].split()[0]) * 1024
    if available < needed:
        raise SystemExit(
            f"{available / 1e9:.1f} GB free, {needed / 1e9:.1f} GB needed for {count:,} "
            "vectors: try later"
        )


def _packs(
    folder: GalleryFolder, ids: list[str], real: np.ndarray, rows: np.ndarray
) -> dict[str, Any]:
    """The field app's search over each pack `build` made (exact numpy, as on the phone)."""
    exclude: list[int | None] = [int(r) for r in rows]
    truth = _exact_top(real, real[rows], exclude)
    packs = {}
    for path in sorted(folder.root.glob("gallery-*-*.zip")):
        name = path.stem.rsplit("-", 1)[1]
        with PackedGallery(path) as gallery:
            packs[name] = _measure({name: gallery}, real[rows], truth, exclude, ids)[name]
    return packs


def search_markdown(figures: dict[str, Any]) -> str:
    sizes = figures["sizes"]
    lines = [
        f"Bundle {figures['bundle']}. One query at a time through `Gallery.query`, k = 10; "
        "recall@10 against exact search on the full 1,280-d embeddings. 10k = the bank's "
        f"{sizes['10k']['vectors']:,} real embeddings (each query photo excluded from its "
        "answer); 100k and 1M = synthetic vectors like the bank's (1M held as float16). The "
        f"machine is shared: load average {figures['load_before']:.1f} before, "
        f"{figures['load_after']:.1f} after, on 2 cores.",
        "",
        f"BLAS threads: {figures['blas_threads']} (one query a core, as a service worker runs).",
        "",
        "| vectors | backend | p50 ms | p99 ms | recall@10 | index build s | queries |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in ("10k", "100k", "1M"):
        for name in BACKENDS:
            row = sizes[size].get(name)
            if row:
                default = " (default)" if name == DEFAULT_BACKEND else ""
                lines.append(
                    f"| {size} | {name}{default} | {row['p50_ms']} | {row['p99_ms']} | "
                    f"{row['recall_at_10']} | {row['index_s']} | {row['queries']} |"
                )
    lines += [
        "",
        f"Default backend: `{DEFAULT_BACKEND}` (`model/gallery/backends.py` says why); the Qdrant "
        "server (`qdrant-server`) is the scale-out path and cannot run on this machine.",
        "",
        "Compact backend at 100k: projection dimensions and re-ranked candidates.",
        "",
    ]
    lines += ["| setting | p50 ms | p99 ms | recall@10 |", "|---|---|---|---|"]
    for setting, row in sizes["100k"]["compact sweep"].items():
        lines.append(f"| {setting} | {row['p50_ms']} | {row['p99_ms']} | {row['recall_at_10']} |")
    lines += ["", "Field app's pack at 10k (exact numpy search over the pack).", ""]
    lines += ["| pack | p50 ms | p99 ms | recall@10 |", "|---|---|---|---|"]
    for pack, row in sizes["10k"]["packs"].items():
        name = "full embeddings (default)" if pack == "full" else f"`--dims {pack}`"
        lines.append(f"| {name} | {row['p50_ms']} | {row['p99_ms']} | {row['recall_at_10']} |")
    lines += [
        "",
        "Command: `OPENBLAS_NUM_THREADS=1 python bench/gallery.py search` "
        "(bench/results/gallery-search.json).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=("build", "search"))
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (build)")
    parser.add_argument("--queries", type=int, default=200, help="queries a size (search)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.stage == "build":
        figures = bench_build(args.threads)
        save("gallery-build", figures)
        update_section("Gallery build and pack", build_markdown(figures))
    else:
        figures = bench_search(args.queries)
        save("gallery-search", figures)
        update_section("Gallery search", search_markdown(figures))


if __name__ == "__main__":
    main()
