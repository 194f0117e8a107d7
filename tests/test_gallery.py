"""The gallery on the committed bundle and real bank photos: build, search with every embedded
backend, incremental rebuild, the field app's pack, thumbnails, and the Qdrant server adapter
checked up to the client call."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.bundle import latest_bundle
from model.cli import main
from model.gallery import GalleryError, PackedGallery, open_gallery, photo_id
from model.gallery import build as gallery_build
from model.gallery.backends import DEFAULT_BACKEND, backend_name, create_index
from model.gallery.base import IndexSpec, normalise
from model.gallery.build import BuildReport, Source, bank_stamp, build_gallery, built_from
from model.gallery.exact import CompactIndex, ExactIndex, fit_projection, top_rows
from model.gallery.folder import GalleryFolder
from model.gallery.pack import write_pack
from model.gallery.refresh import needs_refresh, refresh_gallery
from model.identifier import Identifier, open_identifier
from model.manifest import read_manifest
from model.settings import Settings, get_settings
from tests.helpers import write_bank

LABELS = 10
PER_LABEL = 3
EMBEDDED_BACKENDS = ("exact", "compact", "qdrant-local", "qdrant-edge")


@pytest.fixture(scope="module")
def identifier(settings: Settings) -> Identifier:
    return open_identifier(latest_bundle(settings.bundles_dir), threads=2)


@pytest.fixture(scope="module")
def bank_rows(bank_dir: Path) -> list[dict[str, str]]:
    """3 photos of each of 10 labels spread over the catalog (diseases, insects, weeds)."""
    rows = read_manifest(bank_dir / "manifest.csv")
    labels = sorted({r["label"] for r in rows if r["label"] != "unknown"})
    chosen = labels[:: len(labels) // LABELS][:LABELS]
    return [r for label in chosen for r in [r for r in rows if r["label"] == label][:PER_LABEL]]


def _entry(bank_dir: Path, row: dict[str, str], data: bytes | None = None) -> dict[str, object]:
    return {
        "file": row["file"],
        "label": row["label"],
        "data": data if data is not None else (bank_dir / row["file"]).read_bytes(),
    }


def _with_exif(data: bytes) -> bytes:
    """The photo as a phone would send it: GPS position and camera in its EXIF."""
    image = Image.open(io.BytesIO(data))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (46.0, 48.0, 0.0), 1: "N"}  # GPS: the grower's field
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def small_bank(tmp_path_factory, bank_dir: Path, bank_rows) -> Path:
    """A bank in the real format: the 30 photos (the first with EXIF), plus an ``unknown``
    photo and a truncated one, which the gallery must leave out."""
    root = tmp_path_factory.mktemp("bank")
    unknown = next(r for r in read_manifest(bank_dir / "manifest.csv") if r["label"] == "unknown")
    first = (bank_dir / bank_rows[0]["file"]).read_bytes()
    entries = [_entry(bank_dir, bank_rows[0], _with_exif(first))]
    entries += [_entry(bank_dir, row) for row in bank_rows[1:]]
    entries.append(_entry(bank_dir, unknown))
    truncated = {"file": "images/broken/cut.jpg", "label": bank_rows[0]["label"]}
    entries.append({**truncated, "data": first[: len(first) // 3]})
    return write_bank(root, entries)


@pytest.fixture(scope="module")
def built(
    tmp_path_factory, small_bank: Path, identifier: Identifier
) -> tuple[Settings, GalleryFolder, BuildReport]:
    settings = Settings(home=tmp_path_factory.mktemp("home"), bank_dir=small_bank)
    folder = GalleryFolder(settings.galleries_dir / identifier.version)
    report = build_gallery(identifier, small_bank, folder, settings.gallery_projection_dims)
    return settings, folder, report


def _embed(identifier: Identifier, data: bytes) -> np.ndarray:
    """A photo's embedding as the service computes it."""
    return identifier.infer(identifier.prepare(data).tensor[None])[1][0]


def _photo_id_of(path: Path) -> str:
    return photo_id(hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.fixture(scope="module")
def queries(built, identifier: Identifier, small_bank: Path) -> dict[str, np.ndarray]:
    """Each gallery photo's embedding, computed afresh from its file."""
    _, folder, _ = built
    info, _ = folder.read()
    return {i.photo_id: _embed(identifier, (small_bank / i.file).read_bytes()) for i in info.items}


def test_build_takes_every_usable_reference_photo(built, bank_rows) -> None:
    _, folder, report = built
    assert (report.photos, report.embedded, report.kept, report.removed) == (30, 30, 0, 0)
    assert [file for file, _ in report.skipped] == ["images/broken/cut.jpg"]
    assert "truncated" in report.skipped[0][1]
    info, embeddings = folder.read()
    assert {item.label for item in info.items} == {r["label"] for r in bank_rows}
    assert embeddings.shape == (30, info.dims) and info.dims == 1280
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
    for item in info.items:
        assert item.photo_id == photo_id(item.sha256) and len(item.photo_id) == 16
        assert folder.thumbnail_path(item.photo_id).is_file()


@pytest.mark.parametrize("backend", EMBEDDED_BACKENDS)
def test_each_backend_finds_the_photo_itself_then_mostly_its_own_label(
    built, identifier: Identifier, queries: dict[str, np.ndarray], backend: str
) -> None:
    settings, folder, _ = built
    with open_gallery(
        folder.root, backend=backend, model_version=identifier.version, settings=settings
    ) as gallery:
        assert len(gallery) == 30 and gallery.model_version == identifier.version
        same_label = 0
        for item in gallery.items:
            query = queries[item.photo_id]
            hits = gallery.query(query, k=10)
            assert hits[0].photo_id == item.photo_id
            assert hits[0].similarity == pytest.approx(1, abs=1e-4)
            assert len(hits) == 10
            assert [h.similarity for h in hits] == sorted(
                (h.similarity for h in hits), reverse=True
            )
            nearest = gallery.query(query, k=1, exclude={item.photo_id})[0]
            assert nearest.photo_id != item.photo_id
            same_label += nearest.label == item.label
        # chance would give 2 in 29; the model's neighbours share the label far more often
        assert same_label >= 24


def test_backends_return_the_exact_neighbours(built) -> None:
    settings, folder, _ = built
    embeddings = folder.read()[1]
    queries = np.asarray(embeddings[::4])
    results = {}
    for backend in EMBEDDED_BACKENDS:
        with open_gallery(folder.root, backend=backend, settings=settings) as gallery:
            results[backend] = [[h.photo_id for h in gallery.query(q, k=10)] for q in queries]
    for backend in EMBEDDED_BACKENDS[1:]:
        assert results[backend] == results["exact"], backend


def test_rebuild_embeds_only_new_photos_and_drops_removed_ones(
    built, identifier: Identifier, bank_dir: Path, bank_rows, tmp_path: Path
) -> None:
    settings = built[0]
    home = tmp_path / "home"
    shutil.copytree(settings.home, home)
    copy = GalleryFolder(home / "galleries" / identifier.version)
    settings = Settings(home=home, bank_dir=tmp_path / "bank")
    before_info, before = copy.read()
    before = np.array(before)
    with open_gallery(copy.root, backend="qdrant-local", settings=settings) as gallery:
        assert len(gallery) == 30  # a persistent index, synced on open

    kept_rows, gone_rows = bank_rows[2:], bank_rows[:2]
    relabelled = dict(kept_rows[0], label="weed.none")
    rows = read_manifest(bank_dir / "manifest.csv")
    new_rows = [r for r in rows if r["label"] == "invertebrate.bee"][:3]
    write_bank(
        settings.bank_dir,
        [_entry(bank_dir, relabelled)] + [_entry(bank_dir, r) for r in kept_rows[1:] + new_rows],
    )
    report = build_gallery(identifier, settings.bank_dir, copy, settings.gallery_projection_dims)
    assert (report.photos, report.embedded, report.kept, report.removed) == (31, 3, 28, 2)

    info, after = copy.read()
    by_id = {item.photo_id: row for row, item in enumerate(info.items)}
    for row, item in enumerate(before_info.items):
        if item.photo_id in by_id:  # kept photos keep their embeddings, not recomputed
            np.testing.assert_array_equal(after[by_id[item.photo_id]], before[row])
    gone = {
        item.photo_id for item in before_info.items if item.file in {r["file"] for r in gone_rows}
    }
    assert len(gone) == 2 and not gone & set(by_id)
    assert not any(copy.thumbnail_path(photo).exists() for photo in gone)
    assert info.items[by_id[_photo_id_of(bank_dir / relabelled["file"])]].label == "weed.none"

    bee = _embed(identifier, (bank_dir / new_rows[0]["file"]).read_bytes())
    with open_gallery(copy.root, backend="qdrant-local", settings=settings) as gallery:
        assert len(gallery) == 31
        hits = gallery.query(bee, k=31)
        assert hits[0].label == "invertebrate.bee" and hits[0].similarity == pytest.approx(
            1, abs=1e-4
        )
        assert not gone & {h.photo_id for h in hits}


def test_a_proxy_networks_gallery_holds_none_of_its_held_back_photos(
    settings: Settings, small_bank: Path, bank_rows, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(latest_bundle(settings.bundles_dir), bundle)
    held_out = [_photo_id_of(small_bank / row["file"]) for row in bank_rows[:2]]
    record = json.loads((bundle / "training.json").read_text(encoding="utf-8"))
    (bundle / "training.json").write_text(json.dumps({**record, "held_out": held_out}))
    proxy = open_identifier(bundle, check=False, threads=2)  # training.json no longer verifies
    folder = GalleryFolder(tmp_path / "gallery")
    report = build_gallery(proxy, small_bank, folder, settings.gallery_projection_dims)
    info, _ = folder.read()
    assert report.photos == 28 and not set(held_out) & {item.photo_id for item in info.items}


def test_the_pack_gives_the_galleries_neighbours(built) -> None:
    settings, folder, _ = built
    path = write_pack(folder)
    info, embeddings = folder.read()
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("gallery.json"))
        assert set(document) == {"model_version", "dims", "count", "items", "projection"}
        assert document["projection"] is None and document["count"] == 30
        assert set(document["items"][0]) == {"photo_id", "label", "source", "license"}
        stored = np.load(io.BytesIO(archive.read("embeddings.npy")))
        assert stored.dtype == np.float16 and stored.shape == (30, 1280)
    with (
        open_gallery(folder.root, backend="exact", settings=settings) as full,
        PackedGallery(path) as packed,
    ):
        assert packed.model_version == full.model_version and len(packed) == 30
        for query in embeddings:
            assert [h.photo_id for h in packed.query(query, k=5)] == [
                h.photo_id for h in full.query(query, k=5)
            ]
        thumb = Image.open(io.BytesIO(packed.thumbnail(info.items[0].photo_id)))
        assert thumb.format == "JPEG" and max(thumb.size) <= 96

    compact = write_pack(folder, dims=16)
    assert compact.stat().st_size < path.stat().st_size or compact == path
    with open_gallery(compact) as packed:
        assert packed.projection is not None and packed.projection.shape == (1280, 16)
        assert packed.query(embeddings[3], k=1)[0].photo_id == info.items[3].photo_id


def test_a_corrupt_or_partial_pack_is_refused(built, tmp_path: Path) -> None:
    _, folder, _ = built
    path = write_pack(folder)
    data = path.read_bytes()
    (tmp_path / "partial.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(GalleryError, match="not a complete gallery pack"):
        PackedGallery(tmp_path / "partial.zip")
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("embeddings.npy")
    flipped = bytearray(data)
    flipped[member.header_offset + 30 + len(member.filename) + member.compress_size // 2] ^= 0xFF
    (tmp_path / "flipped.zip").write_bytes(bytes(flipped))
    with pytest.raises(GalleryError, match="corrupt"):
        PackedGallery(tmp_path / "flipped.zip")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp_path / "thin.zip", "w") as thin:
        for name in source.namelist()[:-1]:  # the last thumbnail left out
            thin.writestr(name, source.read(name))
    with pytest.raises(GalleryError, match="1 thumbnails missing"):
        PackedGallery(tmp_path / "thin.zip")


def test_thumbnails_are_small_jpegs_without_exif(built, bank_rows) -> None:
    settings, folder, _ = built
    with open_gallery(folder.root, backend="exact", settings=settings) as gallery:
        with_exif = next(i for i in gallery.items if i.file == bank_rows[0]["file"])
        for item in gallery.items:
            data = gallery.thumbnail(item.photo_id)
            image = Image.open(io.BytesIO(data))
            assert image.format == "JPEG" and 64 < max(image.size) <= 128
            assert not image.getexif() and b"Exif" not in data[:512]
        assert b"PhoneMaker" not in gallery.thumbnail(with_exif.photo_id)
        for bad in ("0123456789abcdef", "../gallery.json", "../../etc/passwd"):
            with pytest.raises(KeyError):
                gallery.thumbnail(bad)
        with pytest.raises(ValueError, match="512-d embedding"):
            gallery.query(np.ones(512, dtype=np.float32))


def test_the_qdrant_server_adapter_sends_the_right_requests(built) -> None:
    from qdrant_client import models

    from model.gallery import qdrant

    settings, folder, _ = built
    info, embeddings = folder.read()
    assert backend_name(settings) == DEFAULT_BACKEND == "qdrant-edge"
    with pytest.raises(GalleryError, match="IRIIS_QDRANT_URL"):
        create_index("qdrant-server", IndexSpec(folder.root, "v1", 1280, settings))
    server = Settings(
        home=settings.home, qdrant_url="https://qdrant.lab.internal:6333", qdrant_api_key="secret"
    )
    assert backend_name(server) == "qdrant-server"
    index = create_index("qdrant-server", IndexSpec(folder.root, "2026.11.26", 1280, server))
    assert isinstance(index, qdrant.QdrantServerIndex)
    assert index.collection == "iriis-gallery-2026.11.26"
    options = index.client.init_options
    assert (options["url"], options["api_key"]) == ("https://qdrant.lab.internal:6333", "secret")

    created = qdrant.collection_request(1280)
    assert created.vectors == models.VectorParams(size=1280, distance=models.Distance.COSINE)
    ids = [item.photo_id for item in info.items[:3]]
    batch = qdrant.upsert_request(ids, embeddings[:3])
    assert batch.ids == [int(p, 16) for p in ids] and all(0 <= i < 2**64 for i in batch.ids)
    assert np.allclose(batch.vectors, embeddings[:3])
    assert qdrant.delete_request(ids[:1]).points == [int(ids[0], 16)]
    request = qdrant.query_request(embeddings[0], 10, index.hnsw_ef)
    body = json.loads(request.model_dump_json(exclude_none=True))  # the REST body sent
    assert body["limit"] == 10 and body["params"]["hnsw_ef"] == 128
    assert body["with_payload"] is False and len(body["query"]) == 1280
    # the local mode runs these same requests: its answers are checked above
    assert qdrant.query_request(embeddings[0], 10, None).params is None
    # open_gallery(url=...) goes all the way to the client's first request (nothing listens)
    from qdrant_client.http.exceptions import ResponseHandlingException

    with pytest.raises(ResponseHandlingException, match="Connection refused"):
        open_gallery(folder.root, url="http://127.0.0.1:9", settings=settings)


def test_unknown_backend_names_the_known_ones(built) -> None:
    settings, folder, _ = built
    with pytest.raises(GalleryError, match="one of: exact, compact"):
        open_gallery(folder.root, backend="faiss", settings=settings)


def test_the_field_app_reads_a_pack_without_qdrant(built) -> None:
    _, folder, _ = built
    path = write_pack(folder)
    code = (
        "import sys; from pathlib import Path; from model.gallery import open_gallery; "
        f"g = open_gallery(Path({str(path)!r})); assert len(g) == 30; "
        "assert not [m for m in sys.modules if m.startswith('qdrant')], 'qdrant imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_iriis_gallery_build_and_pack(
    small_bank: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, settings
) -> None:
    bundle = latest_bundle(settings.bundles_dir)
    monkeypatch.setenv("IRIIS_HOME", str(tmp_path))
    monkeypatch.setenv("IRIIS_BANK_DIR", str(small_bank))
    get_settings.cache_clear()
    try:
        assert main(["gallery", "build", "--bundle", str(bundle)]) == 0
        assert "30 photos" in capsys.readouterr().out
        assert main(["gallery", "pack", "--bundle", str(bundle)]) == 0
        out = capsys.readouterr().out
    finally:
        get_settings.cache_clear()
    assert "gallery-" in out and " MB)" in out
    assert list((tmp_path / "galleries").glob("*/gallery-*.zip"))
    assert list((tmp_path / "galleries").glob("*/index/qdrant-edge/*"))  # the default's index


def test_an_unreadable_edge_index_is_rebuilt_from_the_folder(
    built, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings, folder, _ = built
    copy = GalleryFolder(tmp_path / "gallery")
    shutil.copytree(folder.root, copy.root)
    with open_gallery(copy.root, backend="qdrant-edge", settings=settings) as gallery:
        expected = gallery.query(folder.read()[1][5], k=5)
    segments = copy.root / "index" / "qdrant-edge" / "segments"
    shutil.rmtree(segments)
    segments.write_text("not a segments folder")
    with open_gallery(copy.root, backend="qdrant-edge", settings=settings) as gallery:
        assert len(gallery) == 30
        assert gallery.query(folder.read()[1][5], k=5) == expected
    assert "rebuilding it from the gallery" in caplog.text


def test_compact_search_reranks_its_candidates_on_the_full_embeddings(built) -> None:
    """A coarse 8-d projection alone misorders neighbours; the re-ranking of 15 candidates on the
    full embeddings restores the exact order and the exact similarities."""
    _, folder, _ = built
    info, embeddings = folder.read()
    ids = [item.photo_id for item in info.items]
    exact, compact = ExactIndex(), CompactIndex(fit_projection(embeddings, 8), candidates=15)
    exact.sync(ids, embeddings)
    compact.sync(ids, embeddings)
    coarse = normalise(np.asarray(embeddings) @ compact.projection)
    misordered = 0
    for row, query in enumerate(np.asarray(embeddings)):
        truth, found = exact.search(query, 5), compact.search(query, 5)
        assert [photo for photo, _ in found] == [photo for photo, _ in truth]
        np.testing.assert_allclose([s for _, s in found], [s for _, s in truth], atol=1e-6)
        misordered += [ids[r] for r in top_rows(coarse @ coarse[row], 5)] != [p for p, _ in truth]
    assert misordered > 0  # the projection alone is not enough: the test would notice


class _Stopped(Exception):
    """The build stopped on purpose half-way, as a killed service stops it."""


def test_an_interrupted_build_resumes_from_what_it_saved(
    built, identifier: Identifier, small_bank: Path, tmp_path: Path, monkeypatch
) -> None:
    _, whole, _ = built
    monkeypatch.setattr(gallery_build, "CHECKPOINT_PHOTOS", 8)
    folder = GalleryFolder(tmp_path / "gallery")
    told: list[tuple[int, int]] = []

    def stop_at_20(done: int, total: int) -> None:
        told.append((done, total))
        if done >= 20:
            raise _Stopped

    with pytest.raises(_Stopped):
        build_gallery(identifier, small_bank, folder, 8, batch_size=4, progress=stop_at_20)
    assert not folder.exists() and len(list(folder.partial_dir.glob("*.npz"))) == 2
    assert told[0] == (0, 31) and told[-1][0] >= 20  # the truncated photo counts as gone through

    report = build_gallery(
        identifier, small_bank, folder, 8, batch_size=4, progress=lambda *p: told.append(p)
    )
    assert (report.photos, report.resumed, report.embedded, report.kept) == (30, 16, 14, 0)
    assert told[-1] == (31, 31) and not folder.partial_dir.exists()
    info, embeddings = folder.read()
    whole_info, whole_embeddings = whole.read()
    rows = {item.photo_id: row for row, item in enumerate(whole_info.items)}
    assert set(rows) == {item.photo_id for item in info.items}
    for row, item in enumerate(info.items):  # what was saved is what the model says
        np.testing.assert_allclose(
            embeddings[row], whole_embeddings[rows[item.photo_id]], atol=1e-5
        )
    assert all(folder.thumbnail_path(item.photo_id).is_file() for item in info.items)


def test_a_refresh_does_only_what_the_bank_changed_and_packs_only_a_changed_gallery(
    identifier: Identifier, small_bank: Path, tmp_path: Path
) -> None:
    bank = tmp_path / "bank"
    shutil.copytree(small_bank, bank)
    settings = Settings(home=tmp_path / "home", bank_dir=bank)
    folder = GalleryFolder(settings.galleries_dir / identifier.version)
    pack = folder.pack_path(identifier.version)
    assert needs_refresh(folder, identifier.version)
    first = refresh_gallery(identifier, folder, settings, backend="qdrant-edge")
    assert first is not None and (first.embedded, first.kept) == (30, 0)
    assert built_from(folder) == Source(bank.resolve(), "manifest.csv", bank_stamp(bank))
    assert pack.is_file() and not folder.progress_path.exists()
    written = (pack.stat().st_mtime_ns, hashlib.sha256(pack.read_bytes()).hexdigest())

    assert not needs_refresh(folder, identifier.version)
    assert refresh_gallery(identifier, folder, settings, backend="qdrant-edge") is None
    assert write_pack(folder) == pack
    assert (pack.stat().st_mtime_ns, hashlib.sha256(pack.read_bytes()).hexdigest()) == written

    # the bank's files touched, not changed: looked at again, nothing embedded, the pack kept
    rows = read_manifest(bank / "manifest.csv")
    photo = bank / rows[0]["file"]
    os.utime(photo, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns + 10**9))
    assert needs_refresh(folder, identifier.version)
    touched = refresh_gallery(identifier, folder, settings, backend="qdrant-edge")
    assert touched is not None and (touched.embedded, touched.kept) == (0, 30)
    assert (pack.stat().st_mtime_ns, hashlib.sha256(pack.read_bytes()).hexdigest()) == written

    # a photo relabelled by a specialist: the gallery and the pack say it
    text = (bank / "manifest.csv").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith(rows[0]["file"] + ","))
    relabelled = line.replace(f",{rows[0]['label']},", ",weed.none,", 1)
    (bank / "manifest.csv").write_text(text.replace(line, relabelled), encoding="utf-8")
    again = refresh_gallery(identifier, folder, settings, backend="qdrant-edge")
    assert again is not None and (again.embedded, again.kept) == (0, 30)
    assert hashlib.sha256(pack.read_bytes()).hexdigest() != written[1]
    with PackedGallery(pack) as packed:
        assert "weed.none" in {item.label for item in packed.items}
    assert write_pack(folder, dims=16) == pack  # another pack of the same gallery: written
    with PackedGallery(pack) as packed:
        assert packed.projection is not None and packed.projection.shape == (1280, 16)
