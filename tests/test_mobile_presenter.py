"""What the result and case screens say, from real identifier results and the real catalog,
in French and English, without a window."""

import io
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageFilter

from mobile.controller import FieldController
from mobile.outbox import Outbox
from mobile.prefs import Account, SyncState
from mobile.presenter import clock_time, present_case, present_result, present_settings
from mobile.texts import TEXTS, percent
from model.catalog import Catalog
from model.identifier import NEIGHBOURS
from model.result import Decision, GroupAnswer, Identification, LabelScore, Reason
from model.settings import Settings
from tests.mobile_support import install_builtin_gallery


def _result(decision: Decision, reason: Reason | None = None, **fields: object) -> Identification:
    top_k = [
        LabelScore("apple.scab", 0.62),
        LabelScore("apple.black_rot", 0.30),
        LabelScore("apple.healthy", 0.005),
    ]
    return Identification(
        top_k=top_k, decision=decision, reason=reason, model_version="v1", **fields
    )  # type: ignore[arg-type]


def test_both_languages_have_the_same_texts_and_placeholders() -> None:
    assert TEXTS["fr"].keys() == TEXTS["en"].keys()
    for key, french in TEXTS["fr"].items():
        english = TEXTS["en"][key]
        assert french.strip() and english.strip()
        assert _placeholders(french) == _placeholders(english), key
    assert percent(0.963, "fr") == "96\u00a0%" and percent(0.963, "en") == "96%"


def _placeholders(text: str) -> set[str]:
    return {part.split("}")[0] for part in text.split("{")[1:]}


def test_an_accepted_answer_names_the_label_and_its_advice(catalog: Catalog) -> None:
    result = replace(
        _result(Decision.ACCEPTED),
        top_k=[LabelScore("apple.scab", 0.985), LabelScore("apple.black_rot", 0.01)],
    )
    view = present_result(result, catalog, "fr", "grower", gallery_installed=False)
    assert view.title == "Tavelure du pommier" and view.subtitle == "Venturia inaequalis"
    assert view.confidence == "Confiance : très probable (98\u00a0%)"
    assert view.decision == "Identification retenue" and view.decision_code == "accepted"
    assert view.reason is None and not view.retake
    assert [(o.name, o.figure) for o in view.others] == [
        ("Pourriture noire du pommier", "1\u00a0%")
    ]
    assert view.advice == catalog.advice("apple.scab", "grower", "fr")
    assert view.advice_title == "Que faire"
    assert view.similar == [] and view.similar_note == TEXTS["fr"]["no_gallery"]
    english = present_result(result, catalog, "en", "advisor", gallery_installed=False)
    assert english.title == "Apple scab" and english.confidence == "Confidence: very likely (98%)"
    assert english.advice == catalog.advice("apple.scab", "advisor", "en")


def test_a_doubtful_answer_says_why_and_lists_the_label_among_possibilities(
    catalog: Catalog,
) -> None:
    result = _result(
        Decision.NEEDS_SPECIALIST, Reason.AMBIGUOUS, group=GroupAnswer("leaf_spots", 0.95)
    )
    view = present_result(result, catalog, "fr", "grower", gallery_installed=False)
    assert view.title == "Probablement : Taches foliaires" and view.subtitle == ""
    assert view.decision == "Un spécialiste doit confirmer"
    assert view.reason == "Deux identifications sont trop proches pour trancher."
    assert [o.name for o in view.others] == ["Tavelure du pommier", "Pourriture noire du pommier"]
    assert view.advice_title == "Que faire, si c'est bien « Tavelure du pommier »"


def test_an_unknown_subject_gets_no_advice_for_a_label(catalog: Catalog) -> None:
    view = present_result(
        _result(Decision.OUT_OF_SCOPE, Reason.UNKNOWN_SUBJECT), catalog, "en", "citizen", False
    )
    assert view.title == "Not recognised" and view.decision_code == "out_of_scope"
    assert view.advice == TEXTS["en"]["advice_unknown"]
    assert view.regulated is None


def test_a_dark_photo_asks_for_another(catalog: Catalog) -> None:
    view = present_result(
        _result(Decision.NEEDS_SPECIALIST, Reason.TOO_DARK), catalog, "fr", "grower", False
    )
    assert view.retake and view.reason == "La photo est trop sombre : reprenez-la à la lumière."
    assert view.title == "Photo à reprendre" and view.subtitle == ""  # no label named
    assert (
        view.advice == TEXTS["fr"]["advice_retake"] and view.others[0].name == "Tavelure du pommier"
    )


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> FieldController:
    phone = FieldController(settings.model_copy(update={"home": tmp_path_factory.mktemp("phone")}))
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
    assert identified.view.title == "Mildiou de la pomme de terre"
    assert identified.view.decision_code == "accepted"
    assert identified.view.model_version == phone.models.active().version
    assert identified.observation.result["label"] == "potato.late_blight"


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
    view = phone.identify([buffer.getvalue()]).view
    assert view.retake and view.decision_code == "needs_specialist"
    assert view.title == "Photo à reprendre" and "reprenez-la" in (view.reason or "")


def test_case_states_in_words(tmp_path: Path, catalog: Catalog) -> None:
    outbox = Outbox(tmp_path)
    observation = outbox.ask(
        outbox.record([b"photo"], {"label": "apple.scab", "decision": "accepted"}).id, "Que faire?"
    )
    assert present_case(observation, catalog, "fr").state == "En attente d'envoi"
    case = {"id": "c1", "identification_id": "s1", "status": "open"}
    outbox.mark_sent(observation.id, True, {"id": "s1", "case": case})
    assert present_case(outbox.get(observation.id), catalog, "en").state == "Sent to the lab"
    answer = {"status": "answered", "label": "apple.black_rot", "answer": "Taillez les chancres."}
    outbox.update_cases([{**case, **answer}])
    view = present_case(outbox.get(observation.id), catalog, "fr")
    assert view.answered and view.state == "Réponse du spécialiste"
    assert view.detail == "Identification : Pourriture noire du pommier\nTaillez les chancres."
    assert view.title == "Tavelure du pommier"


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
    phone_settings: Settings, gallery_pack: Path, bank_dir: Path, settings: Settings
) -> None:
    from model.manifest import read_manifest

    install_builtin_gallery(phone_settings, gallery_pack)
    phone = FieldController(phone_settings)
    row = next(r for r in read_manifest(settings.splits_path) if r["split"] == "test")
    photo = (bank_dir / row["file"]).read_bytes()  # one of the gallery's photos
    identified = phone.identify([photo])
    view = identified.view
    assert view.similar_note is None and len(view.similar) == NEIGHBOURS
    first = view.similar[0]
    assert first.name == phone.catalog.name(row["label"], "fr")  # the photo itself, first
    nearest = identified.observation.result["neighbours"][0]
    assert nearest["photo_id"] == first.photo_id
    # the phone embeds with the int8 model, the gallery was built with fp32: the photo itself
    # is not exactly 1.0, but far above any other photo
    assert nearest["similarity"] > 0.98 and first.figure == percent(nearest["similarity"], "fr")
    assert nearest["similarity"] > identified.observation.result["neighbours"][1]["similarity"]
    thumbnail = phone.recognizer().thumbnail(first.photo_id)
    assert thumbnail[:3] == b"\xff\xd8\xff"  # a JPEG
    assert phone.models.active().gallery_bytes == gallery_pack.stat().st_size


def test_a_damaged_gallery_pack_costs_the_similar_photos_not_the_answer(
    phone_settings: Settings, gallery_pack: Path, bank_dir: Path, settings: Settings
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
    assert view.title == phone.catalog.name(row["label"], "fr")
    assert view.similar == [] and view.similar_note


def test_an_answer_this_app_does_not_fully_know_is_shown(tmp_path: Path, catalog: Catalog) -> None:
    """A stored answer of a newer model or server (a decision, reason, label or group that this
    app's code and catalog lack) is shown by its ids, never a crash."""
    outbox = Outbox(tmp_path)
    stored = {
        "label": "invertebrate.new_bug",
        "probability": 0.7,
        "top_k": [{"label": "invertebrate.new_bug", "probability": 0.7}],
        "decision": "deferred",
        "reason": "new_reason",
    }
    observation = outbox.ask(outbox.record([b"photo"], stored).id, None)
    assert present_case(observation, catalog, "fr").title == "invertebrate.new_bug"
    grouped = {**stored, "group": {"group": "new_group", "probability": 0.9}}
    assert (
        present_case(outbox.record([b"p"], grouped), catalog, "en").title == "Probably: new_group"
    )
    case = {"id": "c1", "identification_id": "s1", "status": "open"}
    outbox.mark_sent(observation.id, True, {"id": "s1", "case": case})
    outbox.update_cases([{**case, "status": "answered", "label": "weed.new_weed", "answer": "Ok."}])
    view = present_case(outbox.get(observation.id), catalog, "en")
    assert view.answered and view.detail == "Identification: weed.new_weed\nOk."

    # A fresh answer of a downloaded model whose labels the catalog does not have yet.
    result = replace(
        _result(Decision.ACCEPTED),
        top_k=[LabelScore("invertebrate.new_bug", 0.98), LabelScore("apple.scab", 0.02)],
    )
    view = present_result(result, catalog, "en", "grower", gallery_installed=False)
    assert view.title == "invertebrate.new_bug" and view.subtitle == "" and view.regulated is None
    assert [o.name for o in view.others] == ["Apple scab"]
    assert view.advice == TEXTS["en"]["advice_unknown"]
