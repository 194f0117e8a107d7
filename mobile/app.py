"""The field app's window (Kivy): screens that lay out what ``FieldController`` returns.

Deliberately thin: every decision (what to keep, what to send, which words to show) is made by
the plain-Python modules, tested without a window; this module only turns their results into
widgets and runs slow calls (identification, sign-in, sync) on worker threads so that the window
never freezes. ``mobile.kivyenv.prepare`` must run before this module is imported.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.factory import Factory
from kivy.graphics.texture import Texture
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.image import Image
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import NoTransition, Screen
from PIL import Image as PILImage

from mobile.controller import FieldController, Identified
from mobile.presenter import (
    CaseView,
    ResultView,
    clock_time,
    crop_choices,
    sign_in_error,
)
from mobile.sync import SyncReport
from mobile.texts import profile_name, text
from model import wording
from model.i18n import PROFILES, Language, Profile, language_or_default, say
from model.identifier import MAX_PHOTOS
from model.imaging import ImageError, decode_image

log = logging.getLogger(__name__)

KV_FILE = Path(__file__).with_name("field.kv")
THUMBNAIL_SIDE = 192
# Band colours: a decision or a state at a glance, white text on each.
TONES = {
    "accepted": (0.05, 0.36, 0.13, 1),
    "needs_specialist": (0.6, 0.3, 0.0, 1),
    "out_of_scope": (0.25, 0.25, 0.25, 1),
    "specialist": (0.05, 0.36, 0.13, 1),
    "error": (0.7, 0.05, 0.05, 1),
    "info": (0.1, 0.25, 0.5, 1),
}
CASE_TONES = {
    "waiting": "needs_specialist",
    "more_photos": "needs_specialist",
    "sent": "info",
    "answered": "accepted",
    "refused": "error",
}
# How often the running app looks whether a sync pass is due (the backoff decides if it runs).
SYNC_CHECK_S = 15.0


def texture(data: bytes, side: int = THUMBNAIL_SIDE) -> Texture:
    """A thumbnail texture of a photo, upright (decoded by the shared ``decode_image``)."""
    image = decode_image(data, min_side=side)
    image.thumbnail((side, side), PILImage.Resampling.BILINEAR)
    result = Texture.create(size=image.size, colorfmt="rgb")
    result.blit_buffer(image.tobytes(), colorfmt="rgb", bufferfmt="ubyte")
    result.flip_vertical()
    return result


class Root(BoxLayout):
    pass


class SignInForm(BoxLayout):
    message = StringProperty("")
    message_colour = ListProperty(TONES["info"])
    on_signed_in: Callable[[], None] | None = None

    def prefill(self, server_url: str) -> None:
        if not self.ids.server.text:
            self.ids.server.text = server_url

    def submit(self, create: bool) -> None:
        app = FieldApp.get()
        server = self.ids.server.text.strip()
        if not server:
            self.show(app.t("server_needed", app.lang), "error")
            return
        username, password = self.ids.username.text.strip(), self.ids.password.text
        app.in_background(
            lambda: app.controller.sign_in(server, username, password, create),
            lambda account: self._signed_in(account.username, create),
            on_error=lambda error: self.show(sign_in_error(error, app.lang), "error"),
        )

    def _signed_in(self, username: str, created: bool) -> None:
        app = FieldApp.get()
        app.signed_in = True
        self.ids.password.text = ""
        key = "account_created" if created else "signed_in_as"
        self.show(app.t(key, app.lang, username=username), "accepted")
        if self.on_signed_in:
            self.on_signed_in()

    def show(self, message: str, tone: str) -> None:
        self.message, self.message_colour = message, TONES[tone]


class WelcomeScreen(Screen):
    def refresh(self) -> None:
        app = FieldApp.get()
        preferences = app.controller.preferences
        grid = self.ids.profiles
        if not grid.children:
            for profile in PROFILES:
                choice = Factory.Choice(group="profile")
                choice.profile = profile
                choice.state = "down" if profile == preferences.profile else "normal"
                grid.add_widget(choice)
        self.name_profiles()
        self.ids.sign_in.prefill(preferences.server_url or app.controller.settings.app_server_url)

    def name_profiles(self) -> None:
        lang = FieldApp.get().lang
        for choice in self.ids.profiles.children:
            choice.text = profile_name(choice.profile, lang)

    @property
    def profile(self) -> Profile:
        return next(c.profile for c in self.ids.profiles.children if c.state == "down")

    def finish(self) -> None:
        app = FieldApp.get()
        preferences = app.controller.preferences
        app.controller.save_preferences(
            replace(
                preferences,
                language=app.lang,
                profile=self.profile,
                server_url=self.ids.sign_in.ids.server.text.strip(),
                setup_done=True,
            )
        )
        app.show("photo")


class PhotoScreen(Screen):
    count = NumericProperty(0)
    busy = BooleanProperty(False)
    message = StringProperty("")
    message_colour = ListProperty(TONES["info"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.photos: list[bytes] = []
        self.crops: list[tuple[str, str]] = []  # (preference value, name) offered

    def start_in(self, folder: Path) -> None:
        self.ids.chooser.path = str(folder)

    def refresh(self) -> None:
        """The crop question, in the app's language, on the crop last chosen."""
        app = FieldApp.get()
        self.crops = crop_choices(app.controller.catalog, app.lang)
        chosen = dict(self.crops).get(app.controller.preferences.crop, self.crops[0][1])
        self.ids.crop.values = [name for _, name in self.crops]
        self.ids.crop.text = chosen

    def set_crop(self, name: str) -> None:
        """Remember the crop chosen: most growers photograph the same crop all day."""
        app = FieldApp.get()
        value = next((crop for crop, crop_name in self.crops if crop_name == name), None)
        preferences = app.controller.preferences
        if value is not None and value != preferences.crop:
            app.controller.save_preferences(replace(preferences, crop=value))

    def add_selected(self) -> None:
        app = FieldApp.get()
        for name in self.ids.chooser.selection:
            if len(self.photos) == MAX_PHOTOS:
                self.show(app.t("too_many_photos", app.lang), "error")
                break
            self.add(Path(name).read_bytes())
        self.ids.chooser.selection = []

    def add(self, data: bytes) -> None:
        """One photo more of the specimen; a file that is not a photo is refused at once."""
        try:
            thumbnail = texture(data)
        except ImageError as exc:
            self.show(say(exc.words, language_or_default(FieldApp.get().lang)), "error")
            return
        self.photos.append(data)
        self.count = len(self.photos)
        self.ids.thumbnails.add_widget(Image(texture=thumbnail, fit_mode="contain"))
        self.message = ""

    def reset(self) -> None:
        self.photos = []
        self.count = 0
        self.ids.thumbnails.clear_widgets()

    def identify(self) -> None:
        app = FieldApp.get()
        self.busy = True
        self.message = ""
        photos = list(self.photos)
        thumbnails = [image.texture for image in reversed(self.ids.thumbnails.children)]
        app.in_background(
            lambda: app.controller.identify(photos),
            lambda identified: self._identified(identified, thumbnails),
            on_error=self._failed,
        )

    def _identified(self, identified: Identified, thumbnails: list[Texture]) -> None:
        self.busy = False
        self.reset()
        app = FieldApp.get()
        app.root.ids.result.present(identified, thumbnails)
        app.show("result")

    def _failed(self, error: Exception) -> None:
        self.busy = False
        self.show(str(error), "error")

    def show(self, message: str, tone: str) -> None:
        self.message, self.message_colour = message, TONES[tone]


class ResultScreen(Screen):
    observation_id = StringProperty("")

    def present(self, identified: Identified, thumbnails: list[Texture]) -> None:
        """Lay out the answer's reading, top to bottom; nothing here decides what it says."""
        self.observation_id = identified.observation.id
        app = FieldApp.get()
        view: ResultView = identified.view
        reading = view.reading
        body = self.ids.body
        body.clear_widgets()
        body.add_widget(_widget("Title", reading.headline))
        if reading.scientific_name:
            body.add_widget(_widget("Text", reading.scientific_name, italic=True))
        body.add_widget(_widget("Band", reading.decision, band=TONES[reading.decision_code]))
        if reading.reason:
            tone = "error" if reading.retake else "info"
            body.add_widget(_widget("Band", reading.reason, band=TONES[tone]))
        if reading.confidence:
            body.add_widget(_widget("Heading", reading.confidence))
        body.add_widget(_photo_row(thumbnails))
        if reading.others:
            body.add_widget(_widget("Heading", reading.others_title))
            for line in reading.others:
                body.add_widget(_widget("Text", f"{line.name} — {line.figure}"))
        if reading.short_list_title:
            body.add_widget(_widget("Heading", reading.short_list_title))
            for line in reading.short_list:
                body.add_widget(_widget("Text", line.name))
        body.add_widget(_widget("Heading", say(wording.SIMILAR, app.lang)))
        if reading.similar:
            thumbnail = app.controller.recognizer().thumbnail
            body.add_widget(
                _photo_row(
                    [texture(thumbnail(p.photo_id)) for p in reading.similar],
                    [f"{p.name}\n{p.likeness}" for p in reading.similar],
                )
            )
            body.add_widget(_widget("Text", say(wording.SIMILAR_NOTE, app.lang), italic=True))
        if view.similar_note:
            body.add_widget(_widget("Text", view.similar_note, italic=True))
        if reading.advice:
            body.add_widget(_widget("Heading", reading.advice.title))
            body.add_widget(_widget("Text", reading.advice.text))
        if reading.regulated:
            body.add_widget(_widget("Band", reading.regulated, band=TONES["error"]))
        body.add_widget(_widget("Heading", say(wording.NEXT_STEP, app.lang)))
        body.add_widget(_widget("Text", reading.next_step.text))
        if reading.contact:
            body.add_widget(_widget("Text", reading.contact.text))
        if view.ask_note:
            body.add_widget(_widget("Text", view.ask_note, italic=True))
        saved = app.t("saved_on_device", app.lang)
        model = app.t("model_version", app.lang, version=reading.model_version)
        body.add_widget(_widget("Text", f"{saved} {model}", font_size="16sp"))
        body.parent.scroll_y = 1  # a new answer is read from its top

    def ask(self) -> None:
        AskPopup(observation_id=self.observation_id).open()

    def say(self, message: str, tone: str) -> None:
        """A notice at the end of the result (the request's fate)."""
        body = self.ids.body
        band = _widget("Band", message, band=TONES[tone])
        body.add_widget(band)
        body.parent.scroll_to(band, animate=False)  # an animation would outlive this answer


class AskPopup(Popup):
    observation_id = StringProperty("")

    def send(self) -> None:
        app = FieldApp.get()
        app.controller.ask_specialist(self.observation_id, self.ids.question.text.strip())
        self.dismiss()
        result = app.root.ids.result
        result.say(app.t("request_saved", app.lang), "info")
        if app.controller.account.signed_in and app.controller.preferences.server_url:
            app.sync_now(on_done=lambda report: app.report_request(report))
        else:
            popup = SignInPopup()
            popup.ids.form.prefill(app.controller.preferences.server_url)
            popup.ids.form.on_signed_in = lambda: app.after_sign_in(popup)
            popup.open()


class SignInPopup(Popup):
    pass


class CasesScreen(Screen):
    def refresh(self) -> None:
        app = FieldApp.get()
        body = self.ids.body
        body.clear_widgets()
        body.add_widget(_widget("Title", app.t("cases_title", app.lang)))
        cases = app.controller.cases()
        if not cases:
            body.add_widget(_widget("Text", app.t("no_cases", app.lang)))
        for case in cases:
            body.add_widget(_case_card(case))


class SettingsScreen(Screen):
    syncing = BooleanProperty(False)

    def refresh(self) -> None:
        app = FieldApp.get()
        view = app.controller.settings_view()
        self.ids.model.text = view.model
        self.ids.sync_status.text = "\n".join(view.sync)
        self.ids.share.active = view.share

    def sync(self) -> None:
        self.syncing = True
        FieldApp.get().sync_now(on_done=self._synced)

    def _synced(self, _report: SyncReport) -> None:
        self.syncing = False
        self.refresh()

    def set_share(self, active: bool) -> None:
        app = FieldApp.get()
        preferences = app.controller.preferences
        if preferences.share_surveillance != active:
            app.controller.save_preferences(replace(preferences, share_surveillance=active))

    def clear(self) -> None:
        app = FieldApp.get()
        lines = [app.t("clear_confirm", app.lang)]
        waiting = app.controller.status().waiting
        if waiting:
            lines.append(app.t("clear_unsent", app.lang, count=waiting))
        confirm(
            "\n".join(lines),
            app.t("yes", app.lang),
            app.t("no", app.lang),
            on_yes=app.clear_local_data,
        )


def _widget(kind: str, value: str, **properties: Any) -> Any:
    """A widget of one of the kv file's dynamic classes (Text, Title, Heading, Band)."""
    widget = getattr(Factory, kind)(text=value)
    for name, prop in properties.items():
        setattr(widget, name, prop)
    return widget


def _photo_row(textures: list[Texture], captions: list[str] | None = None) -> GridLayout:
    row = GridLayout(cols=3, spacing=dp(6), size_hint_y=None)
    row.bind(minimum_height=row.setter("height"))
    for index, item in enumerate(textures):
        cell = BoxLayout(orientation="vertical", size_hint_y=None, height=dp(150))
        cell.add_widget(Image(texture=item, fit_mode="contain"))
        if captions:
            cell.add_widget(_widget("Text", captions[index], font_size="15sp", halign="center"))
        row.add_widget(cell)
    return row


def _case_card(case: CaseView) -> BoxLayout:
    card = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(4))
    card.bind(minimum_height=card.setter("height"))
    tone = CASE_TONES[case.state_code]
    card.add_widget(_widget("Heading", case.title))
    card.add_widget(_widget("Text", case.when, font_size="16sp"))
    card.add_widget(_widget("Band", case.state, band=TONES[tone]))
    if case.detail:
        card.add_widget(_widget("Text", case.detail))
    return card


def confirm(question: str, yes: str, no: str, on_yes: Callable[[], None]) -> Popup:
    content = BoxLayout(orientation="vertical", spacing=dp(10))
    content.add_widget(_widget("Text", question))
    buttons = BoxLayout(size_hint_y=None, height=dp(64), spacing=dp(10))
    popup = Popup(title="", content=content, size_hint=(0.94, 0.5), auto_dismiss=False)

    def accept(*_args: object) -> None:
        popup.dismiss()
        on_yes()

    no_button = Factory.Secondary(text=no, on_release=lambda *_: popup.dismiss())
    yes_button = Factory.Action(text=yes, on_release=accept)
    buttons.add_widget(no_button)
    buttons.add_widget(yes_button)
    content.add_widget(buttons)
    popup.open()
    return popup


class FieldApp(App):
    """The application object; ``controller`` does the work, screens show it."""

    lang = StringProperty("fr")
    signed_in = BooleanProperty(False)
    title = "IRIIS Phyto"
    kv_file = str(KV_FILE)  # loaded once by App before build()

    def __init__(self, controller: FieldController, photos_folder: Path | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.photos_folder = photos_folder or Path.home()
        self.jobs = 0  # background calls not finished yet (tests wait for zero)
        self.errors: list[Exception] = []

    @staticmethod
    def get() -> "FieldApp":
        app = App.get_running_app()
        assert isinstance(app, FieldApp)
        return app

    def build(self) -> Root:
        root = Root()
        root.ids.screens.transition = NoTransition()
        return root

    def on_start(self) -> None:
        self.controller.start()
        preferences = self.controller.preferences
        self.lang = preferences.language
        self.signed_in = self.controller.account.signed_in
        self.root.ids.photo.start_in(self.photos_folder)
        self.show("photo" if preferences.setup_done else "welcome")
        # Load the identifier now, while the user looks at the first screen.
        self.in_background(self.controller.recognizer, lambda _recognizer: None)
        self._sync_timer = Clock.schedule_interval(self._auto_sync, SYNC_CHECK_S)

    def on_stop(self) -> None:
        self._sync_timer.cancel()

    # --- used by the kv file and the screens

    def t(self, key: str, lang: str, **values: object) -> str:
        return text(key, lang, **values)  # type: ignore[arg-type]

    def show(self, name: str) -> None:
        """Go to a screen, its contents brought up to date first."""
        screen = self.root.ids[name]
        refresh = getattr(screen, "refresh", None)
        if refresh is not None:
            refresh()
        self.root.ids.screens.current = name

    def set_language(self, lang: Language) -> None:
        self.lang = lang
        preferences = self.controller.preferences
        self.controller.save_preferences(replace(preferences, language=lang))
        self.root.ids.welcome.name_profiles()

    def in_background(
        self,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Run ``work`` on a worker thread, then ``done`` (or ``on_error``) on the UI thread."""
        self.jobs += 1

        def finish(outcome: Any, failed: bool) -> None:
            self.jobs -= 1
            if not failed:
                done(outcome)
            elif on_error is not None:
                on_error(outcome)
            else:
                self.errors.append(outcome)
                log.error("background call failed", exc_info=outcome)

        def run() -> None:
            try:
                outcome, failed = work(), False
            except Exception as exc:  # a worker always reports back, or the screen would wait
                outcome, failed = exc, True
            Clock.schedule_once(lambda _dt: finish(outcome, failed))

        threading.Thread(target=run, daemon=True).start()

    def sync_now(self, on_done: Callable[[SyncReport], None] | None = None) -> None:
        def finished(report: SyncReport) -> None:
            if self.root.ids.screens.current == "cases":
                self.root.ids.cases.refresh()
            if report.model:  # load the new model now rather than on the next photo
                self.in_background(self.controller.recognizer, lambda _recognizer: None)
            if on_done:
                on_done(report)

        self.in_background(self.controller.sync, finished)

    def report_request(self, report: SyncReport) -> None:
        """Tell the user what became of the request just made."""
        result = self.root.ids.result
        observation = self.controller.outbox.get(result.observation_id)
        if observation.ask_state == "sent":
            result.say(self.t("request_sent", self.lang), "accepted")
        elif report.error and not report.sign_in_needed:
            retry = self.controller.status().sync.next_attempt_at
            result.say(self.t("sync_failed", self.lang, when=clock_time(retry)), "error")

    def after_sign_in(self, popup: Popup) -> None:
        popup.dismiss()
        self.sync_now(on_done=self.report_request)

    def clear_local_data(self) -> None:
        self.controller.clear_local_data()
        self.signed_in = False
        self.lang = self.controller.preferences.language
        self.show("welcome")

    def _auto_sync(self, _dt: float) -> None:
        if self.jobs == 0 and self.controller.syncer.is_due():
            self.sync_now()
