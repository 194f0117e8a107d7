"""``iriis gallery refresh``: a model's gallery, its search index and its pack brought in step
with the bank, doing only what is needed: nothing but a stat of the bank's files when it has not
changed, the rest of the photos when a build was interrupted, only the new photos when some were
added. The service runs it in the background when it starts (``api/galleries.py``), in a
process of its own at low priority, and reads how far it is from ``progress.json``.
"""

import json
import logging
from dataclasses import dataclass

from model.gallery.backends import index_class
from model.gallery.build import BuildReport, build_gallery, built_from, is_current
from model.gallery.folder import GalleryFolder, replace_atomically
from model.gallery.pack import pack_source, packed_from, write_pack
from model.identifier import Identifier
from model.settings import Settings

log = logging.getLogger(__name__)

BANK_MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    def __str__(self) -> str:
        return f"{self.done}/{self.total}"


def needs_refresh(folder: GalleryFolder, version: str) -> bool:
    """Whether ``refresh_gallery`` has anything to do for model ``version``'s gallery: one to
    build (``needs_build``) or a pack not made from it (under a second for 10,000 photos: a
    stat of each and a read of the pack's directory)."""
    if needs_build(folder):
        return True
    return packed_from(folder.pack_path(version)) != pack_source(folder)


def needs_build(folder: GalleryFolder) -> bool:
    """A gallery not built yet (or half-way), or whose bank changed since it was. One built
    without a record of its bank (by an older version, or a copy) is left as it is: which bank
    it shows is not known, and ``iriis gallery build`` rebuilds it from ``IRIIS_BANK_DIR``; so
    is one whose bank is gone."""
    if not folder.exists():
        return True
    source = built_from(folder)
    if source is None or not (source.bank / source.manifest).is_file():
        return False
    return not is_current(folder)


def refresh_gallery(
    identifier: Identifier, folder: GalleryFolder, settings: Settings, *, backend: str
) -> BuildReport | None:
    """Build what changed of the gallery of ``identifier``'s model in ``folder`` (None when
    nothing had: ``needs_build``), bring ``backend``'s index in step, and pack it for the field
    app if the gallery changed. The bank is the one the gallery was built from (a published
    model's is its bank version's references), else ``settings.bank_dir``'s manifest. One
    refresh or build of a folder at a time: a second waits, then finds nothing left to do."""
    index_class(backend)  # a backend whose package is missing fails now, not after embedding
    with folder.building():
        report = None
        if needs_build(folder):
            source = built_from(folder)
            bank, manifest = (
                (source.bank, source.manifest) if source else (settings.bank_dir, BANK_MANIFEST)
            )
            report = build_gallery(
                identifier,
                bank,
                folder,
                settings.gallery_projection_dims,
                manifest=manifest,
                progress=lambda done, total: write_progress(folder, Progress(done, total)),
            )
        with folder.open(backend, settings):
            pass  # opening syncs the backend's index with the folder
        write_pack(folder)  # only if the gallery changed
        folder.progress_path.unlink(missing_ok=True)
    return report


def write_progress(folder: GalleryFolder, progress: Progress) -> None:
    text = json.dumps({"done": progress.done, "total": progress.total})
    replace_atomically(folder.progress_path, lambda path: path.write_text(text, encoding="utf-8"))


def read_progress(folder: GalleryFolder, since: float) -> Progress | None:
    """How far the build of ``folder`` running now is, as written at ``since`` (a
    ``time.time()``) or later: None before it has counted the photos, and for what a build
    stopped half-way left behind."""
    try:
        if folder.progress_path.stat().st_mtime < since:
            return None
        data = json.loads(folder.progress_path.read_text(encoding="utf-8"))
        return Progress(int(data["done"]), int(data["total"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
