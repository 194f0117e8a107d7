"""The field app's window, offscreen, driven as a user would: first launch with an account on the
real server, picking a bank photo, the result, asking a specialist, my requests, settings."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mobile.controller import FieldController
from mobile.localserver import free_port
from mobile.prefs import Preferences
from mobile.settings import AppSettings
from model.identifier import NEIGHBOURS
from model.manifest import read_manifest
from model.settings import Settings
from tests.mobile_support import PASSWORD, LiveServer, install_builtin_gallery, judge

pytestmark = pytest.mark.slow


@pytest.fixture
def bank_photo(settings: Settings, bank_dir: Path) -> Path:
    row = next(
        r
        for r in read_manifest(settings.splits_path)
        if r["split"] == "test" and r["label"] == "apple.scab"
    )
    return bank_dir / row["file"]


@pytest.fixture
def ui(
    kivy_ui: Any, phone_settings: AppSettings, bank_photo: Path, gallery_pack: Path
) -> Iterator[Any]:
    """The app on a fresh phone with a gallery, its file chooser in the folder of a bank
    photo."""
    install_builtin_gallery(phone_settings, gallery_pack)
    phone = FieldController(phone_settings)
    app = kivy_ui.start(phone, photos_folder=bank_photo.parent)
    try:
        yield app
        assert app.errors == []  # no background call failed unseen
    finally:
        kivy_ui.stop(app)


def press(button: Any) -> None:
    assert not button.disabled, f"{button.text!r} is disabled"
    button.trigger_action(0)


def texts(widget: Any) -> list[str]:
    """Every text shown under ``widget``, top to bottom."""
    found = [widget.text] if isinstance(getattr(widget, "text", None), str) else []
    for child in reversed(widget.children):
        found += texts(child)
    return found


def popup(kind: str) -> Any:
    from kivy.core.window import Window

    return next(w for w in Window.children if type(w).__name__ == kind)


def pick_photo(kivy_ui: Any, app: Any, photo: Path) -> None:
    screen = app.root.ids.photo
    chooser = screen.ids.chooser
    kivy_ui.pump(app, until=lambda: str(photo) in chooser.files)
    chooser.selection = [str(photo)]
    press(screen.ids.add)
    assert screen.count == 1


def test_first_launch_photo_result_and_asking_a_specialist(
    kivy_ui: Any, ui: Any, live_server: LiveServer, bank_photo: Path
) -> None:
    app, screens = ui, ui.root.ids
    assert screens.screens.current == "welcome"
    assert not screens.nav.opacity  # no navigation before the first launch is done

    # first launch: English, advisor, an account on the lab's server
    welcome = screens.welcome
    press(welcome.ids.lang_en)
    assert app.lang == "en" and "Welcome" in texts(welcome)
    advisor = next(c for c in welcome.ids.profiles.children if c.profile == "advisor")
    press(advisor)
    form = welcome.ids.sign_in
    form.ids.server.text = live_server.url
    form.ids.username.text = "ferme.ui"
    form.ids.password.text = PASSWORD
    press(form.ids.register)
    kivy_ui.pump(app)
    assert form.message == "Account created; you are signed in." and app.signed_in
    assert welcome.ids.go.text == "Continue"
    press(welcome.ids.go)
    assert screens.screens.current == "photo"
    preferences = app.controller.preferences
    assert preferences == Preferences("en", "advisor", live_server.url, False, True)

    # picking a photo of the bank, identifying it on the phone
    pick_photo(kivy_ui, app, bank_photo)
    press(screens.photo.ids.identify)
    kivy_ui.pump(app, until=lambda: screens.screens.current == "result")
    shown = texts(screens.result)
    assert shown[0] == "Apple scab"  # the title: the label's name
    assert "Identification accepted" in shown
    assert any(t.startswith("Confidence: very likely") for t in shown)
    assert "Similar reference photos" in shown and "Advice (advisor)" in shown
    captions = [t for t in shown if "\n" in t and "alike" in t]  # "name\nlooks alike" under each
    assert len(captions) == NEIGHBOURS and not any("%" in caption for caption in captions)
    assert "How much each looks like your photo, not a probability." in shown
    assert not any(t.startswith("Reference photos are not installed") for t in shown)
    assert app.controller.catalog.advice("apple.scab", "advisor", "en") in shown
    ask = screens.result.ids.ask
    assert ask.text == "Ask a specialist"

    # asking a specialist: saved first, then sent by a sync
    press(ask)
    kivy_ui.pump(app)
    dialog = popup("AskPopup")
    dialog.ids.question.text = "The spots spread fast; what should I do?"
    press(dialog.ids.send)
    kivy_ui.pump(app, until=lambda: "Request sent to the lab." in texts(screens.result))
    assert "Request saved. It will go as soon as the server can be reached." in texts(
        screens.result
    )
    [observation] = app.controller.outbox.cases()
    assert observation.message == "The spots spread fast; what should I do?"
    judge(live_server, [observation])

    # my requests, then settings
    app.show("cases")
    assert "Sent to the lab" in texts(screens.cases) and "Apple scab" in texts(screens.cases)
    app.show("settings")
    shown = texts(screens.settings)
    assert f"Model: {app.controller.models.active().version}" in shown
    lines = "\n".join(shown).splitlines()
    assert "Signed in: ferme.ui" in lines and "0 request(s) waiting to be sent" in lines


def test_asking_without_an_account_saves_then_offers_to_sign_in(
    kivy_ui: Any, ui: Any, live_server: LiveServer, bank_photo: Path
) -> None:
    app, screens = ui, ui.root.ids
    press(screens.welcome.ids.go)  # continue without an account, in French
    assert screens.screens.current == "photo" and app.lang == "fr"
    pick_photo(kivy_ui, app, bank_photo)
    press(screens.photo.ids.identify)
    kivy_ui.pump(app, until=lambda: screens.screens.current == "result")
    assert texts(screens.result)[0] == "Tavelure du pommier"
    press(screens.result.ids.ask)
    kivy_ui.pump(app)
    press(popup("AskPopup").ids.send)
    kivy_ui.pump(app)
    assert len(app.controller.outbox.due()) == 1  # kept on the phone before anything else
    form = popup("SignInPopup").ids.form
    form.ids.server.text = live_server.url
    form.ids.username.text = "ferme.plus.tard"
    form.ids.password.text = PASSWORD
    press(form.ids.register)
    kivy_ui.pump(app, until=lambda: "Demande envoyée au laboratoire." in texts(screens.result))
    judge(live_server, app.controller.outbox.cases())
    app.show("cases")
    assert "Envoyée au laboratoire" in texts(screens.cases)


def test_the_crop_is_asked_on_the_photo_screen_and_remembered(
    kivy_ui: Any, ui: Any, bank_photo: Path
) -> None:
    app, screens = ui, ui.root.ids
    press(screens.welcome.ids.go)  # without an account, in French
    crop = screens.photo.ids.crop
    assert crop.text == "Je ne sais pas" and crop.values[0] == "Je ne sais pas"
    assert "Pommier" in crop.values and crop.values[-1] == "Autre culture"
    crop.text = "Autre culture"  # a crop the bank does not cover
    assert app.controller.preferences.crop == "other"
    pick_photo(kivy_ui, app, bank_photo)
    press(screens.photo.ids.identify)
    kivy_ui.pump(app, until=lambda: screens.screens.current == "result")
    shown = [t.lower() for t in texts(screens.result)]
    assert any("cette culture n'est pas dans la banque" in t for t in shown)
    assert "tavelure du pommier" not in shown  # no other crop's disease named
    app.show("photo")
    assert screens.photo.ids.crop.text == "Autre culture"  # remembered


def test_a_file_that_is_not_a_photo_is_refused_at_once(ui: Any, tmp_path: Path) -> None:
    screens = ui.root.ids
    press(screens.welcome.ids.go)
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    screens.photo.ids.chooser.selection = [str(notes)]
    press(screens.photo.ids.add)
    assert screens.photo.count == 0 and "ce n'est pas une image" in screens.photo.message
    assert screens.photo.ids.identify.disabled


def test_clearing_local_data_returns_to_the_first_launch(
    kivy_ui: Any, ui: Any, bank_photo: Path
) -> None:
    app, screens = ui, ui.root.ids
    press(screens.welcome.ids.go)
    pick_photo(kivy_ui, app, bank_photo)
    press(screens.photo.ids.identify)
    kivy_ui.pump(app, until=lambda: screens.screens.current == "result")
    press(screens.result.ids.ask)
    kivy_ui.pump(app)
    press(popup("AskPopup").ids.send)
    kivy_ui.pump(app)
    popup("SignInPopup").dismiss()
    app.show("settings")
    press(screens.settings.ids.clear_data)
    kivy_ui.pump(app)
    assert "1 demande(s) pas encore envoyée(s) seront perdues." in "".join(texts(popup("Popup")))
    yes = next(b for b in popup("Popup").walk() if getattr(b, "text", "") == "Oui")
    press(yes)
    kivy_ui.pump(app)
    assert screens.screens.current == "welcome"
    assert app.controller.outbox.cases() == [] and not app.controller.preferences.setup_done


def test_sign_in_failures_are_said_in_the_users_words(
    kivy_ui: Any, ui: Any, live_server: LiveServer
) -> None:
    app, form = ui, ui.root.ids.welcome.ids.sign_in
    form.ids.username.text, form.ids.password.text = "ferme.inconnue", PASSWORD
    press(form.ids.sign_in)
    assert form.message == "Indiquez l'adresse du serveur pour vous connecter."
    form.ids.server.text = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    press(form.ids.sign_in)
    kivy_ui.pump(app)
    assert form.message == "Le serveur ne répond pas : vérifiez l'adresse et le réseau."
    form.ids.server.text = live_server.url
    press(form.ids.sign_in)
    kivy_ui.pump(app)
    assert form.message == "Nom d'utilisateur ou mot de passe incorrect."
    form.ids.password.text = "court"
    press(form.ids.register)
    kivy_ui.pump(app)
    assert form.message.startswith("Refusé par le serveur : ") and "8" in form.message
    assert not app.signed_in and not app.controller.account.signed_in
