"""The field app's sync against the real API server on 127.0.0.1, through a network that fails
on cue: server down, server stopped in the middle of an upload, answers lost after the server
committed, a slow server, repeated retries, the app killed in the middle of a sync. After each,
the server's database must hold every request exactly once, with exactly one case each."""

import signal
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from mobile.controller import FieldController
from mobile.prefs import SyncState
from mobile.settings import AppSettings
from mobile.sync import backoff_delay
from tests.fault_support import FAULT_RUNS, record
from tests.mobile_support import (
    PASSWORD,
    Fault,
    FaultProxy,
    LiveServer,
    impatient,
    judge,
    signed_in_phone,
    sync_in_a_process,
)

UPLOAD = "POST /v1/identifications "

pytestmark = pytest.mark.slow


def ask_about(phone: FieldController, photos: list[bytes], message: str = "Que faire?") -> str:
    """Identify on the phone, then ask a specialist, as a user does from the result screen."""
    identified = phone.identify(photos)
    return phone.ask_specialist(identified.observation.id, message).id


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_delay(n, 30, 3600) for n in range(1, 9)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600,
    ]  # fmt: skip


def test_server_down_then_back(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    phone = signed_in_phone(phone_settings, live_server.url, "ferme.down")
    live_server.stop()
    asked = [ask_about(phone, [photo]) for photo in test_photos[:4]]
    clock = [1000.0]
    phone.syncer.clock = lambda: clock[0]
    waits = []
    for _ in range(4):
        report = phone.sync()
        assert report.error and report.sent == 0
        state = phone.prefs.load(SyncState)
        waits.append(state.next_attempt_at - clock[0])
        assert not phone.syncer.is_due()
        clock[0] = state.next_attempt_at
        assert phone.syncer.is_due()
    assert waits == [2.0, 4.0, 8.0, 16.0]  # exponential backoff
    assert len(phone.outbox.due()) == 4  # nothing lost while the server was away
    live_server.start()
    report = phone.sync()
    assert report.sent == 4 and report.error is None
    assert phone.prefs.load(SyncState).failures == 0
    assert phone.outbox.due() == []
    judge(live_server, [phone.outbox.get(i) for i in asked])


def test_server_stopped_in_the_middle_of_an_upload(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    proxy = FaultProxy(live_server.port)
    phone = signed_in_phone(phone_settings, proxy.url, "ferme.crash")
    asked = ask_about(phone, test_photos[:3])
    fault = proxy.inject(Fault("hold", UPLOAD, after=20_000))
    reports = []
    worker = threading.Thread(target=lambda: reports.append(phone.sync()))
    worker.start()
    assert fault.reached.wait(30), "the upload never started"
    live_server.kill()  # the server dies with half the photos received
    fault.release.set()
    worker.join(30)
    assert reports[0].sent == 0 and reports[0].error
    assert phone.outbox.get(asked).upload == "pending"
    live_server.start()
    assert asked not in live_server.records()  # the half upload left nothing
    report = phone.sync()
    assert report.sent == 1
    judge(live_server, [phone.outbox.get(asked)])


def test_answer_lost_after_the_server_committed(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    proxy = FaultProxy(live_server.port)
    phone = signed_in_phone(phone_settings, proxy.url, "ferme.lost")
    asked = ask_about(phone, [test_photos[0]])
    proxy.inject(Fault("drop_response", UPLOAD))
    report = phone.sync()
    assert report.sent == 0 and report.error
    assert live_server.records()[asked] == (1, 1)  # committed, but the phone cannot know
    assert phone.outbox.get(asked).upload == "pending"
    report = phone.sync()  # the same client id again: the server answers with its record
    assert report.sent == 1
    observation = phone.outbox.get(asked)
    assert observation.upload == "sent" and observation.case_id
    judge(live_server, [observation])


def test_slow_server(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    proxy = FaultProxy(live_server.port)
    phone = signed_in_phone(impatient(phone_settings), proxy.url, "ferme.slow")
    asked = [ask_about(phone, [photo]) for photo in test_photos[:3]]
    # The first answer comes after the phone's timeout (3 s): the phone gives up, the server
    # has committed; the retry must find that record rather than make a second.
    proxy.inject(Fault("delay_response", UPLOAD, delay=6.0))
    report = phone.sync()
    assert report.sent == 0 and "ReadTimeout" in (report.error or "")
    assert phone.prefs.load(SyncState).failures == 1
    report = FieldController(phone_settings).sync()  # later, the network answers in time
    assert report.sent == 3
    judge(live_server, [phone.outbox.get(i) for i in asked])


def test_repeated_retries_through_every_fault(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    """Twelve requests, a fault on most uploads, passes from two threads at once, until the
    outbox is empty: still exactly one record and one case per request."""
    proxy = FaultProxy(live_server.port)
    phone = signed_in_phone(impatient(phone_settings), proxy.url, "ferme.retries")
    asked = [ask_about(phone, [photo]) for photo in test_photos[:12]]
    for kind in ("cut", "drop_response", "delay_response", "cut", "drop_response") * 2:
        proxy.inject(Fault(kind, UPLOAD, after=5_000, delay=6.0))
    other = FieldController(phone_settings)  # a second sync on the same storage, concurrently
    passes = 0
    while phone.outbox.due() and passes < 40:
        threads = [threading.Thread(target=c.syncer.run) for c in (phone, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        passes += 1
    assert not proxy.faults, "some faults were never met"
    assert phone.outbox.due() == [], f"still waiting after {passes} passes"
    counts = judge(live_server, [phone.outbox.get(i) for i in asked])
    assert counts["on_server"] == 12


@pytest.mark.faults
@pytest.mark.parametrize("run", FAULT_RUNS)
@pytest.mark.parametrize("moment", ["during the upload", "after the server committed"])
def test_app_killed_in_the_middle_of_a_sync(
    moment: str,
    run: int,
    live_server: LiveServer,
    phone_settings: AppSettings,
    test_photos: list[bytes],
) -> None:
    proxy = FaultProxy(live_server.port)
    phone = signed_in_phone(phone_settings, proxy.url, "ferme.killed")
    asked = [ask_about(phone, [photo]) for photo in test_photos[:2]]
    if moment == "during the upload":
        fault = proxy.inject(Fault("hold", UPLOAD, after=8_000))
    else:
        fault = proxy.inject(Fault("delay_response", UPLOAD, delay=30.0))
    process = sync_in_a_process(phone_settings)
    try:
        assert fault.reached.wait(60), "the app never got that far"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        fault.release.set()
        if process.poll() is None:
            process.kill()
    assert len(phone.outbox.due()) == 2  # the kill lost nothing
    restarted = FieldController(phone_settings)
    restarted.start()
    report = restarted.sync()
    assert report.sent == 2
    counts = judge(live_server, [restarted.outbox.get(i) for i in asked])
    record(f"app-killed-{moment.replace(' ', '-')}-{run}", {**counts, "sent_after": report.sent})


def test_only_what_the_user_chose_leaves_the_phone(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    phone = signed_in_phone(phone_settings, live_server.url, "ferme.private")
    kept = [phone.identify([photo]).observation for photo in test_photos[:3]]
    asked = ask_about(phone, [test_photos[3]])
    preferences = phone.preferences
    phone.save_preferences(replace(preferences, share_surveillance=True))
    shared = phone.identify([test_photos[4]]).observation
    report = phone.sync()
    assert report.sent == 2
    assert set(live_server.records()) == {asked, shared.id}
    assert all(phone.outbox.get(o.id).upload == "none" for o in kept)
    judge(live_server, [phone.outbox.get(asked), phone.outbox.get(shared.id)])


def test_a_request_waits_for_a_sign_in_then_goes(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    phone = FieldController(phone_settings)
    phone.start()
    asked = ask_about(phone, [test_photos[0]])
    report = phone.sync()
    assert report.sign_in_needed and report.sent == 0
    assert phone.prefs.load(SyncState).failures == 0  # waiting for the user is no failure
    phone.sign_in(live_server.url, "ferme.later", PASSWORD, create=True)
    report = phone.sync()
    assert report.sent == 1
    judge(live_server, [phone.outbox.get(asked)])


def test_asking_about_an_identification_already_shared(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    """Shared for surveillance first, asked about later: one identification, one case."""
    phone = signed_in_phone(phone_settings, live_server.url, "ferme.second")
    preferences = phone.preferences
    phone.save_preferences(replace(preferences, share_surveillance=True))
    shared = phone.identify([test_photos[0]]).observation
    assert phone.sync().sent == 1
    phone.ask_specialist(shared.id, "Est-ce grave?")
    for _ in range(2):  # the second pass has nothing to send: asking is not repeated
        report = phone.sync()
        assert report.error is None
    assert report.asked == 0
    judge(live_server, [phone.outbox.get(shared.id)])
    assert phone.outbox.get(shared.id).case_status == "open"
    assert phone.outbox.get(shared.id).expected_answer  # the server's wait, in words
    assert phone.prefs.load(SyncState).specialist_wait_at  # what asking now would mean


def test_the_specialists_answer_comes_back_on_sync(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    phone = signed_in_phone(phone_settings, live_server.url, "ferme.answer")
    asked = ask_about(phone, [test_photos[0]], "Les feuilles jaunissent, que faire?")
    phone.sync()
    case_id = phone.outbox.get(asked).case_id
    assert case_id
    seen = phone.prefs.load(SyncState)
    assert seen.cases_since and seen.cases_of == "ferme.answer"  # next time: only what changed
    live_server.answer(case_id, "apple.scab", "C'est de la tavelure : ramassez les feuilles.")
    phone.sync()
    later = phone.prefs.load(SyncState).cases_since
    assert datetime.fromisoformat(later) > datetime.fromisoformat(seen.cases_since)
    observation = phone.outbox.get(asked)
    assert observation.case_status == "answered"
    assert observation.answer_label == "apple.scab"
    [case] = phone.cases()
    assert case.answered and case.title == "Tavelure du pommier"  # the specialist's label
    assert "ramassez les feuilles" in case.detail
    assert case.state == "Réponse du spécialiste"


def test_a_photo_the_server_refuses_is_not_sent_again(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes], tmp_path: Path
) -> None:
    phone = signed_in_phone(phone_settings, live_server.url, "ferme.refused")
    asked = ask_about(phone, [test_photos[0]])
    # The photo file on the phone got damaged after it was identified (a full disk, say).
    photo_file = phone.outbox.photos_dir / asked / "0.img"
    photo_file.write_bytes(photo_file.read_bytes()[:300])
    report = phone.sync()
    assert report.refused == 1 and report.error is None
    observation = phone.outbox.get(asked)
    assert observation.upload == "refused" and "422" in (observation.last_error or "")
    assert phone.sync().refused == 0
    assert asked not in live_server.records()
    assert phone.cases()[0].state == "Refusée par le serveur"


def test_an_expired_session_is_renewed_or_asks_for_a_sign_in(
    live_server: LiveServer, phone_settings: AppSettings, test_photos: list[bytes]
) -> None:
    phone = signed_in_phone(phone_settings, live_server.url, "ferme.session")
    first = ask_about(phone, [test_photos[0]])
    account = phone.account
    # The access token is refused (expired): the refresh token renews it, the upload goes on.
    phone.prefs.save(replace(account, access_token="expired.access.token"))
    assert phone.sync().sent == 1
    renewed = phone.account
    assert renewed.signed_in and renewed.access_token not in ("expired.access.token", "")
    # The refresh token is refused too: the request waits for the user to sign in again.
    second = ask_about(phone, [test_photos[1]])
    phone.prefs.save(replace(renewed, access_token="expired", refresh_token="revoked"))
    report = phone.sync()
    assert report.sign_in_needed and report.sent == 0 and not phone.account.signed_in
    assert phone.prefs.load(SyncState).failures == 0
    phone.sign_in(live_server.url, "ferme.session", PASSWORD, create=False)
    assert phone.sync().sent == 1
    judge(live_server, [phone.outbox.get(first), phone.outbox.get(second)])
