"""`iriis app --setup` and `iriis app --sync` as a script runs them, without a window: an app
never set up says so and fails instead of reporting a sync that sent nothing; a setup from the
command line (the password on standard input) signs in to the real server and the next sync
works."""

import os
from pathlib import Path

from mobile.commands import NOT_SET_UP
from mobile.outbox import Outbox
from mobile.prefs import Account, Preferences, PrefStore, SyncState
from model.paths import REPO_ROOT
from model.settings import Settings
from tests.helpers import run_iriis
from tests.mobile_support import PASSWORD, LiveServer


def _env(home: Path, settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "IRIIS_HOME": str(home),
        "IRIIS_BUNDLES_DIR": str(settings.bundles_dir),
    }


def _prefs(home: Path) -> PrefStore:
    return PrefStore(Outbox(home / "app").db_path)


def test_a_sync_of_an_app_never_set_up_says_so_and_fails(
    tmp_path: Path, settings: Settings
) -> None:
    done = run_iriis("app", "--sync", env=_env(tmp_path / "phone", settings), timeout=120)
    assert done.returncode == NOT_SET_UP, done.stderr
    assert "no server and no account" in done.stderr and "iriis app --setup" in done.stderr
    assert _prefs(tmp_path / "phone").load(SyncState).last_success_at == 0  # no sync recorded


def test_a_setup_without_a_window_then_a_sync(
    tmp_path: Path, settings: Settings, live_server: LiveServer
) -> None:
    env = _env(tmp_path / "phone", settings)
    setup = ["--setup", "--server", live_server.url, "--username", "ferme.cli", "--create"]
    wrong = run_iriis("app", *setup[:-1], env=env, input="wrong password\n", timeout=120)
    assert wrong.returncode == 1 and "not signed in" in wrong.stderr  # no such account yet
    assert not _prefs(tmp_path / "phone").load(Preferences).setup_done
    done = run_iriis("app", *setup, "--lang", "en", env=env, input=f"{PASSWORD}\n", timeout=120)
    assert done.returncode == 0, done.stderr
    prefs = _prefs(tmp_path / "phone")
    preferences = prefs.load(Preferences)
    assert preferences.setup_done and preferences.server_url == live_server.url
    assert preferences.language == "en" and prefs.load(Account).username == "ferme.cli"
    synced = run_iriis("app", "--sync", env=env, timeout=120)
    assert synced.returncode == 0, synced.stderr
    assert prefs.load(SyncState).last_success_at > 0
