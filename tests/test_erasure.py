"""Erasing an account (``api.services.erasure``), on both databases: afterwards no row carries
the person and no photo of theirs stays in the store, except the one another account sent too;
the surveillance's counts and the confirmed labels stay, without the person."""

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.db import make_engine, session_factory, upgrade
from api.models import (
    AuthEvent,
    Base,
    Case,
    CaseDecision,
    ErasedObservation,
    Identification,
    Role,
    User,
)
from api.photostore import FolderStore
from api.services.surveillance import Source, observations, shown_cells
from api.settings import ApiSettings
from model.catalog import Catalog
from model.result import Decision
from tests.api_support import PASSWORD, Seeder, bearer
from tests.helpers import jpeg_bytes, run_iriis, textured_image

DAY = datetime(2026, 6, 3, 10, tzinfo=UTC)  # a Wednesday of ISO week 2026-W23
FARM = (46.8123, -71.2345)  # the exact place: it must not survive the erasure


def _observed(seed: Seeder, identification: Identification, *, shared: bool = False) -> None:
    identification.observed_at, identification.shared = DAY, shared
    seed.session.commit()


def _naming(engine: Engine, user_id: int, username: str) -> list[str]:
    """Every column that still names the user: a key to users.id holding their id, or their
    username anywhere it is written."""
    found = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if any(key.column.table.name == "users" for key in column.foreign_keys):
                    value = user_id
                elif column.name == "username":
                    value = username  # type: ignore[assignment]
                elif table.name == "users" and column.name == "id":
                    value = user_id
                else:
                    continue
                count = connection.scalar(
                    select(func.count()).select_from(table).where(column == value)
                )
                if count:
                    found.append(f"{table.name}.{column.name}")
    return found


def test_an_erased_account_leaves_no_row_or_photo_and_the_lab_keeps_its_counts(
    client: TestClient,
    seed: Seeder,
    engine: Engine,
    store: FolderStore,
    api_settings: ApiSettings,
) -> None:
    grower, neighbour, specialist = (
        seed.user(Role.GROWER, "ferme.gagnon"),
        seed.user(Role.GROWER),
        seed.user(Role.SPECIALIST),
    )
    shared_photo = jpeg_bytes(textured_image(77))  # sent by both growers: one file
    # Shared, accepted, located: with the neighbour's, a cell-week of 3 from 2 people (shown).
    for images in ([shared_photo], None):
        accepted = seed.identification(
            grower, decision=Decision.ACCEPTED, probability=0.97, location=FARM, images=images
        )
        _observed(seed, accepted, shared=True)
    theirs = seed.identification(
        neighbour,
        decision=Decision.ACCEPTED,
        probability=0.97,
        location=(46.83, -71.25),
        images=[shared_photo],
    )
    _observed(seed, theirs, shared=True)
    # Confirmed by a specialist: located, and not; with the grower's words and the answer's.
    located = seed.case(grower, asked=True, location=FARM)
    unlocated = seed.case(grower, asked=True)
    for case in (located, unlocated):
        case.message = "Mon verger au 123, rang Saint-Joseph"
        _observed(seed, case.identification)
        seed.answer(
            case, specialist, api_settings, "correct", "apple.black_rot", "M. Gagnon, taillez."
        )
    private = seed.identification(grower, location=FARM)  # not shared, not confirmed
    _observed(seed, private)
    waiting = seed.case(grower, asked=True)  # still in the queue
    sent = seed.session.scalars(select(Identification).where(Identification.user_id == grower.id))
    mine = {photo.sha256 for identification in sent for photo in identification.photos}
    assert len(mine) == 6 and theirs.photos[0].sha256 in mine
    before_cells = shown_cells(seed.session, settings=api_settings)
    before_observations = sorted(
        (o.label, o.source, o.week, o.row, o.column, o.model_version)
        for o in observations(seed.session, settings=api_settings)
    )
    assert [c.count for c in before_cells if c.source == Source.MODEL] == [3]
    headers = bearer(client, grower)  # a refresh token, and a failed sign-in on record:
    client.post("/v1/auth/token", data={"username": "ferme.gagnon", "password": "wrong pass"})

    wrong = client.request("DELETE", "/v1/users/me", headers=headers, json={"password": "nope"})
    assert wrong.status_code == 403
    assert client.get("/v1/users/me", headers=headers).status_code == 200
    erased = client.request("DELETE", "/v1/users/me", headers=headers, json={"password": PASSWORD})
    assert erased.status_code == 204, erased.text

    assert _naming(engine, grower.id, "ferme.gagnon") == []
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuthEvent)) == 0
        assert {c.id for c in session.scalars(select(Case))} == set()
        assert session.scalar(select(func.count()).select_from(CaseDecision)) == 0
        # the lab's counts, unchanged, and nothing finer than a cell and a week
        assert shown_cells(session, settings=api_settings) == before_cells
        after = sorted(
            (o.label, o.source, o.week, o.row, o.column, o.model_version)
            for o in observations(session, settings=api_settings)
        )
        assert after == before_observations
        kept = list(session.scalars(select(ErasedObservation)))
        assert sorted((k.label, k.source, k.count) for k in kept) == [
            ("apple.black_rot", "confirmed", 1),
            ("apple.black_rot", "confirmed", 1),
            ("apple.scab", "model", 2),
        ]
        unplaced = [k for k in kept if k.cell_latitude is None]
        assert len(unplaced) == 1 and unplaced[0].source == "confirmed"  # the unlocated case
        for k in kept:
            assert k.week.isoweekday() == 1 and k.week.isocalendar()[:2] == (2026, 23)
            assert (k.cell_latitude, k.cell_longitude) in ((None, None), (46.85, -71.25))
        # no free text of theirs anywhere
        dumped = " ".join(
            str(row)
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        )
        assert "Saint-Joseph" not in dumped and "Gagnon" not in dumped
        assert str(FARM[0]) not in dumped
    # Their photos are gone from the store, but the one the neighbour sent too.
    assert waiting.identification.photos[0].sha256 in mine
    stored = set(store.hashes())
    assert mine & stored == {theirs.photos[0].sha256}
    assert {p.sha256 for p in theirs.photos} <= stored
    served = client.get(f"/v1/photos/{theirs.photos[0].sha256}", headers=bearer(client, neighbour))
    assert served.status_code == 200
    assert (
        client.post(
            "/v1/auth/token", data={"username": "ferme.gagnon", "password": PASSWORD}
        ).status_code
        == 401
    )


def test_an_admin_erases_an_account_but_not_a_specialists_with_decisions(
    client: TestClient, seed: Seeder, api_settings: ApiSettings, db: Session
) -> None:
    admin, grower, specialist = (
        seed.user(Role.ADMIN),
        seed.user(Role.GROWER),
        seed.user(Role.SPECIALIST),
    )
    seed.answer(seed.case(grower), specialist, api_settings)
    headers = bearer(client, admin)

    def erase(user: User, username: str) -> int:
        url = f"/v1/users/{user.id}"
        return client.request(
            "DELETE", url, headers=headers, json={"username": username}
        ).status_code

    assert erase(grower, "someone.else") == 422
    assert erase(specialist, specialist.username) == 409  # deactivated instead
    assert erase(admin, admin.username) == 409  # the last admin
    grower_id, specialist_id = grower.id, specialist.id
    assert erase(grower, grower.username.upper()) == 204
    db.expunge_all()
    assert db.get(User, grower_id) is None and db.get(User, specialist_id) is not None
    assert db.scalar(select(func.count()).select_from(Identification)) == 0


def test_iriis_users_erase_erases_only_when_told_yes(tmp_path: Path, catalog: Catalog) -> None:
    home = tmp_path / "home"
    engine = make_engine(f"sqlite:///{home / 'iriis.db'}")
    upgrade(engine)
    store = FolderStore(home / "photos")
    with session_factory(engine)() as session:
        seed = Seeder(session, store, catalog)
        seed.identification(seed.user(Role.GROWER, "ferme.gagnon"))
    env = {"IRIIS_HOME": str(home), "PATH": "/usr/bin:/bin"}
    refused = run_iriis("users", "erase", "ferme.gagnon", env=env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert len(store.hashes()) == 1
    done = run_iriis("users", "erase", "ferme.gagnon", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert "1 identification(s), 1 photo(s) removed" in done.stdout
    assert store.hashes() == [] and _naming(engine, 1, "ferme.gagnon") == []
    engine.dispose()
