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
"""

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.bundle import held_out_photos
from model.catalog import UNKNOWN_LABEL
from model.gallery.base import GalleryError, GalleryInfo, GalleryItem, normalise, photo_id
from model.gallery.exact import fit_projection
from model.gallery.folder import GalleryFolder
from model.gallery.thumbs import thumbnail_jpeg
from model.identifier import Identifier
from model.imaging import ImageError, decode_image
from model.manifest import read_manifest

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    """What a build did: ``embedded`` counts the photos that went through the model."""

    model_version: str
    photos: int = 0
    embedded: int = 0
    kept: int = 0
    removed: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)


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
) -> BuildReport:
    """Bring ``folder`` in step with the bank for the identifier's model: the photos that
    ``bank_dir``'s ``manifest`` lists (a bank version's ``references.csv``: the bank and the
    case photos made shareable references, never the other case photos)."""
    report = BuildReport(identifier.version)
    old_info, old_embeddings = _previous(folder, identifier.version)
    old_rows = {item.photo_id: row for row, item in enumerate(old_info.items)} if old_info else {}
    held_out = held_out_photos(identifier.bundle.folder)
    photos = [p for p in _bank_photos(bank_dir, manifest, report) if p.photo_id not in held_out]
    new = [photo for photo in photos if photo.photo_id not in old_rows]
    embedded, new_embeddings = _embed(identifier, bank_dir, folder, new, batch_size, report)
    new_rows = {photo.photo_id: row for row, photo in enumerate(embedded)}
    kept = [p for p in photos if p.photo_id in old_rows or p.photo_id in new_rows]
    if not kept:
        raise GalleryError(f"no usable photo in the bank at {bank_dir}")
    dims = new_embeddings.shape[1] if len(embedded) else old_embeddings.shape[1]
    embeddings = np.empty((len(kept), dims), dtype=np.float32)
    from_old = [row for row, p in enumerate(kept) if p.photo_id in old_rows]
    from_new = [row for row, p in enumerate(kept) if p.photo_id in new_rows]
    if from_old:
        embeddings[from_old] = old_embeddings[[old_rows[kept[r].photo_id] for r in from_old]]
    if from_new:
        embeddings[from_new] = new_embeddings[[new_rows[kept[r].photo_id] for r in from_new]]
    info = GalleryInfo(identifier.version, dims, tuple(p.item() for p in kept))
    folder.write(info, embeddings, fit_projection(embeddings, projection_dims))
    folder.remove_thumbnails_except(p.photo_id for p in kept)
    report.photos, report.embedded, report.kept = len(kept), len(from_new), len(from_old)
    report.removed = len(old_rows) - len(from_old)
    log.info(
        "gallery %s: %d photos (%d embedded, %d kept, %d removed, %d skipped)",
        report.model_version,
        report.photos,
        report.embedded,
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
) -> tuple[list[_Photo], np.ndarray]:
    """Embed photos in batches, writing their thumbnails on the way; unusable ones are
    reported and left out."""
    folder.thumbs_dir.mkdir(parents=True, exist_ok=True)
    size = identifier.bundle.preprocess.size
    done: list[_Photo] = []
    chunks: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    for photo in tqdm(photos, desc=f"embedding ({identifier.version})", unit="photo"):
        try:
            image = decode_image((bank_dir / photo.row["file"]).read_bytes(), min_side=size)
        except (ImageError, OSError) as exc:
            report.skipped.append((photo.row["file"], str(exc)))
            continue
        folder.thumbnail_path(photo.photo_id).write_bytes(thumbnail_jpeg(image))
        batch.append(identifier.prepare(image).tensor)
        done.append(photo)
        if len(batch) == batch_size:
            chunks.append(identifier.infer(np.stack(batch))[1])
            batch = []
    if batch:
        chunks.append(identifier.infer(np.stack(batch))[1])
    embeddings = normalise(np.concatenate(chunks)) if chunks else np.zeros((0, 0), np.float32)
    return done, embeddings
