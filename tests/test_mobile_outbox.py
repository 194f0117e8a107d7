"""The outbox and the app's preferences on real SQLite files: what is kept, what is queued, and
that a kill in the middle of a save loses nothing that was reported saved."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from mobile.outbox import Outbox
from mobile.prefs import Account, Preferences, PrefStore, SyncState
from model.paths import REPO_ROOT
from model.result import Identification
from tests.helpers import jpeg_bytes, textured_image

RESULT = Identification.from_dict(
    {"label": "apple.scab", "probability": 0.97, "decision": "accepted"}
)


def _stored_ids(outbox: Outbox) -> set[str]:
    with sqlite3.connect(outbox.db_path) as connection:
        return {row[0] for row in connection.execute("SELECT id FROM observations")}


def test_an_observation_keeps_its_photos_and_stays_on_the_phone(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    photos = [jpeg_bytes(textured_image(seed)) for seed in range(3)]
    observation = outbox.record(photos, RESULT)
    assert outbox.photos(observation.id) == photos
    assert observation.result == RESULT and observation.photo_count == 3
    assert (observation.upload, observation.ask_state) == ("none", "none")
    assert outbox.due() == [] and outbox.cases() == []
    shared = outbox.record(photos[:1], RESULT, share=True, location=(46.81, -71.21))
    assert [o.id for o in outbox.due()] == [shared.id]
    assert shared.location == (46.81, -71.21) and not shared.asks_now


def test_asking_queues_the_request_whatever_was_sent_before(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    kept = outbox.record([b"photo"], RESULT)
    asked = outbox.ask(kept.id, "Que faire?")
    assert (asked.upload, asked.ask_state, asked.message) == ("pending", "pending", "Que faire?")
    assert asked.asks_now and [o.id for o in outbox.cases()] == [kept.id]

    # Shared and uploaded without a request; the user asks while that upload is in flight: the
    # upload's answer must not swallow the request, which then goes on its own.
    shared = outbox.record([b"photo"], RESULT, share=True)
    in_flight = outbox.get(shared.id)
    outbox.ask(shared.id, None)
    outbox.mark_sent(shared.id, in_flight.asks_now, {"id": "server-1", "case": None})
    after = outbox.get(shared.id)
    assert (after.upload, after.ask_state, after.server_id) == ("sent", "pending", "server-1")
    assert shared.id in [o.id for o in outbox.due()]
    case = {"id": "case-1", "identification_id": "server-1", "status": "open"}
    outbox.mark_asked(shared.id, case)
    assert outbox.get(shared.id).ask_state == "sent" and outbox.get(shared.id).case_id == "case-1"
    assert shared.id not in [o.id for o in outbox.due()]
    assert outbox.ask(shared.id, "encore").ask_state == "sent"  # asked already: not again


def test_answers_update_the_cases_they_belong_to(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    observation = outbox.ask(outbox.record([b"photo"], RESULT).id)
    outbox.mark_sent(observation.id, True, {"id": "server-9", "case": None})
    answered = {
        "id": "case-9",
        "identification_id": "server-9",
        "status": "answered",
        "answer": "Tavelure : ramassez les feuilles.",
        "label": "apple.scab",
        "answered_at": "2026-06-14T15:02:11Z",
    }
    other_phone = {**answered, "id": "case-x", "identification_id": "elsewhere"}
    assert outbox.update_cases([answered, other_phone]) == 1
    after = outbox.get(observation.id)
    assert (after.case_status, after.answer_label) == ("answered", "apple.scab")
    assert after.answer == "Tavelure : ramassez les feuilles."


def test_a_refused_request_leaves_the_queue(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    observation = outbox.ask(outbox.record([b"photo"], RESULT).id)
    outbox.mark_failed(observation.id, "server unreachable")
    assert outbox.get(observation.id).attempts == 1 and outbox.due()
    outbox.mark_refused(observation.id, "422: not an image file")
    after = outbox.get(observation.id)
    assert (after.upload, after.ask_state, after.attempts) == ("refused", "none", 2)
    assert outbox.due() == []


def test_clear_forgets_observations_photos_and_preferences(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    prefs = PrefStore(outbox.db_path)
    prefs.save(Preferences(language="en", profile="advisor", setup_done=True))
    prefs.save(Account("ferme", "access", "refresh"))
    outbox.ask(outbox.record([b"photo"], RESULT).id)
    assert outbox.photos_dir.is_dir() and len(_stored_ids(outbox)) == 1
    outbox.clear()
    prefs.clear()
    assert _stored_ids(outbox) == set() and not outbox.photos_dir.exists()
    assert prefs.load(Preferences) == Preferences() and not prefs.load(Account).signed_in


def test_preferences_round_trip_and_ignore_unknown_keys(tmp_path: Path) -> None:
    prefs = PrefStore(tmp_path / "app.db")
    assert prefs.load(Preferences) == Preferences(language="fr", profile="grower")
    chosen = Preferences("en", "citizen", "http://lab.example", True, True)
    prefs.save(chosen)
    prefs.save(SyncState(3, 1234.5, 1000.0, "server busy (503)"))
    assert prefs.load(Preferences) == chosen
    assert prefs.load(SyncState) == SyncState(3, 1234.5, 1000.0, "server busy (503)")
    assert prefs.load(Account) == Account()


_SAVER = """
import sys
from pathlib import Path
from mobile.outbox import Outbox
from model.result import Identification
outbox = Outbox(Path(sys.argv[1]))
photos = [bytes([n]) * 300_000 for n in range(3)]
while True:
    observation = outbox.record(photos, Identification.from_dict({"label": "apple.scab"}))
    print(observation.id, flush=True)
"""


def test_a_kill_in_the_middle_of_saves_loses_nothing_reported_saved(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO_ROOT)},
    )
    assert process.stdout is not None
    reported = [process.stdout.readline().strip() for _ in range(5)]
    time.sleep(0.05)  # in the middle of a later save
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    reported += [line.strip() for line in process.stdout.read().splitlines()]
    outbox = Outbox(tmp_path)
    outbox.recover()
    saved = _stored_ids(outbox)
    assert set(reported) <= saved  # everything the user was told is saved, is
    for observation_id in saved:
        assert outbox.photos(observation_id) == [bytes([n]) * 300_000 for n in range(3)]
    folders = {p.name for p in outbox.photos_dir.iterdir()}
    assert folders == saved  # what the kill left half-written is gone
