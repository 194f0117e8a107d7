"""The honest wait (``api.services.capacity``) against hand-computed queues, and the lab's own
settings (capacity, watched labels) taking effect through the API."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api.clock import simulated
from api.models import Role
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


def test_the_wait_walks_past_the_lab_s_days_off() -> None:
    christmas = make_capacity(8, "08:00", "16:00", [1, 2, 3, 4, 5], ["2026-12-25", "2026-12-28"])
    thursday_3pm = _utc("2026-12-24T15:00")
    # Thursday's last hour, then Friday 25 and Monday 28 off: the second answer on Tuesday
    assert answer_time(1, 8.0, christmas, thursday_3pm, LAB) == _utc("2026-12-24T16:00")
    assert answer_time(2, 8.0, christmas, thursday_3pm, LAB) == _utc("2026-12-29T09:00")
    assert answer_time(2, 8.0, ONE_AN_HOUR, thursday_3pm, LAB) == _utc("2026-12-25T09:00")
    assert not christmas.works_on(date(2026, 12, 25)) and christmas.works_on(date(2026, 12, 29))


def test_the_work_in_hand_counts_from_its_claim(seed: Seeder, api_settings: ApiSettings) -> None:
    # the default capacity: 40 cases from 8:30 to 16:30, one answer every 12 minutes
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    first = seed.case(grower, opened_at=_utc("2026-12-09T09:00"))
    now = _utc("2026-12-09T09:05")
    # nobody holds a case: a new one waits for the first and itself, 24 minutes
    assert expected_wait(seed.session, tier=1, settings=api_settings, now=now).at == _utc(
        "2026-12-09T09:29"
    )
    with simulated(lambda: _utc("2026-12-09T09:03")):
        queue.claim(seed.session, case=first, specialist=specialist, settings=api_settings)
    # held since 9:03, 10 of its 12 minutes left at 9:05: the first at 9:15, a new one at 9:27
    held = expected_wait(seed.session, tier=1, settings=api_settings, case=first, now=now)
    assert (held.at, held.position) == (_utc("2026-12-09T09:15"), 1)
    new = expected_wait(seed.session, tier=1, settings=api_settings, now=now)
    assert (new.at, new.position) == (_utc("2026-12-09T09:27"), 2)


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


def test_the_pace_blends_the_capacity_with_real_decisions_over_the_time_cases_waited(
    seed: Seeder, api_settings: ApiSettings
) -> None:
    # the default capacity: 40 cases from 8:30 to 16:30
    capacity = current_capacity(seed.session, settings=api_settings)
    assert (capacity.cases_per_day, capacity.hours_per_day) == (40, 8.0)
    wednesday_noon = _utc("2026-12-09T12:00")
    assert (
        daily_pace(seed.session, capacity=capacity, settings=api_settings, now=wednesday_noon) == 40
    )
    grower, specialist = seed.user(Role.GROWER), seed.user(Role.SPECIALIST)
    for opened, answered in (("09:00", "10:00"), ("09:30", "11:00"), ("14:00", "14:30")):
        case = seed.case(grower, opened_at=_utc(f"2026-12-09T{opened}"))
        with simulated(lambda answered=answered: _utc(f"2026-12-09T{answered}")):
            seed.answer(case, specialist, api_settings)
    seed.case(grower, opened_at=_utc("2026-12-09T16:00"))  # still waiting

    def pace(local_now: str) -> float:
        now = _utc(local_now)
        return daily_pace(seed.session, capacity=capacity, settings=api_settings, now=now)

    # 3 decisions; cases waited 9:00 to 11:00 and 14:00 to 14:30 (the waiting case from 16:00
    # to closing): 3 working hours, 0.375 of a working day; the idle hours between count not
    assert pace("2026-12-09T18:00") == pytest.approx((40 * PRIOR_DAYS + 3) / (PRIOR_DAYS + 0.375))
    # the night passes without working time; Thursday from 8:30 to 9:30 adds an hour
    assert pace("2026-12-10T09:30") == pytest.approx((40 * PRIOR_DAYS + 3) / (PRIOR_DAYS + 0.5))
    # seven decisions within a minute are a busy minute, not 10,000 a day: they move it little
    for _ in range(7):
        burst = seed.case(grower, opened_at=_utc("2026-12-10T09:29"))
        with simulated(lambda: _utc("2026-12-10T09:30")):
            seed.answer(burst, specialist, api_settings)
    busy = (3 + 1 + 1 / 60) / 8  # the case from Wednesday 16:00 still waits at 9:31
    expected = (40 * PRIOR_DAYS + 10) / (PRIOR_DAYS + busy)
    assert pace("2026-12-10T09:31") == pytest.approx(expected) and 38 < expected < 39


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
    # nobody holds a case: the fifth waits for the four before it and its own answer
    assert wait(3)[1] == answer_time(5, pace, capacity, now, api_settings.lab_timezone)
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

    # Wednesday 9:00, 30 minutes of opening without an answer: two answers from now
    assert second_waits_until("2026-12-09T09:00") == _utc("2026-12-09T09:24")
    # 9:30, an hour: the lab is away today, the two answers are Thursday's first
    assert second_waits_until("2026-12-09T09:30") == _utc("2026-12-10T08:54")
    # a claim at 9:20 is the lab at work; at 9:30 the first case has 2 of its 12 minutes left
    with simulated(lambda: _utc("2026-12-09T09:20")):
        queue.claim(seed.session, case=first, specialist=specialist, settings=api_settings)
    assert second_waits_until("2026-12-09T09:30") == _utc("2026-12-09T09:44")
    # so is a decision at 9:25: the second case is next, then silent again from about 10:15
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

    # (one decision now: the pace blends it over the working time cases waited since 8:30)
    def one_answer(waited_hours: float) -> timedelta:
        pace = (40 * PRIOR_DAYS + 1) / (PRIOR_DAYS + waited_hours / 8)
        return timedelta(hours=8 / pace)

    assert second_waits_until("2026-12-09T10:00") == _utc("2026-12-09T10:00") + one_answer(1.5)
    assert second_waits_until("2026-12-09T10:15") == _utc("2026-12-10T08:30") + one_answer(1.75)
    # after the working day the walk starts at the next one anyway
    assert second_waits_until("2026-12-09T18:00") == _utc("2026-12-10T08:30") + one_answer(8)


def test_an_admin_s_capacity_and_watched_labels_take_effect(
    client: TestClient, seed: Seeder, api_settings: ApiSettings
) -> None:
    admin, grower = seed.user(Role.ADMIN), seed.user(Role.GROWER)
    as_admin, as_grower = bearer(client, admin), bearer(client, grower)
    case = seed.case(grower)
    before = client.get(f"/v1/cases/{case.id}", headers=as_grower).json()["expected_answer"]
    assert before["position"] == 1 and before["pace"] == api_settings.cases_per_day

    body = {
        "cases_per_day": 2,
        "day_start": "09:00",
        "day_end": "12:00",
        "work_days": [1, 3],
        "days_off": [],
    }
    assert client.put("/v1/lab/capacity", json=body, headers=as_grower).status_code == 403
    assert client.put("/v1/lab/capacity", json=body, headers=as_admin).status_code == 200
    assert client.get("/v1/lab/capacity", headers=as_grower).json() == body
    after = client.get(f"/v1/cases/{case.id}", headers=as_grower).json()["expected_answer"]
    assert after["pace"] == 2.0 and after["hours"] > before["hours"]
    for bad in ({**body, "day_end": "08:00"}, {**body, "days_off": ["Noël"]}):
        assert client.put("/v1/lab/capacity", json=bad, headers=as_admin).status_code == 422
    # the day the wait fell on becomes a day off: the wait moves to the next working day
    answered_on = datetime.fromisoformat(after["at"]).astimezone(ZoneInfo(LAB)).date()
    body["days_off"] = [answered_on.isoformat()]
    assert client.put("/v1/lab/capacity", json=body, headers=as_admin).status_code == 200
    assert client.get("/v1/lab/capacity", headers=as_grower).json() == body
    moved = client.get(f"/v1/cases/{case.id}", headers=as_grower).json()["expected_answer"]
    moved_to = datetime.fromisoformat(moved["at"]).astimezone(ZoneInfo(LAB))
    assert moved_to.date() > answered_on and moved_to.isoweekday() in (1, 3)

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
