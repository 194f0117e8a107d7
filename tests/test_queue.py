"""The review queue on both databases: priority, atomic claims, timeouts, decisions."""

import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, func, select, update

from api.db import session_factory
from api.errors import Conflict, Forbidden, InvalidInput
from api.models import Action, Case, CaseDecision, CaseStatus, Role, utcnow
from api.services import queue
from api.services.capacity import expected_wait
from api.settings import ApiSettings
from model.catalog import load_catalog
from tests.api_support import Seeder


def test_claims_follow_the_documented_priority(seed: Seeder, api_settings: ApiSettings) -> None:
    grower, citizen = seed.user(Role.GROWER), seed.user(Role.CITIZEN)
    specialist = seed.user(Role.SPECIALIST)
    old = utcnow() - timedelta(hours=5)
    citizen_old = seed.case(citizen, opened_at=old - timedelta(hours=1))
    grower_new_sure = seed.case(grower, probability=0.8, opened_at=old + timedelta(hours=1))
    grower_new_unsure = seed.case(grower, probability=0.4, opened_at=old + timedelta(hours=1))
    grower_old = seed.case(grower, opened_at=old)
    assert [case.id for case in queue.waiting_cases(seed.session)] == [
        grower_old.id,  # agricultural users before citizens, oldest first
        grower_new_unsure.id,  # same tier and time: least sure first
        grower_new_sure.id,
        citizen_old.id,
    ]
    claimed = [
        queue.claim_next(seed.session, specialist=specialist, settings=api_settings)
        for _ in range(4)
    ]
    assert [case.id for case in claimed if case] == [
        grower_old.id,
        grower_new_unsure.id,
        grower_new_sure.id,
        citizen_old.id,
    ]
    assert all(case and case.claimed_by == specialist.id for case in claimed)
    assert queue.claim_next(seed.session, specialist=specialist, settings=api_settings) is None
    assert len(queue.held_by(seed.session, specialist=specialist)) == 4


def test_the_informative_order_serves_the_least_sure_first_within_a_tier_and_waits_follow(
    seed: Seeder, api_settings: ApiSettings
) -> None:
    grower, citizen = seed.user(Role.GROWER), seed.user(Role.CITIZEN)
    specialist = seed.user(Role.SPECIALIST)
    old = utcnow() - timedelta(hours=5)
    sure_old = seed.case(grower, probability=0.8, opened_at=old)
    unsure_new = seed.case(grower, probability=0.3, opened_at=old + timedelta(hours=2))
    middle = seed.case(grower, probability=0.5, opened_at=old + timedelta(hours=1))
    citizen_unsure = seed.case(citizen, probability=0.1, opened_at=old - timedelta(hours=1))
    expected = [unsure_new, middle, sure_old, citizen_unsure]  # tiers still come first
    informative = api_settings.model_copy(update={"queue_order": "informative"})
    assert queue.waiting_cases(seed.session, order="informative") == expected
    # the wait of each case counts the cases ahead of it in the same order
    positions = [
        expected_wait(seed.session, tier=c.tier, settings=informative, case=c).position
        for c in expected
    ]
    assert positions == [1, 2, 3, 4]
    arrival = [
        expected_wait(seed.session, tier=c.tier, settings=api_settings, case=c).position
        for c in expected
    ]
    assert arrival == [3, 2, 1, 4]
    claimed = queue.claim_next(seed.session, specialist=specialist, settings=informative)
    assert claimed is not None and claimed.id == unsure_new.id


def test_a_regulated_suspect_goes_first(
    seed: Seeder, api_settings: ApiSettings, tmp_path: Path
) -> None:
    folder = tmp_path / "catalog"
    shutil.copytree(api_settings.catalog_dir, folder)
    crops = yaml.safe_load((folder / "crops.yaml").read_text(encoding="utf-8"))
    crops["labels"]["potato.late_blight"]["regulated"] = True
    (folder / "crops.yaml").write_text(yaml.safe_dump(crops, allow_unicode=True), "utf-8")
    seed.catalog = load_catalog(folder)
    grower, citizen = seed.user(Role.GROWER), seed.user(Role.CITIZEN)
    specialist = seed.user(Role.SPECIALIST)
    seed.case(grower, opened_at=utcnow() - timedelta(days=1))
    # A citizen's photo where the regulated organism is only the runner-up.
    suspect = seed.case(citizen, label="potato.early_blight", runner_up="potato.late_blight")
    assert suspect.tier == 0
    first = queue.claim_next(seed.session, specialist=specialist, settings=api_settings)
    assert first is not None and first.id == suspect.id


def test_concurrent_specialists_never_get_the_same_case(
    seed: Seeder, engine: Engine, api_settings: ApiSettings
) -> None:
    grower = seed.user(Role.GROWER)
    specialists = [seed.user(Role.SPECIALIST) for _ in range(8)]
    cases = {seed.case(grower).id for _ in range(40)}
    factory = session_factory(engine)
    claims: dict[int, list[str]] = {specialist.id: [] for specialist in specialists}
    errors: list[BaseException] = []
    start = threading.Barrier(len(specialists))

    def work(specialist_id: int) -> None:
        try:
            with factory() as session:
                specialist = session.get(type(grower), specialist_id)
                assert specialist is not None
                start.wait()
                while (
                    case := queue.claim_next(session, specialist=specialist, settings=api_settings)
                ) is not None:
                    claims[specialist_id].append(case.id)
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s.id,)) for s in specialists]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    claimed = [case_id for held in claims.values() for case_id in held]
    assert len(claimed) == len(set(claimed)), "a case was claimed twice"
    assert set(claimed) == cases
    holders = {
        case_id: holder
        for case_id, holder in seed.session.execute(select(Case.id, Case.claimed_by))
    }
    assert all(holders[case_id] == sid for sid, held in claims.items() for case_id in held)


def _expire_claims(seed: Seeder) -> None:
    """What the passing of claim_timeout_minutes does."""
    seed.session.execute(update(Case).values(claim_expires_at=utcnow() - timedelta(seconds=1)))
    seed.session.commit()


def test_an_abandoned_claim_returns_to_the_queue(
    seed: Seeder, api_settings: ApiSettings, catalog
) -> None:
    grower = seed.user(Role.GROWER)
    first, second = seed.user(Role.SPECIALIST), seed.user(Role.SPECIALIST)
    case = seed.case(grower)
    assert queue.claim_next(seed.session, specialist=first, settings=api_settings) is not None
    assert queue.claim_next(seed.session, specialist=second, settings=api_settings) is None
    assert queue.waiting_cases(seed.session) == []
    _expire_claims(seed)
    seed.session.refresh(case)
    assert case.status_at(utcnow()) == CaseStatus.OPEN
    assert [c.id for c in queue.waiting_cases(seed.session)] == [case.id]
    taken = queue.claim_next(seed.session, specialist=second, settings=api_settings)
    assert taken is not None and taken.id == case.id and taken.claimed_by == second.id
    with pytest.raises(Conflict, match="claimed by"):
        queue.decide(
            seed.session,
            case=case,
            specialist=first,
            action="confirm",
            label=None,
            message="Tavelure.",
            catalog=catalog,
        )
    assert seed.session.scalar(select(func.count()).select_from(CaseDecision)) == 0


def test_an_expired_claim_can_still_be_decided_until_someone_takes_it(
    seed: Seeder, api_settings: ApiSettings, catalog
) -> None:
    case = seed.case(seed.user(Role.GROWER))
    specialist = seed.user(Role.SPECIALIST)
    queue.claim_next(seed.session, specialist=specialist, settings=api_settings)
    _expire_claims(seed)
    queue.decide(
        seed.session,
        case=case,
        specialist=specialist,
        action="confirm",
        label=None,
        message="C'est bien.",
        catalog=catalog,
    )
    assert case.status == CaseStatus.ANSWERED


def test_every_decision_is_kept_with_who_and_when(
    seed: Seeder, api_settings: ApiSettings, catalog
) -> None:
    grower = seed.user(Role.GROWER)
    specialist = seed.user(Role.SPECIALIST)
    case = seed.case(grower, label="apple.scab")
    before = utcnow()
    queue.claim(seed.session, case=case, specialist=specialist, settings=api_settings)
    queue.decide(
        seed.session,
        case=case,
        specialist=specialist,
        action=Action.REQUEST_PHOTOS,
        label=None,
        message="Une photo du revers?",
        catalog=catalog,
    )
    assert case.status == CaseStatus.AWAITING_PHOTOS and case.label is None
    assert case.answer == "Une photo du revers?"
    assert queue.waiting_cases(seed.session) == []  # the user's turn, not the lab's
    case.status = CaseStatus.OPEN  # what the user's new photos do (tested with the cases)
    seed.session.commit()
    queue.claim(seed.session, case=case, specialist=specialist, settings=api_settings)
    queue.decide(
        seed.session,
        case=case,
        specialist=specialist,
        action="correct",
        label="apple.black_rot",
        message="Pourriture noire.",
        catalog=catalog,
    )
    assert case.status == CaseStatus.ANSWERED and case.label == "apple.black_rot"
    assert case.answered_at is not None and case.claimed_by is None
    decisions = seed.session.scalars(select(CaseDecision).order_by(CaseDecision.id)).all()
    assert [(d.action, d.label, d.specialist_id) for d in decisions] == [
        ("request_photos", None, specialist.id),
        ("correct", "apple.black_rot", specialist.id),
    ]
    assert all(before <= d.created_at <= utcnow() for d in decisions)
    with pytest.raises(Conflict, match="already been answered"):
        queue.claim(seed.session, case=case, specialist=specialist, settings=api_settings)


@pytest.mark.parametrize(
    ("action", "label", "message", "error"),
    [
        ("correct", "apple.not_a_disease", "Non.", "unknown label"),
        ("correct", None, "Non.", "needs the right label"),
        ("confirm", "apple.black_rot", "Oui.", "use 'correct'"),
        ("answer", "apple.scab", "Voir.", "takes no label"),
        ("confirm", None, "   ", "write a message"),
        ("approve", None, "Oui.", "unknown action"),
    ],
)
def test_a_bad_decision_changes_nothing(
    seed: Seeder, api_settings: ApiSettings, catalog, action, label, message, error
) -> None:
    case = seed.case(seed.user(Role.GROWER))
    specialist = seed.user(Role.SPECIALIST)
    queue.claim(seed.session, case=case, specialist=specialist, settings=api_settings)
    with pytest.raises(InvalidInput, match=error):
        queue.decide(
            seed.session,
            case=case,
            specialist=specialist,
            action=action,
            label=label,
            message=message,
            catalog=catalog,
        )
    seed.session.refresh(case)
    assert case.status == CaseStatus.CLAIMED and case.claimed_by == specialist.id
    assert seed.session.scalar(select(func.count()).select_from(CaseDecision)) == 0


def test_only_specialists_work_the_queue_and_only_on_what_they_hold(
    seed: Seeder, api_settings: ApiSettings, catalog
) -> None:
    grower = seed.user(Role.GROWER)
    case = seed.case(grower)
    for role in (Role.GROWER, Role.ADMIN, Role.RESEARCHER):
        with pytest.raises(Forbidden):
            queue.claim_next(seed.session, specialist=seed.user(role), settings=api_settings)
    first, second = seed.user(Role.SPECIALIST), seed.user(Role.SPECIALIST)
    with pytest.raises(Conflict, match="claim it first"):
        queue.decide(
            seed.session,
            case=case,
            specialist=first,
            action="confirm",
            label=None,
            message="Oui.",
            catalog=catalog,
        )
    queue.claim(seed.session, case=case, specialist=first, settings=api_settings)
    with pytest.raises(Conflict, match=f"claimed by {first.username}"):
        queue.claim(seed.session, case=case, specialist=second, settings=api_settings)
    with pytest.raises(Conflict):
        queue.release(seed.session, case=case, specialist=second)
    queue.release(seed.session, case=case, specialist=first)
    assert [c.id for c in queue.waiting_cases(seed.session)] == [case.id]
