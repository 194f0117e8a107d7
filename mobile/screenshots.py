"""``make screenshots``: a picture of every screen of the field app, with real answers.

The real app is driven offscreen (``mobile.headless``) on a phone of its own (a temporary
``IRIIS_HOME``) against the real API server started for the occasion; the photos are the bank's
test-split photos, identified by the committed model: nothing on these pictures is made up. A
specialist answers one request through the API so that "my requests" shows an answer.
"""

import io
import logging
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image, ImageEnhance

from mobile.controller import FieldController
from mobile.localserver import LocalServer
from mobile.modelstore import share_builtin_gallery
from mobile.settings import AppSettings
from model.manifest import read_manifest
from model.result import Reason

log = logging.getLogger(__name__)

ACCEPTED_LABEL = "apple.scab"  # a disease every Quebec orchard knows
PASSWORD = "verger 2026 pommes"


def _test_photos(settings: AppSettings, label: str | None = None) -> list[Path]:
    rows = read_manifest(settings.splits_path)
    return [
        settings.bank_dir / r["file"]
        for r in rows
        if r["split"] == "test" and (label is None or r["label"] == label)
    ]


def _doubted(controller: FieldController, settings: AppSettings) -> Path:
    """The first test photo the model leaves to a specialist because it is unsure."""
    recognizer = controller.recognizer()
    for path in _test_photos(settings):
        result = recognizer.identify([path.read_bytes()])
        if result.reason in (Reason.LOW_CONFIDENCE, Reason.AMBIGUOUS):
            return path
    raise RuntimeError("no test photo leaves the model unsure")


def _darkened(source: Path, folder: Path) -> Path:
    """The photo as taken at dusk: what the retake hint is for."""
    buffer = io.BytesIO()
    dark = ImageEnhance.Brightness(Image.open(source).convert("RGB")).enhance(0.05)
    dark.save(buffer, format="JPEG", quality=92)
    path = folder / f"dusk-{source.name}"
    path.write_bytes(buffer.getvalue())
    return path


def _listed(chooser: Any, photo: Path) -> bool:
    """Whether the file chooser has finished listing the folder holding ``photo``."""
    busy = any(type(w).__name__ == "FileChooserProgress" for w in chooser.children)
    return str(photo) in chooser.files and not busy


def _ask_popup(app: Any) -> Any:
    return next(w for w in app.root_window.children if type(w).__name__ == "AskPopup")


def save_screenshots(settings: AppSettings, out_dir: Path) -> list[Path]:
    """Save one PNG per screen into ``out_dir``; returns their paths. Kivy must have been
    prepared offscreen (``mobile.kivyenv.prepare``)."""
    from mobile import headless

    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="iriis-screens-") as scratch:
        root = Path(scratch)
        server = LocalServer(root / "server", settings.bundles_dir).start()
        phone_settings = settings.model_copy(update={"home": root / "phone"})
        share_builtin_gallery(settings, phone_settings)
        phone = FieldController(phone_settings)
        accepted = _test_photos(settings, ACCEPTED_LABEL)[:2]
        doubted = _doubted(phone, settings)
        dusk = _darkened(accepted[0], root)
        app = headless.start(phone, photos_folder=accepted[0].parent)
        screens = app.root.ids

        def shot(name: str) -> None:
            headless.pump(app)
            saved.append(headless.screenshot(out_dir / f"{name}.png"))
            log.info("saved %s", saved[-1])

        def identify(photos: list[Path]) -> None:
            screen = screens.photo
            screen.ids.chooser.path = str(photos[0].parent)
            headless.pump(app, until=lambda: _listed(screen.ids.chooser, photos[0]))
            screen.ids.chooser.selection = [str(p) for p in photos]
            screen.add_selected()
            screen.identify()
            headless.pump(app, until=lambda: screens.screens.current == "result")

        def ask(message: str) -> None:
            screens.result.ask()
            headless.pump(app)
            dialog = _ask_popup(app)
            dialog.ids.question.text = message
            dialog.send()
            headless.pump(app)

        try:
            form = screens.welcome.ids.sign_in
            form.ids.server.text = server.url
            form.ids.username.text = "ferme.tremblay"
            form.ids.password.text = PASSWORD
            shot("01-first-launch")
            form.submit(create=True)
            headless.pump(app)
            screens.welcome.finish()

            screen = screens.photo
            headless.pump(app, until=lambda: _listed(screen.ids.chooser, accepted[0]))
            screen.ids.chooser.selection = [str(p) for p in accepted]
            screen.add_selected()
            screen.ids.chooser.selection = [str(p) for p in accepted]  # shown chosen
            headless.pump(app, until=lambda: _listed(screen.ids.chooser, accepted[0]))
            shot("02-photograph")
            screen.identify()
            headless.pump(app, until=lambda: screens.screens.current == "result")
            shot("03-result")
            screens.result.ask()
            headless.pump(app)
            dialog = _ask_popup(app)
            dialog.ids.question.text = "Les taches gagnent tout le verger, que faire cette semaine?"
            shot("04-ask-a-specialist")
            dialog.send()
            headless.pump(app)
            first = phone.outbox.cases()[0].id

            identify([doubted])
            shot("05-result-unsure")
            ask("Est-ce grave? Les feuilles jaunissent depuis une semaine.")
            identify([dusk])
            shot("06-retake-hint")

            case_id = phone.outbox.get(first).case_id
            if not case_id:
                raise RuntimeError("the first request did not reach the server")
            server.answer(
                case_id,
                ACCEPTED_LABEL,
                "C'est bien de la tavelure. Ramassez et broyez les feuilles tombées cet "
                "automne; au printemps, protégez dès le débourrement.",
            )
            phone.sync()  # the answer comes back
            server.stop()  # no network in the field now: the next request waits on the phone
            ask("Photo prise au crépuscule, désolé.")
            app.show("cases")
            shot("07-my-requests")
            app.show("settings")
            shot("08-settings")
            app.set_language("en")
            identify(accepted[:1])
            shot("09-result-english")
        finally:
            headless.stop(app)
            server.stop()
    return saved
