"""Model updates from the real server: a newer release is downloaded, checked and switched to
atomically; a corrupt, cut or killed download, or a release this app cannot load (a newer bundle
format, a broken policy or graph), leaves the current model answering."""

import hashlib
import shutil
from pathlib import Path

import pytest

from api.services.references import CASE_SOURCE
from mobile import modelstore
from mobile.controller import FieldController
from mobile.modelstore import CURRENT, NOT_ON_DEVICE, ModelStore
from mobile.settings import AppSettings
from model.bundle import SERVER_ONLY, BundleError, latest_bundle, write_manifest
from model.gallery import photo_id
from model.identifier import Identifier, open_identifier
from model.settings import Settings
from tests.bundle_support import BROKEN_POLICIES, break_release, bundle_copy, relist
from tests.helpers import textured_image
from tests.mobile_support import (
    Fault,
    FaultProxy,
    LiveServer,
    build_pack,
    signed_in_phone,
    sync_in_a_process,
)

NEWER = "2099.01.01"
DOWNLOAD = f"GET /v1/models/{NEWER}/files/model.int8.onnx "

pytestmark = pytest.mark.slow


@pytest.fixture
def release_server(tmp_path: Path, settings: Settings) -> LiveServer:
    """A server whose newest bundle is the committed one released again as a newer version,
    with the gallery pack of that version."""
    bundles = tmp_path / "released"
    folder = bundles / NEWER
    shutil.copytree(latest_bundle(settings.bundles_dir), folder)
    write_manifest(folder, NEWER)
    build_pack(settings, folder, tmp_path / "server")  # the server distributes its gallery too
    server = LiveServer(tmp_path / "server", bundles).start()
    yield server
    server.stop()


def _identifies(phone: FieldController, photo: bytes) -> str:
    return phone.identify([photo]).view.reading.model_version


def test_a_newer_model_is_downloaded_checked_and_switched_to(
    release_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    phone = signed_in_phone(phone_settings, release_server.url, "ferme.update")
    builtin = phone.models.active()
    assert builtin.builtin and _identifies(phone, test_photos[0]) == builtin.version
    report = phone.sync()
    assert report.model == NEWER and report.error is None
    active = phone.models.active()
    assert (active.version, active.builtin) == (NEWER, False)
    assert active.folder == phone_settings.app_home / "models" / NEWER
    assert not any((active.folder / name).exists() for name in NOT_ON_DEVICE)  # int8 only
    assert active.gallery_pack == active.folder / f"gallery-{NEWER}.zip"  # switched together
    identified = phone.identify([test_photos[0]])
    assert identified.view.reading.model_version == NEWER and identified.view.reading.similar
    assert phone.sync().model is None  # already the latest
    phone.start()  # the next start removes nothing in use
    assert phone.models.active().version == NEWER


def test_a_gallery_photo_withdrawn_on_the_server_leaves_the_phone_at_its_next_sync(
    tmp_path: Path, settings: Settings, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    # The release's pack holds a case photo that no row on the server names any more (its
    # owner erased their account after the pack was built): the server lists it as withdrawn.
    photo = test_photos[0]
    reference = photo_id(hashlib.sha256(photo).hexdigest())
    case = {"file": "cases/x/photo.jpg", "label": "apple.scab", "source": CASE_SOURCE}
    bundles = tmp_path / "released"
    shutil.copytree(latest_bundle(settings.bundles_dir), bundles / NEWER)
    write_manifest(bundles / NEWER, NEWER)
    build_pack(settings, bundles / NEWER, tmp_path / "server", [{**case, "data": photo}])
    server = LiveServer(tmp_path / "server", bundles).start()
    try:
        phone = signed_in_phone(phone_settings, server.url, "ferme.withdrawn")
        assert phone.sync().model == NEWER and phone.models.withdrawn() == {reference}
    finally:
        server.stop()

    def similar() -> list[str]:
        return [p.photo_id for p in phone.identify([photo]).view.reading.similar]

    # Offline now: the phone's answers and thumbnails leave it out all the same.
    assert similar() and reference not in similar()
    with pytest.raises(KeyError):
        phone.recognizer().thumbnail(reference)
    phone.models.set_withdrawn([])  # the pack does hold it: the list alone keeps it out
    assert similar()[0] == reference and phone.recognizer().thumbnail(reference)


@pytest.mark.parametrize("kind", ["corrupt_response", "cut_response"])
@pytest.mark.parametrize("file", ["model.int8.onnx", f"gallery-{NEWER}.zip"])
def test_a_corrupt_or_partial_download_leaves_the_current_model(
    kind: str,
    file: str,
    release_server: LiveServer,
    phone_settings: AppSettings,
    test_photos: list[bytes],
) -> None:
    proxy = FaultProxy(release_server.port)
    phone = signed_in_phone(phone_settings, proxy.url, "ferme.corrupt")
    builtin = phone.models.active().version
    fault = proxy.inject(Fault(kind, f"GET /v1/models/{NEWER}/files/{file} ", after=100_000))
    report = phone.sync()
    assert fault.reached.is_set()
    assert report.model is None and report.error
    assert phone.models.active().version == builtin
    assert not (phone_settings.app_home / "models" / CURRENT).exists()
    assert [p.name for p in (phone_settings.app_home / "models").iterdir()] == []
    assert _identifies(phone, test_photos[0]) == builtin  # still answering
    report = phone.sync()  # the next pass, on a sound network, installs it
    assert report.model == NEWER


def test_a_damaged_installed_model_falls_back_to_the_builtin_one(
    release_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    phone = signed_in_phone(phone_settings, release_server.url, "ferme.damaged")
    phone.sync()
    installed = phone.models.active()
    assert installed.version == NEWER
    model = installed.folder / "model.int8.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    fallback = phone.models.active()
    assert fallback.builtin and fallback.version != NEWER
    assert _identifies(phone, test_photos[0]) == fallback.version
    phone.start()  # the next start forgets the damaged download; the next sync fetches it again
    assert list((phone_settings.app_home / "models").iterdir()) == []
    assert phone.sync().model == NEWER


def test_the_app_killed_during_a_download_keeps_its_model(
    release_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    proxy = FaultProxy(release_server.port)
    phone = signed_in_phone(phone_settings, proxy.url, "ferme.interrupted")
    builtin = phone.models.active().version
    fault = proxy.inject(Fault("delay_response", DOWNLOAD, delay=30.0))
    process = sync_in_a_process(phone_settings)
    try:
        assert fault.reached.wait(60), "the download never started"
        process.kill()
        process.wait(10)
    finally:
        fault.release.set()
    models = phone_settings.app_home / "models"
    assert [p.name for p in models.iterdir()] == [f".staging-{NEWER}"]  # what the kill left
    restarted = FieldController(phone_settings)
    restarted.start()
    assert list(models.iterdir()) == []
    assert _identifies(restarted, test_photos[0]) == builtin


def _staged(store: ModelStore, bundle: Path, pack: Path) -> Path:
    """A release as downloaded: the bundle's files but the fp32 graph, and its gallery pack."""
    staging = store.staging(bundle.name)
    for path in bundle.iterdir():
        if path.name not in NOT_ON_DEVICE:
            shutil.copyfile(path, staging / path.name)
    shutil.copyfile(pack, staging / pack.name)
    return staging


def test_the_bundle_and_its_gallery_pack_switch_together(
    phone_settings: AppSettings, settings: Settings, gallery_pack: Path
) -> None:
    bundle = latest_bundle(settings.bundles_dir)
    store = ModelStore(phone_settings.app_home, settings.bundles_dir, phone_settings.galleries_dir)
    assert store.active().gallery_pack is None  # none built in on this phone
    installed = store.install(_staged(store, bundle, gallery_pack), bundle.name)
    assert not installed.builtin and installed.gallery_pack == installed.folder / gallery_pack.name
    assert installed.gallery_bytes == gallery_pack.stat().st_size

    # A release whose pack is damaged is refused whole: the installed pair stays.
    staging = _staged(store, bundle, gallery_pack)
    damaged = staging / gallery_pack.name
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="corrupt"):
        store.install(staging, bundle.name)
    assert store.active() == installed


def _store(phone_settings: AppSettings, settings: Settings) -> ModelStore:
    return ModelStore(phone_settings.app_home, settings.bundles_dir, phone_settings.galleries_dir)


def _staged_copy(store: ModelStore, settings: Settings) -> Path:
    """The committed bundle released as NEWER, as the phone downloads it: no fp32 graph, and
    no torch weights (listed in the manifest all the same)."""
    staging = bundle_copy(
        latest_bundle(settings.bundles_dir),
        store.staging(NEWER),
        NEWER,
        leave_out=NOT_ON_DEVICE,
        extra=dict.fromkeys(SERVER_ONLY, b"torch weights"),
    )
    for name in SERVER_ONLY:
        (staging / name).unlink()
    return staging


@pytest.mark.parametrize("kind", ["format", *BROKEN_POLICIES])
def test_a_release_the_app_cannot_load_is_not_installed(
    phone_settings: AppSettings, settings: Settings, kind: str
) -> None:
    store = _store(phone_settings, settings)
    builtin = store.active()
    message = break_release(_staged_copy(store, settings), kind)
    with pytest.raises(BundleError, match=message):
        store.install(store.root / f".staging-{NEWER}", NEWER)
    assert store.active() == builtin
    assert not (store.root / CURRENT).exists() and not (store.root / NEWER).exists()


def test_a_model_is_opened_once_per_process_the_trial_identifier_answering(
    phone_settings: AppSettings, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A phone opens a model's ONNX session for its trial at install and answers with that
    # same identifier; a new process (a new store) opens the installed model once more.
    opened: list[Path] = []

    def counted(folder: Path, **kwargs: object) -> Identifier:
        opened.append(folder)
        return open_identifier(folder, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(modelstore, "open_identifier", counted)
    store = _store(phone_settings, settings)
    installed = store.install(_staged_copy(store, settings), NEWER)
    assert opened == [store.root / f".staging-{NEWER}"]  # the trial, before the rename
    model, identifier = store.load()
    assert model == installed and identifier.bundle.folder == installed.folder
    assert store.load()[1] is identifier and store.active() == installed
    assert len(opened) == 1
    assert identifier.identify([textured_image(seed=3)]).model_version == NEWER
    restarted = _store(phone_settings, settings)
    assert restarted.load()[0] == installed and restarted.active() == installed
    assert opened[1:] == [installed.folder]


def test_a_release_whose_phone_graph_is_broken_leaves_the_current_model(
    tmp_path: Path, settings: Settings, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    """The server answers with its fp32 graph and offers the release; the phone, which runs the
    int8 one, refuses it and keeps answering with its model."""
    release = bundle_copy(latest_bundle(settings.bundles_dir), tmp_path / "released" / NEWER, NEWER)
    (release / "model.int8.onnx").write_bytes(b"\x08\x07 a truncated graph")
    relist(release)
    server = LiveServer(tmp_path / "server", release.parent)
    server.env["IRIIS_SERVE_MODEL_VARIANT"] = "fp32"
    server.start()
    try:
        phone = signed_in_phone(phone_settings, server.url, "ferme.int8")
        builtin = phone.models.active().version
        report = phone.sync()
        assert report.model is None and "not usable" in (report.error or "")
        assert phone.models.active().version == builtin
        assert list((phone_settings.app_home / "models").iterdir()) == []
        assert _identifies(phone, test_photos[0]) == builtin
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["format", "projection_shape"])
def test_an_installed_model_that_no_longer_loads_falls_back_to_the_builtin_one(
    phone_settings: AppSettings, settings: Settings, kind: str
) -> None:
    store = _store(phone_settings, settings)
    installed = store.install(_staged_copy(store, settings), NEWER)
    assert (installed.version, installed.builtin) == (NEWER, False)
    assert not any((installed.folder / name).exists() for name in SERVER_ONLY)
    break_release(installed.folder, kind)  # what a newer app, or a damaged update, left
    fallback = store.active()
    assert fallback.builtin and fallback.version != NEWER
    store.remove_unused()  # the next start forgets it; a later sync fetches a good one again
    assert list(store.root.iterdir()) == []
