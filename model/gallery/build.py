"""``iriis gallery build``: the bank's photos embedded by one model into its gallery folder.

Which photos: every photo of the bank's manifest that decodes and is not ``unknown`` (those
check that the model says "I don't know": a neighbour labelled "unknown" would say nothing),
less the photos the bundle's network was kept from (``model.bundle.held_out_photos``: the
field proxy's, whose figures would otherwise come from a gallery holding the very photos).
All splits are in, test photos included: the gallery is the lab's reference bank, so a metric
computed on test photos must exclude the query photo itself (``Gallery.query(exclude=...)``).

Incremental: photos are known by content (sha256), so a rebuild embeds only photos not yet in
the gallery, drops those gone from the bank and refreshes the labels of the others (a
specialist's correction changes a label, not the pixels). The embeddings come from the bundle's
model through the identifier, the code path the service and the app run.

Resumable: the photos embedded so far are saved every ``CHECKPOINT_PHOTOS`` in ``partial/``, so
a build killed half-way (a service stopped during its first start) embeds only the rest next
time. Checked cheaply: the folder records the bank it was built from and that bank's stamp
(``bank_stamp``: the manifest and a stat of each file), so that ``is_current`` tells without
reading a photo that there is nothing to do.
"""

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.bundle import held_out_photos
from model.catalog import UNKNOWN_LABEL
from model.gallery.base import GalleryError, GalleryInfo, GalleryItem, normalise, photo_id
from model.gallery.exact import fit_projection
from model.gallery.folder import GalleryFolder, replace_atomically
from model.gallery.thumbs import thumbnail_jpeg
from model.identifier import Identifier
from model.imaging import ImageError, decode_image
from model.manifest import ManifestError, read_manifest

log = logging.getLogger(__name__)

# Photos embedded between two saves of partial/: about 10 to 20 s of a build on 2 cores, and a
# file of 1.3 MB each time.
CHECKPOINT_PHOTOS = 256
# (photos done, photos in the gallery once built): called as a build goes.
Progress = Callable[[int, int], None]


@dataclass
class BuildReport:
    """What a build did: ``embedded`` counts the photos that went through the model,
    ``resumed`` those an interrupted build had embedded."""

    model_version: str
    photos: int = 0
    embedded: int = 0
    resumed: int = 0
    kept: int = 0
    removed: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)


@dataclass(frozen=True)
class Source:
    """The bank a gallery was built from, and its stamp (``bank_stamp``) when the build began."""

    bank: Path
    manifest: str
    stamp: str


def bank_stamp(bank_dir: Path, manifest: str = "manifest.csv") -> str:
    """What the bank is now, without reading a photo: its manifest's bytes and the size and
    modification time of every file it names (a stat each: well under a second for 10,000
    photos, against tens of seconds to hash them). Unchanged, a gallery built from it has
    nothing to embed, drop or relabel. Raises ``ManifestError`` without a manifest."""
    digest = hashlib.sha256()
    path = bank_dir / manifest
    try:
        digest.update(path.read_bytes())
    except OSError:
        raise ManifestError(f"manifest not found: {path}") from None
    for row in read_manifest(path, required=("file", "label")):
        try:
            stat = (bank_dir / row["file"]).stat()
            digest.update(f"{row['file']}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{row['file']}\0missing\n".encode())
    return digest.hexdigest()


def built_from(folder: GalleryFolder) -> Source | None:
    """The bank the gallery was last built from; None for one never built (or built before
    this was recorded)."""
    try:
        data = json.loads(folder.source_path.read_text(encoding="utf-8"))
        return Source(Path(data["bank"]), str(data["manifest"]), str(data["stamp"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_current(folder: GalleryFolder) -> bool:
    """Whether the gallery is built and its bank unchanged since: a rebuild would do nothing."""
    source = built_from(folder)
    if source is None or not folder.exists():
        return False
    try:
        return bank_stamp(source.bank, source.manifest) == source.stamp
    except ManifestError:
        return False


@dataclass(frozen=True)
class _Photo:
    row: dict[str, str]
    sha256: str

    @property
    def photo_id(self) -> str:
        return photo_id(self.sha256)

    def item(self) -> GalleryItem:
        return GalleryItem(
            photo_id=self.photo_id,
            label=self.row["label"],
            source=self.row.get("source") or "",
            license=self.row.get("license") or "",
            sha256=self.sha256,
            file=self.row["file"],
        )


def build_gallery(
    identifier: Identifier,
    bank_dir: Path,
    folder: GalleryFolder,
    projection_dims: int,
    batch_size: int = 32,
    manifest: str = "manifest.csv",
    progress: Progress | None = None,
) -> BuildReport:
    """Bring ``folder`` in step with the bank for the identifier's model: the photos that
    ``bank_dir``'s ``manifest`` lists (a bank version's ``references.csv``: the bank and the
    case photos made shareable references, never the other case photos). ``progress`` is told
    the photos done and to do as the build goes."""
    report = BuildReport(identifier.version)
    stamp = bank_stamp(bank_dir, manifest)  # before reading: a change during the build shows
    old_info, old_embeddings = _previous(folder, identifier.version)
    old_rows = {item.photo_id: row for row, item in enumerate(old_info.items)} if old_info else {}
    held_out = held_out_photos(identifier.bundle.folder)
    photos = [p for p in _bank_photos(bank_dir, manifest, report) if p.photo_id not in held_out]
    checkpoint = _Checkpoint(folder, CHECKPOINT_PHOTOS)
    saved = {
        photo_id: vector
        for photo_id, vector in checkpoint.load().items()
        if photo_id not in old_rows and folder.thumbnail_path(photo_id).is_file()
    }
    new = [p for p in photos if p.photo_id not in old_rows and p.photo_id not in saved]

    def told(done: int) -> None:
        if progress is not None:
            progress(len(photos) - len(new) + done, len(photos))

    told(0)
    embedded, new_embeddings = _embed(
        identifier, bank_dir, folder, new, batch_size, report, checkpoint, told
    )
    new_rows = {photo.photo_id: row for row, photo in enumerate(embedded)}
    kept = [
        p for p in photos if p.photo_id in old_rows or p.photo_id in saved or p.photo_id in new_rows
    ]
    if not kept:
        raise GalleryError(f"no usable photo in the bank at {bank_dir}")
    vectors = (new_embeddings, old_embeddings, *saved.values())
    dims = next(v.shape[-1] for v in vectors if v.size)
    embeddings = np.empty((len(kept), dims), dtype=np.float32)
    for row, photo in enumerate(kept):
        if photo.photo_id in new_rows:
            embeddings[row] = new_embeddings[new_rows[photo.photo_id]]
        elif photo.photo_id in old_rows:
            embeddings[row] = old_embeddings[old_rows[photo.photo_id]]
        else:
            embeddings[row] = saved[photo.photo_id]
    info = GalleryInfo(identifier.version, dims, tuple(p.item() for p in kept))
    folder.write(info, embeddings, fit_projection(embeddings, projection_dims))
    source = {"bank": str(bank_dir.resolve()), "manifest": manifest, "stamp": stamp}
    text = json.dumps(source, indent=1) + "\n"
    replace_atomically(folder.source_path, lambda path: path.write_text(text, encoding="utf-8"))
    checkpoint.clear()
    folder.remove_thumbnails_except(p.photo_id for p in kept)
    report.photos, report.embedded = len(kept), len(new_rows)
    report.resumed = sum(p.photo_id in saved for p in kept)
    report.kept = sum(p.photo_id in old_rows for p in kept)
    report.removed = len(old_rows) - report.kept
    log.info(
        "gallery %s: %d photos (%d embedded, %d resumed, %d kept, %d removed, %d skipped)",
        report.model_version,
        report.photos,
        report.embedded,
        report.resumed,
        report.kept,
        report.removed,
        len(report.skipped),
    )
    return report


def _previous(folder: GalleryFolder, version: str) -> tuple[GalleryInfo | None, np.ndarray]:
    if not folder.exists():
        return None, np.zeros((0, 0), dtype=np.float32)
    try:
        info, embeddings = folder.read()
    except GalleryError as exc:
        log.warning("%s; starting the gallery afresh", exc)
        return None, np.zeros((0, 0), dtype=np.float32)
    if info.model_version != version:
        raise GalleryError(
            f"{folder.root} holds embeddings of model {info.model_version}, not {version}: "
            "a gallery belongs to one model version"
        )
    return info, embeddings


def _bank_photos(bank_dir: Path, manifest: str, report: BuildReport) -> list[_Photo]:
    """The bank's reference photos with their content hash, in file order, one per content."""
    rows = read_manifest(bank_dir / manifest, required=("file", "label"))
    rows = sorted((r for r in rows if r["label"] != UNKNOWN_LABEL), key=lambda r: r["file"])
    photos: dict[str, _Photo] = {}
    for row in tqdm(rows, desc="hashing the bank", unit="photo"):
        try:
            sha = hashlib.sha256((bank_dir / row["file"]).read_bytes()).hexdigest()
        except OSError as exc:
            report.skipped.append((row["file"], f"cannot read: {exc.strerror}"))
            continue
        photo = _Photo(row, sha)
        first = photos.setdefault(photo.photo_id, photo)
        if first.sha256 != sha:
            raise GalleryError(f"photo id collision: {first.row['file']} and {row['file']}")
        if first is not photo:
            report.duplicates += 1
            log.debug("%s is a copy of %s: kept once", row["file"], first.row["file"])
    if report.duplicates:
        log.warning("%d exact copies in the bank, each kept once", report.duplicates)
    return list(photos.values())


def _embed(
    identifier: Identifier,
    bank_dir: Path,
    folder: GalleryFolder,
    photos: Sequence[_Photo],
    batch_size: int,
    report: BuildReport,
    checkpoint: "_Checkpoint",
    told: Callable[[int], None],
) -> tuple[list[_Photo], np.ndarray]:
    """Embed photos in batches, writing their thumbnails on the way and saving the embeddings
    to ``checkpoint`` now and then; unusable ones are reported and left out. ``told`` hears
    how many photos were gone through."""
    folder.thumbs_dir.mkdir(parents=True, exist_ok=True)
    done: list[_Photo] = []
    chunks: list[np.ndarray] = []
    for through, batch in _batches(identifier, bank_dir, folder, photos, batch_size, report):
        chunks.append(normalise(identifier.infer(np.stack([t for _, t in batch]))[1]))
        done.extend(photo for photo, _ in batch)
        checkpoint.add([photo.photo_id for photo, _ in batch], chunks[-1])
        told(through)
    embeddings = np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
    return done, embeddings


def _batches(
    identifier: Identifier,
    bank_dir: Path,
    folder: GalleryFolder,
    photos: Sequence[_Photo],
    batch_size: int,
    report: BuildReport,
) -> Iterator[tuple[int, list[tuple[_Photo, np.ndarray]]]]:
    """Batches of decoded, preprocessed photos, each with how many photos were gone through
    once it is embedded."""
    size = identifier.bundle.preprocess.size
    batch: list[tuple[_Photo, np.ndarray]] = []
    for position, photo in enumerate(
        tqdm(photos, desc=f"embedding ({identifier.version})", unit="photo"), start=1
    ):
        try:
            image = decode_image((bank_dir / photo.row["file"]).read_bytes(), min_side=size)
        except (ImageError, OSError) as exc:
            report.skipped.append((photo.row["file"], str(exc)))
            continue
        folder.thumbnail_path(photo.photo_id).write_bytes(thumbnail_jpeg(image))
        batch.append((photo, identifier.prepare(image).tensor))
        if len(batch) == batch_size:
            yield position, batch
            batch = []
    if batch:
        yield len(photos), batch


class _Checkpoint:
    """The photos a build has embedded so far, saved in ``partial/`` every ``every`` photos:
    what a build interrupted half-way resumes from. Each save is a new file written whole
    (``replace_atomically``), so a kill leaves the saves before it intact."""

    def __init__(self, folder: GalleryFolder, every: int) -> None:
        self.dir = folder.partial_dir
        self.every = every
        self._ids: list[str] = []
        self._vectors: list[np.ndarray] = []

    def load(self) -> dict[str, np.ndarray]:
        saved: dict[str, np.ndarray] = {}
        for path in sorted(self.dir.glob("[0-9]*.npz")):
            try:
                with np.load(path, allow_pickle=False) as data:
                    saved.update(
                        zip(data["ids"].tolist(), np.array(data["embeddings"]), strict=True)
                    )
            except (OSError, ValueError, KeyError) as exc:
                log.warning("%s unreadable (%s): its photos are embedded again", path, exc)
        if saved:
            log.info("resuming an interrupted build: %d photos already embedded", len(saved))
        return saved

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        self._ids += ids
        self._vectors.append(vectors)
        if len(self._ids) >= self.every:
            self.dir.mkdir(exist_ok=True)
            number = len(list(self.dir.glob("[0-9]*.npz")))
            names, stacked = np.array(self._ids), np.concatenate(self._vectors)
            replace_atomically(
                self.dir / f"{number:06d}.npz",
                lambda path: np.savez(path, ids=names, embeddings=stacked),
            )
            self._ids, self._vectors = [], []

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
