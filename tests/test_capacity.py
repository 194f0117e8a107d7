"""The honest wait (``api.services.capacity``) against hand-computed queues, and the lab's own
settings (capacity, watched labels) taking effect through the API."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.clock import simulated
from api.models import Role, utcnow
from api.services import queue
from api.services.capacity import (
    PRIOR_DAYS,
    answer_time,
    current_capacity,
    daily_pace,
    expected_wait,
    make_capacity,
)
from api.settings import ApiSettings
from model.wording import expected_answer
from tests.api_support import Seeder, bearer

LAB = "America/Toronto"
# 8 cases in an 8-hour day: one an hour, Monday to Friday.
ONE_AN_HOUR = make_capacity(8, "08:00", "16:00", [1, 2, 3, 4, 5])


def _utc(local: str) -> datetime:
    """A local time of the lab, in UTC."""
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(LAB)).astimezone(UTC)


def test_the_wait_walks_the_working_hours_and_skips_nights_and_weekends() -> None:
    friday_3pm = _utc("2026-12-04T15:00")
    assert answer_time(1, 8.0, ONE_AN_HOUR, friday_3pm, LAB) == _utc("2026-12-04T16:00")
    # the second is answered Monday at 9:00, the third at 10:00
    assert answer_time(3, 8.0, ONE_AN_HOUR, friday_3pm, LAB) == _utc("2026-12-07T10:00")
    saturday = _utc("2026-12-05T11:00")
    assert answer_time(1, 8.0, ONE_AN_HOUR, saturday, LAB) == _utc("2026-12-07T09:00")
    # half the pace: twice the working time
    assert answer_time(2, 4.0, ONE_AN_HOUR, _utc("2026-12-07T08:00"), LAB) == _utc(
        "2026-12-07T12:00"
    )


def test_the_wait_in_words_is_the_lab_s_local_time() -> None:
    now = datetime(2026, 12, 7, 9, 0)
    assert expected_answer(datetime(2026, 12, 7, 14, 30), now, "fr") == (
        "aujourd'hui, vers 14\u00a0h\u00a030"
    )
    assert expected_answer(datetime(2026, 12, 8, 10, 0), now, "en") == "tomorrow, around 10:00"
    assert (
        expected_answer(datetime(2026, 12, 9, 10, 0), now, "fr") == "d'ici le mercredi 9 décembre"
    )
    assert expected_answer(datetime(2026, 12, 9, 10, 0), now, "en") == "by Wednesday 9 December"


def test_the_pace_blends_the_capacity_with_real_decisions_over_working_days(
    seed: Seeder, api_settings: ApiSettings
) -> None:
    capacity = current_capacity(seed.session, settings=api_settings)
    now = utcnow()
    assert daily_pace(seed.session, capacity=capacity, settings=api_settings, now=now) == (
        api_settings.cases_per_day
    )
    # seven decisions within a minute are a busy morning, not 10,000 a day; with a short queue
    # they measure what arrived, not the pace: the capacity holds
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    for _ in range(7):
        seed.answer(seed.case(grower), specialist, api_settings)
    pace = daily_pace(seed.session, capacity=capacity, settings=api_settings, now=now)
    assert pace == api_settings.cases_per_day
    # a day's capacity waiting: the specialists' real output counts
    for _ in range(api_settings.cases_per_day):
        seed.case(grower)
    pace = daily_pace(seed.session, capacity=capacity, settings=api_settings, now=now)
    expected = (api_settings.cases_per_day * PRIOR_DAYS + 7) / (PRIOR_DAYS + 1)
    assert pace == pytest.approx(expected) and pace < api_settings.cases_per_day


def test_the_wait_follows_the_queue_ahead_by_tier_and_order(
    seed: Seeder, api_settings: ApiSettings
) -> None:
    grower, citizen = seed.user(Role.GROWER), seed.user(Role.CITIZEN)
    # a Saturday: the wait walks from Monday's opening whatever the lab did today
    now = _utc("2026-12-05T11:00")
    hour_ago = now - timedelta(hours=1)
    farms = [seed.case(grower, opened_at=hour_ago + timedelta(minutes=i)) for i in range(3)]
    others = [seed.case(citizen, opened_at=hour_ago - timedelta(minutes=i)) for i in range(2)]
    assert [c.tier for c in farms + others] == [1, 1, 1, 2, 2]
    assert queue.queue_length(seed.session) == 5
    capacity = current_capacity(seed.session, settings=api_settings)
    pace = daily_pace(seed.session, capacity=capacity, settings=api_settings, now=now)

    def wait(case_index: int | None = None, tier: int = 1) -> tuple[int, datetime]:
        case = (farms + others)[case_index] if case_index is not None else None
        tier = case.tier if case else tier
        found = expected_wait(seed.session, tier=tier, settings=api_settings, case=case, now=now)
        return found.position, found.at

    # a citizen's cases wait behind every farm case, even those opened after them, and in the
    # order they were opened among themselves (the second citizen's case was opened first)
    assert wait(0)[0] == 1 and wait(2)[0] == 3 and wait(4)[0] == 4 and wait(3)[0] == 5
    # the case in hand is half done: the fifth waits for 4.5 answers
    assert wait(3)[1] == answer_time(4.5, pace, capacity, now, api_settings.lab_timezone)
    # a new case: behind every waiting case of its tier and before
    assert wait(tier=1)[0] == 4 and wait(tier=2)[0] == 6 and wait(tier=0)[0] == 1


def test_a_lab_silent_while_cases_wait_is_away_for_the_rest_of_the_day(
    seed: Seeder, api_settings: ApiSettings
) -> None:
    # the default capacity: 40 cases from 8:30 to 16:30, one answer every 12 minutes; silence
    # for four answers' time (48 minutes) with cases waiting means nobody answers today
    assert api_settings.cases_per_day == 40 and api_settings.lab_timezone == LAB
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    first, second = (seed.case(grower, opened_at=_utc(f"2026-12-09T08:0{i}")) for i in range(2))

    def second_waits_until(local_now: str) -> datetime:
        now = _utc(local_now)
        return expected_wait(seed.session, tier=1, settings=api_settings, case=second, now=now).at

    # Wednesday 9:00, 30 minutes of opening without an answer: 1.5 answers from now
    assert second_waits_until("2026-12-09T09:00") == _utc("2026-12-09T09:18")
    # 9:30, an hour: the lab is away today, the 1.5 answers are Thursday's first
    assert second_waits_until("2026-12-09T09:30") == _utc("2026-12-10T08:48")
    # a claim at 9:20 is the lab at work
    with simulated(lambda: _utc("2026-12-09T09:20")):
        queue.claim(seed.session, case=first, specialist=specialist, settings=api_settings)
    assert second_waits_until("2026-12-09T09:30") == _utc("2026-12-09T09:48")
    # so is a decision at 9:25: the second case is next, then silent again from 10:13
    with simulated(lambda: _utc("2026-12-09T09:25")):
        queue.decide(
            seed.session,
            case=first,
            specialist=specialist,
            action="confirm",
            label=None,
            message="Réponse.",
            catalog=seed.catalog,
        )
    assert second_waits_until("2026-12-09T10:00") == _utc("2026-12-09T10:06")
    assert second_waits_until("2026-12-09T10:15") == _utc("2026-12-10T08:36")
    # after the working day the walk starts at the next one anyway
    assert second_waits_until("2026-12-09T18:00") == _utc("2026-12-10T08:36")


def test_an_admin_s_capacity_and_watched_labels_take_effect(
    client: TestClient, seed: Seeder, api_settings: ApiSettings
) -> None:
    admin, grower = seed.user(Role.ADMIN), seed.user(Role.GROWER)
    as_admin, as_grower = bearer(client, admin), bearer(client, grower)
    case = seed.case(grower)
    before = client.get(f"/v1/cases/{case.id}", headers=as_grower).json()["expected_answer"]
    assert before["position"] == 1 and before["pace"] == api_settings.cases_per_day

    body = {"cases_per_day": 2, "day_start": "09:00", "day_end": "12:00", "work_days": [1, 3]}
    assert client.put("/v1/lab/capacity", json=body, headers=as_grower).status_code == 403
    assert client.put("/v1/lab/capacity", json=body, headers=as_admin).status_code == 200
    assert client.get("/v1/lab/capacity", headers=as_grower).json() == body
    after = client.get(f"/v1/cases/{case.id}", headers=as_grower).json()["expected_answer"]
    assert after["pace"] == 2.0 and after["hours"] > before["hours"]
    bad = {**body, "day_end": "08:00"}
    assert client.put("/v1/lab/capacity", json=bad, headers=as_admin).status_code == 422

    # apple.scab watched: a grower's case where it is suspected goes before the rest
    url = "/v1/lab/watchlist/apple.scab"
    assert client.put(url, json={"kind": "watched"}, headers=as_grower).status_code == 403
    assert client.put(url, json={"kind": "watched"}, headers=as_admin).status_code == 204
    listed = client.get("/v1/lab/watchlist", headers=as_grower).json()
    assert [(w["label"], w["kind"], w["set_by"]) for w in listed] == [
        ("apple.scab", "watched", admin.username)
    ]
    assert seed.case(grower, label="apple.scab").tier == 0
    assert seed.case(grower, label="corn.common_rust", runner_up="corn.healthy").tier == 1
    assert client.delete(url, headers=as_admin).status_code == 204
    assert seed.case(grower, label="apple.scab").tier == 1
    unknown = client.put("/v1/lab/watchlist/no.such", json={"kind": "watched"}, headers=as_admin)
    assert unknown.status_code == 422
