"""The field app without its window: what each screen asks for, in plain Python.

The Kivy layer (``mobile.app``) calls these methods and lays out what they return; tests, the
bench and the screenshot script drive the very same object. It ties together the local storage
(``mobile.outbox``, ``mobile.prefs``), the identifier on the active model
(``mobile.recognizer``), the sync and the model updates (``mobile.sync``). Its methods may be
called from the UI thread and from worker threads: the identifier is loaded once under a lock,
and one sync pass runs at a time.
"""

import logging
import threading
from dataclasses import dataclass, replace

from mobile.client import ApiClient
from mobile.modelstore import ModelStore
from mobile.outbox import Observation, Outbox
from mobile.prefs import Account, Preferences, PrefStore, SyncState
from mobile.presenter import (
    CaseView,
    ResultView,
    SettingsView,
    present_case,
    present_result,
    present_settings,
)
from mobile.recognizer import Recognizer
from mobile.settings import AppSettings
from mobile.sync import Syncer, SyncReport
from model.answer import Lab
from model.catalog import Catalog, load_catalog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identified:
    observation: Observation
    view: ResultView


@dataclass(frozen=True)
class Status:
    """What the settings screen shows."""

    model_version: str
    waiting: int  # observations still to send
    sync: SyncState
    account: Account


class FieldController:
    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        home = settings.app_home
        self.outbox = Outbox(home)
        self.prefs = PrefStore(self.outbox.db_path)
        own = load_catalog(settings.catalog_dir)
        self.models = ModelStore(
            home,
            settings.bundles_dir,
            settings.galleries_dir,
            catalog=own,
            threads=settings.app_model_threads,
        )
        # The active model's (a release carries its own), read before the window opens, so
        # that no photo waits on it; read again when a sync installs another model.
        self.catalog: Catalog = self.models.catalog() or own
        self.syncer = Syncer(settings, self.outbox, self.prefs, self.models)
        self.lab = Lab.from_settings(settings)  # how to reach the lab, in every answer needing it
        self._recognizer: Recognizer | None = None
        self._load_lock = threading.Lock()
        self._sync_lock = threading.Lock()

    def start(self) -> None:
        """Tidy what a kill may have left (half-saved photos, half-downloaded models)."""
        self.outbox.recover()
        self.models.remove_unused()

    # --- choices and account

    @property
    def preferences(self) -> Preferences:
        return self.prefs.load(Preferences)

    def save_preferences(self, preferences: Preferences) -> None:
        self.prefs.save(preferences)

    @property
    def account(self) -> Account:
        return self.prefs.load(Account)

    def sign_in(self, server_url: str, username: str, password: str, create: bool) -> Account:
        """Sign in, creating the account first when ``create``; raises ``SyncError``."""
        preferences = self.preferences
        with ApiClient(
            server_url, Account(), self.prefs.save, self.settings.app_request_timeout_s
        ) as client:
            if create:
                # Only growers and citizens register themselves (the lab grants the other
                # roles); an advisor still reads the advisor's advice, chosen by profile.
                role = "citizen" if preferences.profile == "citizen" else "grower"
                client.register(username, password, role, preferences.language)
            account = client.sign_in(username, password)
        self.save_preferences(replace(preferences, server_url=server_url))
        log.info("signed in as %s on %s", username, server_url)
        return account

    # --- identification

    def recognizer(self) -> Recognizer:
        """The identifier on the active model, loaded (and the model verified) on first use and
        again after an update, not on every photo."""
        with self._load_lock:
            if self._recognizer is None:
                self._recognizer = Recognizer(*self.models.load(), self.models.withdrawn)
            return self._recognizer

    def identify(self, photos: list[bytes]) -> Identified:
        """Identify on the device and keep the photos and answer before returning; raises
        ``model.imaging.ImageError`` (nothing kept) on an unusable photo."""
        preferences = self.preferences
        recognizer = self.recognizer()
        result = recognizer.identify(photos, crop=preferences.crop or None)
        observation = self.outbox.record(photos, result, share=preferences.share_surveillance)
        view = present_result(
            result,
            self.catalog,
            lang=preferences.language,
            profile=preferences.profile,
            lab=self.lab,
            gallery_installed=recognizer.gallery is not None,
            specialist_wait_at=self.prefs.load(SyncState).specialist_wait_at,
        )
        return Identified(observation, view)

    def ask_specialist(self, observation_id: str, message: str | None) -> Observation:
        """Queue the request (durably), then let the caller sync when it can."""
        return self.outbox.ask(observation_id, message)

    # --- cases, sync, settings

    def cases(self) -> list[CaseView]:
        preferences = self.preferences
        return [
            present_case(
                o,
                self.catalog,
                lang=preferences.language,
                profile=preferences.profile,
                lab=self.lab,
            )
            for o in self.outbox.cases()
        ]

    def sync(self, update: bool = True) -> SyncReport:
        """One pass now, after the one already running if any (its report may predate a request
        the user just made)."""
        with self._sync_lock:
            report = self.syncer.run(update=update)
        if report.model:
            with self._load_lock:
                self._recognizer = None  # the next photo loads the new model
            self.catalog = self.models.catalog() or self.catalog  # and names its new labels
        return report

    def settings_view(self) -> SettingsView:
        """What the settings screen shows, ready to lay out."""
        status, preferences = self.status(), self.preferences
        return present_settings(
            status.model_version,
            status.waiting,
            status.sync,
            status.account,
            preferences.share_surveillance,
            preferences.language,
        )

    def status(self) -> Status:
        return Status(
            model_version=self.models.active().version,
            waiting=len(self.outbox.due()),
            sync=self.prefs.load(SyncState),
            account=self.account,
        )

    def clear_local_data(self) -> None:
        """Forget the observations, their photos, the account and the choices: the next start
        is a first launch. The installed model stays."""
        self.outbox.clear()
        self.prefs.clear()
        log.info("local data cleared")
