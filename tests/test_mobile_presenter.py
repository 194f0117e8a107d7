"""What the result and case screens show, from real identifier results and the real catalog,
without a window: the answer's reading (its rules are tested in tests/test_answer.py) and the
app's own states."""

import io
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageFilter

from mobile.controller import FieldController
from mobile.outbox import Observation, Outbox
from mobile.prefs import Account, SyncState
from mobile.presenter import CaseView, clock_time, present_case, present_result, present_settings
from mobile.settings import AppSettings
from mobile.texts import text
from model.answer import Lab, read
from model.catalog import Catalog
from model.i18n import Language
from model.identifier import NEIGHBOURS
from model.result import Decision, Identification, LabelScore, Reason
from model.settings import Settings
from model.wording import likeness_words
from tests.mobile_support import install_builtin_gallery

LAB = Lab("418 555-0100", "lab@example.org")


def _result(decision: Decision, reason: Reason | None = None, **fields: object) -> Identification:
    top_k = [
        LabelScore("apple.scab", 0.62),
        LabelScore("apple.black_rot", 0.30),
        LabelScore("apple.healthy", 0.005),
    ]
    return Identification(
        top_k=top_k, decision=decision, reason=reason, model_version="v1", **fields
    )  # type: ignore[arg-type]


def test_the_result_screen_is_the_readings_with_the_gallery_of_this_device(
    catalog: Catalog,
) -> None:
    result = _result(Decision.NEEDS_SPECIALIST, Reason.AMBIGUOUS)
    view = present_result(
        result, catalog, lang="fr", profile="grower", lab=LAB, gallery_installed=False
    )
    assert view.reading == read(result, catalog, lang="fr", profile="grower", lab=LAB)
    assert view.similar_note == text("no_gallery", "fr")
    shown = present_result(
        result, catalog, lang="en", profile="advisor", lab=LAB, gallery_installed=True
    )
    assert shown.similar_note is None and shown.reading.headline == "Uncertain identification"


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory, app_settings: AppSettings) -> FieldController:
    phone = FieldController(
        app_settings.model_copy(update={"home": tmp_path_factory.mktemp("phone")})
    )
    phone.start()
    return phone


def test_a_bank_photo_gets_its_label_on_the_phone(
    phone: FieldController, bank_dir: Path, settings: Settings
) -> None:
    from model.manifest import read_manifest

    row = next(
        r
        for r in read_manifest(settings.splits_path)
        if r["split"] == "test" and r["label"] == "potato.late_blight"
    )
    identified = phone.identify([(bank_dir / row["file"]).read_bytes()])
    reading = identified.view.reading
    assert reading.headline == "Mildiou de la pomme de terre"
    assert reading.decision_code == "accepted"
    assert reading.model_version == phone.models.active().version
    assert identified.observation.result.label == "potato.late_blight"


@pytest.mark.parametrize("damage", ["dark", "blurry"])
def test_a_dark_or_blurry_bank_photo_gets_the_retake_hint(
    damage: str, phone: FieldController, bank_dir: Path, settings: Settings
) -> None:
    from model.manifest import read_manifest

    row = next(r for r in read_manifest(settings.splits_path) if r["split"] == "test")
    image = Image.open(bank_dir / row["file"]).convert("RGB")
    if damage == "dark":
        image = ImageEnhance.Brightness(image).enhance(0.04)
    else:
        image = image.filter(ImageFilter.GaussianBlur(8))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    reading = phone.identify([buffer.getvalue()]).view.reading
    assert reading.retake and reading.decision_code == "needs_specialist"
    assert reading.headline == "Photo à reprendre" and "reprenez-la" in (reading.reason or "")


def _case(observation: Observation, catalog: Catalog, lang: Language) -> CaseView:
    return present_case(observation, catalog, lang=lang, profile="grower", lab=LAB)


def test_case_states_in_words_and_the_specialists_answer_as_the_title(
    tmp_path: Path, catalog: Catalog
) -> None:
    outbox = Outbox(tmp_path)
    accepted = Identification.from_dict({"label": "apple.scab", "decision": "accepted"})
    observation = outbox.ask(outbox.record([b"photo"], accepted).id, "Que faire?")
    assert _case(observation, catalog, "fr").state == "En attente d'envoi"
    assert _case(observation, catalog, "fr").title == "Tavelure du pommier"
    case = {"id": "c1", "identification_id": "s1", "status": "open"}
    waiting = {**case, "expected_answer": {"text": "tomorrow, around 10:00"}}
    outbox.mark_sent(observation.id, True, {"id": "s1", "case": waiting})
    sent = _case(outbox.get(observation.id), catalog, "en")
    assert sent.state == "Sent to the lab"
    assert sent.detail == "The lab expects to answer tomorrow, around 10:00."
    answer = {"status": "answered", "label": "apple.black_rot", "answer": "Taillez les chancres."}
    outbox.update_cases([{**case, **answer}])
    view = _case(outbox.get(observation.id), catalog, "fr")
    assert view.answered and view.state == "Réponse du spécialiste"
    assert view.title == "Pourriture noire du pommier"  # the specialist's label, not the model's
    assert view.detail == "Taillez les chancres."


def test_before_asking_the_wait_the_lab_gave_at_the_last_sync_while_it_lies_ahead(
    catalog: Catalog,
) -> None:
    result = Identification.from_dict({"label": "apple.scab", "decision": "needs_specialist"})
    now = datetime(2026, 12, 7, 9, 0).astimezone()

    def note(wait_at: str) -> str | None:
        view = present_result(
            result,
            catalog,
            lang="en",
            profile="grower",
            lab=LAB,
            gallery_installed=True,
            specialist_wait_at=wait_at,
            now=now,
        )
        return view.ask_note

    tomorrow = (now + timedelta(days=1, hours=1)).isoformat()
    assert note(tomorrow) == (
        "Asked now, a specialist would answer tomorrow, around 10:00 (as the lab said at the "
        "last sync)."
    )
    assert note((now - timedelta(hours=1)).isoformat()) is None  # passed: no longer true
    assert note("") is None  # never synced


def test_sync_status_in_words_without_technical_errors() -> None:
    account = Account("ferme", "access", "refresh")
    never = present_settings("v1", 2, SyncState(), Account(), False, "en")
    assert never.model == "Model: v1" and not never.share
    assert never.sync == ["2 request(s) waiting to be sent", "Never synced."]
    failing = SyncState(2, 1_800_000_000.0, 1_700_000_000.0, "ConnectError: [Errno 111]")
    lines = present_settings("v1", 1, failing, account, True, "fr").sync
    assert lines[1] == f"Dernière synchronisation : {clock_time(1_700_000_000.0)}"
    assert lines[2] == f"Serveur injoignable; nouvel essai vers {clock_time(1_800_000_000.0)}"
    assert lines[3] == "Connecté : ferme" and "Errno" not in "".join(lines)


def test_similar_reference_photos_come_from_the_gallery_pack(
    phone_settings: AppSettings, gallery_pack: Path, bank_dir: Path, settings: Settings
) -> None:
    from model.manifest import read_manifest

    install_builtin_gallery(phone_settings, gallery_pack)
    phone = FieldController(phone_settings)
    row = next(r for r in read_manifest(settings.splits_path) if r["split"] == "test")
    photo = (bank_dir / row["file"]).read_bytes()  # one of the gallery's photos
    identified = phone.identify([photo])
    view = identified.view
    assert view.similar_note is None and len(view.reading.similar) == NEIGHBOURS
    first = view.reading.similar[0]
    assert first.name == phone.catalog.name(row["label"], "fr")  # the photo itself, first
    nearest, second = identified.observation.result.neighbours[:2]
    assert nearest.photo_id == first.photo_id
    # the phone embeds with the int8 model, the gallery was built with fp32: the photo itself
    # is not exactly 1.0, but far above any other photo
    assert nearest.similarity > 0.98 and first.likeness == likeness_words(nearest.similarity, "fr")
    assert nearest.similarity > second.similarity
    thumbnail = phone.recognizer().thumbnail(first.photo_id)
    assert thumbnail[:3] == b"\xff\xd8\xff"  # a JPEG
    assert phone.models.active().gallery_bytes == gallery_pack.stat().st_size


def test_a_damaged_gallery_pack_costs_the_similar_photos_not_the_answer(
    phone_settings: AppSettings, gallery_pack: Path, bank_dir: Path, settings: Settings
) -> None:
    from model.manifest import read_manifest

    install_builtin_gallery(phone_settings, gallery_pack)
    installed = next(phone_settings.galleries_dir.glob("*/gallery-*.zip"))
    data = bytearray(installed.read_bytes())
    data[len(data) // 2] ^= 0xFF
    installed.write_bytes(bytes(data))
    phone = FieldController(phone_settings)
    row = next(r for r in read_manifest(settings.splits_path) if r["split"] == "test")
    view = phone.identify([(bank_dir / row["file"]).read_bytes()]).view
    assert view.reading.headline == phone.catalog.name(row["label"], "fr")
    assert view.reading.similar == () and view.similar_note


def test_an_answer_this_app_does_not_fully_know_is_shown(tmp_path: Path, catalog: Catalog) -> None:
    """A stored answer of a newer model or server (a decision, reason, label or group that this
    app's code and catalog lack) is shown by its ids, never a crash."""
    outbox = Outbox(tmp_path)
    stored = Identification.from_dict(
        {
            "label": "invertebrate.new_bug",
            "probability": 0.97,
            "top_k": [{"label": "invertebrate.new_bug", "probability": 0.97}],
            "decision": "accepted",
        }
    )
    observation = outbox.ask(outbox.record([b"photo"], stored).id, None)
    assert _case(observation, catalog, "fr").title == "invertebrate.new_bug"
    assert outbox.get(observation.id).result == stored
    case = {"id": "c1", "identification_id": "s1", "status": "escalated"}
    outbox.mark_sent(observation.id, True, {"id": "s1", "case": case})
    assert _case(outbox.get(observation.id), catalog, "en").title == "invertebrate.new_bug"
    outbox.update_cases([{**case, "status": "answered", "label": "weed.new_weed", "answer": "Ok."}])
    view = _case(outbox.get(observation.id), catalog, "en")
    assert view.answered and view.title == "weed.new_weed" and view.detail == "Ok."

    # A fresh answer of a downloaded model whose labels the catalog does not have yet.
    result = replace(
        _result(Decision.ACCEPTED),
        top_k=[LabelScore("invertebrate.new_bug", 0.98), LabelScore("apple.scab", 0.02)],
    )
    reading = present_result(
        result, catalog, lang="en", profile="grower", lab=LAB, gallery_installed=False
    ).reading
    assert reading.headline == "invertebrate.new_bug" and reading.unknown == (
        "invertebrate.new_bug",
    )
