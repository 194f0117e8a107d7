"""A new organism, end to end, as docs/new-label.md tells the lab to add one: its catalog entry,
growers' photos of it corrected to it by a specialist, ``iriis retrain`` learning it (the
classifier grown by one row), the gallery showing its reference photo, the API answering it,
and the field app: its answer shows the label's id while the app's catalog predates it, then
its name once the model that answers it (and the catalog that comes with it) is installed.

The lab and the phone are real: the service is a process on 127.0.0.1 (``iriis serve``) with
its SQLite database, which the retraining reads as ``iriis retrain`` does; the served model is
a tiny one trained on a miniature of the bank that never saw the new organism."""

import shutil
from datetime import date
from pathlib import Path

import httpx
import pytest
import yaml

from api.db import database_url, make_engine, session_factory
from api.settings import ApiSettings
from mobile.controller import FieldController
from mobile.prefs import Preferences
from mobile.settings import AppSettings
from model.bundle import CATALOG
from model.catalog import read_catalog
from model.gallery.folder import GalleryFolder
from model.manifest import read_manifest
from model.settings import Settings
from tests.mobile_support import PASSWORD, LiveServer
from tests.retrain_support import (
    PERMISSIVE,
    SERVED,
    UNMET,
    Miniature,
    catalog_entry,
    retrain_params,
)
from training.retrain import retrain

pytestmark = pytest.mark.slow

NEW = UNMET
FRENCH_NAME = "Escargot"
TODAY = date(2026, 12, 7)


def _photos(settings: Settings, bank_dir: Path, n: int) -> list[bytes]:
    rows = [r for r in read_manifest(settings.splits_path) if r["label"] == NEW]
    return [(bank_dir / r["file"]).read_bytes() for r in rows if r["split"] == "train"][:n]


class _Grower:
    """A grower's account on the server, used as the API's clients use it."""

    def __init__(self, server: LiveServer, name: str) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=120)
        body = {"username": name, "password": PASSWORD, "role": "grower"}
        self.http.post("/v1/auth/register", json=body).raise_for_status()
        token = self.http.post("/v1/auth/token", data={"username": name, "password": PASSWORD})
        self.http.headers["Authorization"] = (
            f"Bearer {token.raise_for_status().json()['access_token']}"
        )

    def identify(self, photo: bytes, ask: bool = False) -> dict:
        files = [("photos", ("snail.jpg", photo, "image/jpeg"))]
        data = {"ask_specialist": "true"} if ask else {}
        response = self.http.post("/v1/identifications", files=files, data=data)
        assert response.status_code == 201, response.text
        return dict(response.json())


def test_a_new_organism_from_its_catalog_entry_to_an_answer_in_the_app(
    miniature: Miniature,
    settings: Settings,
    bank_dir: Path,
    phone_settings: AppSettings,
    tmp_path: Path,
) -> None:
    photos = _photos(settings, bank_dir, 9)
    data = tmp_path / "lab-data"  # the lab's catalog and splits, which this test changes
    shutil.copytree(miniature.data, data)
    # A phone built before the new organism: its catalog and its model do not know it.
    phone_settings = phone_settings.model_copy(
        update={"bundles_dir": miniature.bundles, "data_dir": tmp_path / "phone-data"}
    )
    shutil.copytree(data / "catalog", phone_settings.catalog_dir)

    # 1. The catalog entry, in both languages and for every profile, in a file of its own.
    entry = catalog_entry(settings.catalog_dir, NEW)
    (data / "catalog" / "new-organisms.yaml").write_text(
        yaml.safe_dump({"labels": {NEW: entry}}, allow_unicode=True), encoding="utf-8"
    )
    catalog = read_catalog(data / "catalog")
    assert catalog.name(NEW, "en") == "Snail"

    lab = ApiSettings(
        home=tmp_path / "lab", bank_dir=miniature.bank, data_dir=data, bundles_dir=miniature.bundles
    )
    server = LiveServer(lab.home, miniature.bundles)
    server.env.update({"IRIIS_DATA_DIR": str(data), "IRIIS_BANK_DIR": str(miniature.bank)})
    server.start()
    try:
        phone = FieldController(phone_settings)
        phone.start()
        assert NEW not in phone.catalog.labels
        phone.save_preferences(Preferences(server_url=server.url, setup_done=True))
        phone.sign_in(server.url, "ferme.escargots", PASSWORD, create=True)

        # 2. Growers' photos of it, which the served model cannot name, corrected by a
        # specialist to the new label; the first grower lets the lab use their photos as
        # references, and the specialist makes one a reference.
        growers = [_Grower(server, f"grower{i}") for i in range(2)]
        growers[0].http.patch("/v1/users/me", json={"share_photos": True}).raise_for_status()
        cases = []
        for i, photo in enumerate(photos[:8]):
            answer = growers[i % 2].identify(photo, ask=True)
            assert answer["label"] != NEW and answer["case"]
            cases.append(answer)
        asked = phone.identify([photos[8]])
        assert asked.view.reading.model_version == SERVED
        phone.ask_specialist(asked.observation.id, "Qu'est-ce qui mange mes laitues?")
        assert phone.sync(update=False).error is None
        phone_case = phone.outbox.get(asked.observation.id).case_id
        for answer in cases:
            server.answer(answer["case"]["id"], NEW, "Des escargots : ramassez-les le soir.")
        server.answer(phone_case, NEW, "Des escargots : ramassez-les le soir.")
        reference = cases[0]["photos"][0].rsplit("/", 1)[-1]
        specialist = _specialist(server)
        specialist.put(
            f"/v1/queue/cases/{cases[0]['case']['id']}/references/{reference}"
        ).raise_for_status()

        # The answer reaches the phone before the model that knows the label: shown by its id.
        assert phone.sync(update=False).error is None
        [case] = phone.cases()
        assert case.answered and case.title == NEW

        # 3. iriis retrain: the cases make a bank version with the new label, the classifier
        # grows a row for it, the gate compares the rest and reports it apart.
        engine = make_engine(database_url(lab))
        with session_factory(engine)() as session:
            result = retrain(
                settings=lab,
                session=session,
                catalog=catalog,
                params=retrain_params(PERMISSIVE, head_only=True, weight_decay=1e-3),
                today=TODAY,
            )
        engine.dispose()
        assert result.published is not None, result.report["reasons"]
        [row] = result.report["new_labels"]
        assert row["label"] == NEW and row["support"] >= 1
        assert (result.published / CATALOG).is_file()  # the release carries the new catalog
        assert read_catalog(result.published).name(NEW) == FRENCH_NAME

        # 4. The gallery of similar photos shows the new organism's reference photo.
        info, _ = GalleryFolder(lab.galleries_dir / result.version).read()
        assert NEW in {item.label for item in info.items}

        # 5. The API answers it, with its catalog entry.
        answer = growers[1].identify(photos[1])
        assert answer["model_version"] == result.version
        assert answer["label"] == NEW

        # 6. The app, after a sync, answers it too, by its name, and names the answered case.
        report = phone.sync()
        assert report.model == result.version and report.error is None
        assert phone.catalog.name(NEW) == FRENCH_NAME
        [case] = phone.cases()
        assert case.title == FRENCH_NAME
        identified = phone.identify([photos[1]])
        assert identified.view.reading.model_version == result.version
        assert identified.observation.result.top_k[0].label == NEW
    finally:
        server.stop()


def _specialist(server: LiveServer) -> httpx.Client:
    """The specialist account ``LiveServer.answer`` made, signed in."""
    http = httpx.Client(base_url=server.url, timeout=60)
    _sign_in(http, "lab.specialist", "specialist password")
    return http


def _sign_in(http: httpx.Client, username: str, password: str) -> None:
    token = http.post("/v1/auth/token", data={"username": username, "password": password})
    http.headers["Authorization"] = f"Bearer {token.raise_for_status().json()['access_token']}"
