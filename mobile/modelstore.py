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

The identifier that proves a model loads is the one the app then answers with
(:meth:`ModelStore.load`): a phone opens a model's ONNX session once per process, not once to
check it and again to use it.

A release carries the catalog it was made with (``catalog.yaml``): the app names a label added
after it was built, and gives its advice, once the model that answers it is installed; before,
it shows the label's id (``Catalog.name_or_id``). A model without one uses the app's own.
"""

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from mobile.store import fsync_dir, write_durably
from model.bundle import CATALOG, SERVER_ONLY, BundleError, latest_bundle, verify
from model.catalog import Catalog, CatalogError, read_catalog
from model.gallery import GalleryError, open_gallery
from model.gallery.folder import GalleryFolder
from model.identifier import Identifier, open_identifier
from model.settings import Settings

log = logging.getLogger(__name__)

CURRENT = "current.json"
# The gallery photos the server says no one may be shown any more (``withdrawn_references``).
WITHDRAWN = "withdrawn.json"
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


def _pack(*folders: Path, version: str) -> Path | None:
    """The first of these folders holding the gallery pack of ``version``."""
    paths = [GalleryFolder(folder).pack_path(version) for folder in folders]
    return next((path for path in paths if path.is_file()), None)


class ModelStore:
    """The installed models of one app installation."""

    def __init__(
        self,
        home: Path,
        builtin_bundles: Path,
        builtin_galleries: Path,
        *,
        catalog: Catalog | None = None,
        threads: int = 1,
    ) -> None:
        self.root = home / "models"
        self.builtin_bundles = builtin_bundles
        self.builtin_galleries = builtin_galleries
        self.own_catalog = catalog  # the app's; a model's own catalog.yaml comes first
        self.threads = threads
        # Bundles loaded in this process: (folder, manifest) -> the identifier, or why it fails.
        # The manifest names every file's sha256, so a bundle that verifies loads the same.
        self._loaded: dict[tuple[Path, str], Identifier | BundleError] = {}
        self._catalogs: dict[Path, tuple[int, Catalog | None]] = {}

    def catalog(self) -> Catalog | None:
        """The catalog of the model in use (the one named by ``current.json``, else the
        built-in one), read without loading the model, so that the first screen never waits
        on it. A model whose catalog file does not load is answered with the app's own."""
        try:
            version = json.loads((self.root / CURRENT).read_text(encoding="utf-8"))["version"]
            folder = self.root / version
        except FileNotFoundError:
            folder = latest_bundle(self.builtin_bundles)
        return self._catalog_of(folder)

    def _catalog_of(self, folder: Path) -> Catalog | None:
        """``folder``'s ``catalog.yaml``, read once per version of the file."""
        path = folder / CATALOG
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            return self.own_catalog
        if self._catalogs.get(folder, (None,))[0] != stamp:
            try:
                self._catalogs[folder] = (stamp, read_catalog(folder))
            except CatalogError as exc:
                log.error("the catalog of model %s does not load, using the app's: %s", folder, exc)
                self._catalogs[folder] = (stamp, self.own_catalog)
        return self._catalogs[folder][1]

    def active(self) -> InstalledModel:
        """The downloaded model named by ``current.json`` if it is whole and loads (loaded
        once per process), else the built-in one: a damaged download never leaves the app
        without a model."""
        return self._active()[0]

    def load(self) -> tuple[InstalledModel, Identifier]:
        """The active model and its identifier (int8, the catalog's groups, no gallery): the
        one that proved it loads, or the built-in model's, loaded on first use."""
        model, manifest = self._active()
        return model, self._identifier(model.folder, manifest)

    def _active(self) -> tuple[InstalledModel, dict[str, object]]:
        try:
            version = json.loads((self.root / CURRENT).read_text(encoding="utf-8"))["version"]
        except FileNotFoundError:
            return self._builtin()
        folder = self.root / version
        try:
            manifest = verify(folder, skip=NOT_ON_DEVICE)
            self._identifier(folder, manifest)
        except BundleError as exc:
            log.error("downloaded model unusable, using the built-in one: %s", exc)
            return self._builtin()
        return InstalledModel(version, folder, _pack(folder, version=version), False), manifest

    def _identifier(self, folder: Path, manifest: dict[str, object]) -> Identifier:
        """The phone's identifier on a verified bundle folder, built (with its trial
        identification) once per process; ``BundleError`` when the model would not answer
        (a broken policy or graph), remembered too."""
        key = (folder, json.dumps(manifest, sort_keys=True))
        if key not in self._loaded:
            try:
                self._loaded[key] = open_identifier(
                    folder,
                    variant="int8",
                    threads=self.threads,
                    catalog=self._catalog_of(folder),
                    check=False,
                )
            except BundleError as exc:
                self._loaded[key] = exc
        found = self._loaded[key]
        if isinstance(found, BundleError):
            raise found
        return found

    def builtin(self) -> InstalledModel:
        return self._builtin()[0]

    def _builtin(self) -> tuple[InstalledModel, dict[str, object]]:
        folder = latest_bundle(self.builtin_bundles)
        manifest = verify(folder, skip=NOT_ON_DEVICE)
        version = str(manifest["version"])
        pack = _pack(folder, self.builtin_galleries / version, version=version)
        return InstalledModel(version, folder, pack, builtin=True), manifest

    def staging(self, version: str) -> Path:
        """An empty folder to download ``version`` into."""
        folder = self.root / f".staging-{version}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def install(self, staging: Path, version: str) -> InstalledModel:
        """Verify a fully downloaded release (files, format, and a trial identification on it)
        and make it the active one, atomically; ``BundleError``, the active model and gallery
        untouched, when it is not usable. The identifier that passed the trial is kept for the
        app to answer with."""
        manifest = verify(staging, skip=NOT_ON_DEVICE)
        if manifest["version"] != version:
            raise BundleError(f"release {version} holds a bundle of version {manifest['version']}")
        identifier = self._identifier(staging, manifest)
        pack = _pack(staging, version=version)
        if pack is not None:
            try:  # every member's CRC, and the pack's model version
                open_gallery(pack, model_version=version).close()
            except GalleryError as exc:
                raise BundleError(f"release {version}: {exc}") from exc
        folder = self.root / version
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        fsync_dir(self.root)
        # The session holds the graph already; the bundle's files now live under ``folder``.
        identifier.bundle = dataclasses.replace(identifier.bundle, folder=folder)
        self._loaded = {(folder, json.dumps(manifest, sort_keys=True)): identifier}
        write_durably(self.root / CURRENT, json.dumps({"version": version}).encode())
        log.info("model %s installed and active", version)
        return self.active()

    def withdrawn(self) -> frozenset[str]:
        """The gallery photo ids withdrawn at the last sync: case photos whose owner took them
        back after the packs were built (``api.services.references``); ids are content hashes,
        so the list holds for every pack."""
        try:
            return frozenset(json.loads((self.root / WITHDRAWN).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return frozenset()

    def set_withdrawn(self, photo_ids: list[str]) -> None:
        """Keep the server's list of withdrawn gallery photos (replacing the last one)."""
        if set(photo_ids) == self.withdrawn():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        write_durably(self.root / WITHDRAWN, json.dumps(sorted(photo_ids)).encode())
        log.info("%d gallery photo(s) withdrawn", len(photo_ids))

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
