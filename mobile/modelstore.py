"""Which model and gallery the field app runs, and the atomic switch to a downloaded one.

The app ships with a built-in bundle (``IRIIS_BUNDLES_DIR``, the newest one) and its gallery pack
(``gallery-<version>.zip`` beside the bundle's files on a phone; on a desktop, where
``iriis gallery pack`` writes it, ``IRIIS_HOME/galleries/<version>/``). Downloaded
releases live under ``IRIIS_HOME/app/models/<version>/`` (bundle files and gallery pack side by
side), and ``models/current.json`` names the one in use. Installing a release means filling a
staging folder, verifying it whole (every file against the manifest, the bundle format, and the
identifier built on it passing a trial identification, ``model.identifier.check_identifier``),
renaming it into place, then replacing ``current.json`` in one rename: the bundle and its gallery
switch together, and a kill at any instant leaves either the old pair or the new one. A staging
folder left by an interrupted download is never read, and is removed by the next download or
start. A downloaded model that no longer verifies or loads is set aside for the built-in one.
"""

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from mobile.store import fsync_dir, write_durably
from model.bundle import SERVER_ONLY, BundleError, latest_bundle, verify
from model.gallery import GalleryError, open_gallery
from model.gallery.folder import GalleryFolder
from model.identifier import open_identifier
from model.settings import Settings

log = logging.getLogger(__name__)

CURRENT = "current.json"
# Bundle files the phone does without: it runs the int8 graph only, and never the torch weights.
NOT_ON_DEVICE = frozenset({"model.onnx", *SERVER_ONLY})


@dataclass(frozen=True)
class InstalledModel:
    version: str
    folder: Path  # the bundle's files
    gallery_pack: Path | None  # gallery-<version>.zip, when there is one
    builtin: bool  # shipped with the app rather than downloaded

    @property
    def model_bytes(self) -> int:
        """What the bundle takes on the device (without the fp32 graph it never opens)."""
        files = [p for p in self.folder.iterdir() if p.is_file()]
        return sum(
            p.stat().st_size
            for p in files
            if p.name not in NOT_ON_DEVICE and p != self.gallery_pack
        )

    @property
    def gallery_bytes(self) -> int:
        return self.gallery_pack.stat().st_size if self.gallery_pack else 0


def check_loads(folder: Path) -> None:
    """Build the phone's identifier (int8) on a verified bundle folder and run its trial
    identification; ``BundleError`` when the model would not answer (a broken policy or
    graph). Nothing is kept: the recognizer loads its own."""
    open_identifier(folder, variant="int8", threads=1, check=False)


def _pack(*folders: Path, version: str) -> Path | None:
    """The first of these folders holding the gallery pack of ``version``."""
    paths = [GalleryFolder(folder).pack_path(version) for folder in folders]
    return next((path for path in paths if path.is_file()), None)


class ModelStore:
    """The installed models of one app installation."""

    def __init__(self, home: Path, builtin_bundles: Path, builtin_galleries: Path) -> None:
        self.root = home / "models"
        self.builtin_bundles = builtin_bundles
        self.builtin_galleries = builtin_galleries
        # Downloaded bundles already loaded once: (folder, manifest) -> why it fails, or None.
        # The manifest names every file's sha256, so a bundle that verifies loads the same.
        self._loads: dict[tuple[Path, str], str | None] = {}

    def active(self) -> InstalledModel:
        """The downloaded model named by ``current.json`` if it is whole and loads (checked
        once per process), else the built-in one: a damaged download never leaves the app
        without a model."""
        try:
            version = json.loads((self.root / CURRENT).read_text(encoding="utf-8"))["version"]
        except FileNotFoundError:
            return self.builtin()
        folder = self.root / version
        try:
            manifest = verify(folder, skip=NOT_ON_DEVICE)
            key = (folder, json.dumps(manifest, sort_keys=True))
            if key not in self._loads:
                try:
                    check_loads(folder)
                    self._loads[key] = None
                except BundleError as exc:
                    self._loads[key] = str(exc)
            failure = self._loads[key]
            if failure is not None:
                raise BundleError(failure)
        except BundleError as exc:
            log.error("downloaded model unusable, using the built-in one: %s", exc)
            return self.builtin()
        return InstalledModel(version, folder, _pack(folder, version=version), builtin=False)

    def builtin(self) -> InstalledModel:
        folder = latest_bundle(self.builtin_bundles)
        version = str(verify(folder, skip=NOT_ON_DEVICE)["version"])
        pack = _pack(folder, self.builtin_galleries / version, version=version)
        return InstalledModel(version, folder, pack, builtin=True)

    def staging(self, version: str) -> Path:
        """An empty folder to download ``version`` into."""
        folder = self.root / f".staging-{version}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def install(self, staging: Path, version: str) -> InstalledModel:
        """Verify a fully downloaded release (files, format, and a trial identification on it)
        and make it the active one, atomically; ``BundleError``, the active model and gallery
        untouched, when it is not usable."""
        manifest = verify(staging, skip=NOT_ON_DEVICE)
        if manifest["version"] != version:
            raise BundleError(f"release {version} holds a bundle of version {manifest['version']}")
        check_loads(staging)
        pack = _pack(staging, version=version)
        if pack is not None:
            try:  # every member's CRC, and the pack's model version
                open_gallery(pack, model_version=version).close()
            except GalleryError as exc:
                raise BundleError(f"release {version}: {exc}") from exc
        folder = self.root / version
        self._loads[(folder, json.dumps(manifest, sort_keys=True))] = None  # it loads: just seen
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        fsync_dir(self.root)
        write_durably(self.root / CURRENT, json.dumps({"version": version}).encode())
        log.info("model %s installed and active", version)
        return self.active()

    def remove_unused(self) -> None:
        """Delete staging folders and downloaded models other than the active one; run at start,
        when no identifier still reads an older model."""
        if not self.root.is_dir():
            return
        active = self.active()
        if active.builtin:  # nothing downloaded is usable: forget it, a later sync fetches again
            (self.root / CURRENT).unlink(missing_ok=True)
        for folder in self.root.iterdir():
            if folder.is_dir() and folder != active.folder:
                log.info("removing unused model folder %s", folder.name)
                shutil.rmtree(folder, ignore_errors=True)


def share_builtin_gallery(settings: Settings, other: Settings) -> None:
    """Give another installation on this machine (the screenshots' or the bench's temporary
    phone) the gallery pack built here (``iriis gallery build`` and ``pack``) as its built-in
    one, by a link rather than a 40 MB copy."""
    store = ModelStore(other.app_home, settings.bundles_dir, settings.galleries_dir)
    builtin = store.builtin()
    if builtin.gallery_pack is None:
        log.warning("no gallery pack for %s: no similar photos will be shown", builtin.version)
        return
    link = other.galleries_dir / builtin.version / builtin.gallery_pack.name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(builtin.gallery_pack.resolve())
