"""The field app's gallery pack: one zip downloaded beside the model bundle and searched with
numpy alone (no Qdrant on a phone).

::

    gallery.json            {"model_version", "dims", "count", "items": [{"photo_id", "label",
                            "source", "license"}], "projection": null or "projection.npy"}
    embeddings.npy          (count, dims) float16, unit-length rows in the order of items
    projection.npy          (model dims, dims) float32, only in a compact pack: queries are
                            projected with it, then normalised
    thumbs/<photo_id>.jpg   about 96 px, no EXIF

By default the rows are the model's full embeddings, so the phone's exact search gives the
server's neighbours; ``--dims`` makes a smaller pack at some cost in recall (figures in
``docs/performance.md``). Opening checks every member's CRC and that the parts agree, so a
partial download or a corrupt copy is refused with a clear error rather than answering wrong.
The zip's comment records what it was made from (``pack_source``): a pack of an unchanged
gallery is not written again.
"""

import hashlib
import io
import json
import logging
import zipfile
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.gallery.base import Gallery, GalleryError, GalleryInfo, normalise
from model.gallery.exact import ExactIndex, fit_projection
from model.gallery.folder import GalleryFolder, replace_atomically
from model.gallery.thumbs import pack_thumbnail

PACK_ITEM_FIELDS = ("photo_id", "label", "source", "license")
INFO = "gallery.json"
EMBEDDINGS = "embeddings.npy"
PROJECTION = "projection.npy"
SOURCE_PREFIX = "iriis-gallery-pack from "  # the zip comment, then ``pack_source``'s digest

log = logging.getLogger(__name__)


def thumbnail_name(photo: str) -> str:
    return f"thumbs/{photo}.jpg"


def write_pack(folder: GalleryFolder, dims: int | None = None) -> Path:
    """Pack a built gallery as ``gallery-<version>.zip`` in its folder; ``dims`` projects the
    embeddings to fewer dimensions (a smaller, less exact pack). A pack already made from the
    same gallery (its ``gallery.json``) with the same ``dims`` is left as it is: re-zipping
    10,000 thumbnails takes a minute, and a pack rewritten the same would change nothing for
    the phones but its time stamp."""
    info, embeddings = folder.read()
    path = folder.pack_path(info.model_version)
    made_from = pack_source(folder, dims)
    if packed_from(path) == made_from:
        log.info("%s is up to date", path)
        return path
    projection = fit_projection(embeddings, dims) if dims and dims < info.dims else None
    vectors = embeddings if projection is None else normalise(embeddings @ projection)
    packed = GalleryInfo(
        info.model_version,
        int(vectors.shape[1]),
        info.items,
        PROJECTION if projection is not None else None,
    )

    def write(partial: Path) -> None:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.comment = made_from.encode()
            archive.writestr(INFO, json.dumps(packed.to_dict(PACK_ITEM_FIELDS), ensure_ascii=False))
            archive.writestr(EMBEDDINGS, _npy(np.asarray(vectors, dtype=np.float16)))
            if projection is not None:
                archive.writestr(PROJECTION, _npy(projection))
            for item in tqdm(info.items, desc="packing thumbnails", unit="photo"):
                thumb = pack_thumbnail(folder.thumbnail_path(item.photo_id).read_bytes())
                # JPEG does not deflate: stored as is, read without a decompressor
                archive.writestr(thumbnail_name(item.photo_id), thumb, zipfile.ZIP_STORED)

    replace_atomically(path, write)
    return path


def pack_source(folder: GalleryFolder, dims: int | None = None) -> str:
    """What a pack of ``folder`` is made from, as its zip comment records it: the sha256 of
    ``gallery.json`` (the photos by content, their labels, the model: the embeddings and
    thumbnails follow from them) and ``dims``."""
    digest = hashlib.sha256(folder.info_path.read_bytes()).hexdigest()
    return f"{SOURCE_PREFIX}{digest} dims={dims or 'all'}"


def packed_from(path: Path) -> str | None:
    """The source a pack records (``pack_source``); None without a pack or a record."""
    try:
        with zipfile.ZipFile(path) as archive:
            comment = archive.comment.decode(errors="replace")
    except (OSError, zipfile.BadZipFile):
        return None
    return comment if comment.startswith(SOURCE_PREFIX) else None


class PackedGallery(Gallery):
    """A gallery read from a pack: exact numpy search, thumbnails read from the zip."""

    def __init__(self, path: Path) -> None:
        try:
            archive = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise GalleryError(f"no gallery pack at {path}") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise GalleryError(f"{path} is not a complete gallery pack ({exc})") from None
        try:
            info, vectors, projection = _read_checked(archive, path)
        except BaseException:
            archive.close()
            raise
        index = ExactIndex()
        # float32 in memory: BLAS has no float16 product; renormalised after rounding
        index.sync([item.photo_id for item in info.items], normalise(vectors))
        super().__init__(
            info,
            index,
            lambda photo: archive.read(thumbnail_name(photo)),
            projection=projection,
            on_close=archive.close,
        )
        self.path = path


def _read_checked(
    archive: zipfile.ZipFile, path: Path
) -> tuple[GalleryInfo, np.ndarray, np.ndarray | None]:
    try:
        bad = archive.testzip()  # reads every member: CRCs and compressed streams
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise GalleryError(f"{path}: corrupt gallery pack ({exc})") from None
    if bad:
        raise GalleryError(f"{path}: {bad} is corrupt (CRC mismatch): download the pack again")
    names = set(archive.namelist())
    missing = [name for name in (INFO, EMBEDDINGS) if name not in names]
    if missing:
        raise GalleryError(f"{path}: not a gallery pack, {', '.join(missing)} missing")
    try:
        info = GalleryInfo.from_dict(json.loads(archive.read(INFO)))
    except json.JSONDecodeError as exc:
        raise GalleryError(f"{path}: {INFO} is not valid JSON ({exc})") from None
    vectors = _load_npy(archive, EMBEDDINGS, path)
    if vectors.shape != (len(info.items), info.dims):
        raise GalleryError(
            f"{path}: {EMBEDDINGS} has shape {vectors.shape}, {INFO} says "
            f"({len(info.items)}, {info.dims})"
        )
    projection = None
    if info.projection:
        if info.projection not in names:
            raise GalleryError(f"{path}: {info.projection} named by {INFO} is missing")
        projection = _load_npy(archive, info.projection, path).astype(np.float32)
        if projection.ndim != 2 or projection.shape[1] != info.dims:
            raise GalleryError(f"{path}: {info.projection} is not a (D, {info.dims}) matrix")
    absent = [i.photo_id for i in info.items if thumbnail_name(i.photo_id) not in names]
    if absent:
        raise GalleryError(f"{path}: {len(absent)} thumbnails missing (first: {absent[0]})")
    return info, vectors, projection


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _load_npy(archive: zipfile.ZipFile, name: str, path: Path) -> np.ndarray:
    try:
        array: np.ndarray = np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
    except ValueError as exc:
        raise GalleryError(f"{path}: {name} is not a numpy array ({exc})") from None
    return array
