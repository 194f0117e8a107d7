"""Sign-in, registration and refresh tokens under attack: locks with backoff, per-address
limits, a bounded number of password hashes, rotated refresh tokens (on both databases)."""

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.app import create_app
from api.db import make_engine, session_factory
from api.errors import RateLimited
from api.models import AuthEvent, RefreshToken, Role, utcnow
from api.services import users
from api.services.ratelimits import address_key
from api.settings import ApiSettings
from model.paths import REPO_ROOT
from tests.api_support import PASSWORD, Seeder, bearer
from tests.helpers import run_iriis

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(api_settings: ApiSettings) -> Iterator[ClientFactory]:
    """A client of an application with some settings changed, calling from ``address``."""
    clients: list[TestClient] = []

    def make(address: str = "192.0.2.10", **settings: Any) -> TestClient:
        app = create_app(api_settings.model_copy(update=settings))
        client = TestClient(app, client=(address, 50000))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the scrypt hashes computed, and the most computed at once."""
    counts = {"total": 0, "now": 0, "peak": 0}
    lock, scrypt = threading.Lock(), hashlib.scrypt

    def counted(*args: Any, **kwargs: Any) -> bytes:
        with lock:
            counts["total"] += 1
            counts["now"] += 1
            counts["peak"] = max(counts["peak"], counts["now"])
        try:
            return scrypt(*args, **kwargs)
        finally:
            with lock:
                counts["now"] -= 1

    monkeypatch.setattr(hashlib, "scrypt", counted)
    return counts


def sign_in(client: TestClient, username: str, password: str) -> Any:
    return client.post("/v1/auth/token", data={"username": username, "password": password})


def test_a_flood_of_wrong_passwords_is_throttled_before_the_hash(
    make_client: ClientFactory, seed: Seeder, hashes: dict[str, int]
) -> None:
    grower, admin = seed.user(Role.GROWER), seed.user(Role.ADMIN)
    client = make_client()
    hashes["total"] = 0
    statuses = [sign_in(client, grower.username, f"guess number {i}") for i in range(5)]
    locked_at = time.monotonic()  # (a second or so after the 5th failure, under load)
    statuses += [sign_in(client, grower.username, f"guess number {i}") for i in range(5, 40)]
    assert [r.status_code for r in statuses] == [401] * 5 + [429] * 35
    assert hashes["total"] == 5  # the refused 35 cost a query, not a hash
    refused = statuses[-1]
    waited = time.monotonic() - locked_at
    assert 58 - waited <= int(refused.headers["retry-after"]) <= 60  # 1 min from the 5th
    assert refused.json() == {  # in French, the language of a request that names no account
        "detail": "trop de mots de passe erronés pour ce compte : il est verrouillé ; réessayez "
        f"dans {refused.headers['retry-after']} s, ou demandez à un administrateur de le "
        "déverrouiller"
    }
    # Locked means locked: the right password too, or the lock would tell when a guess is right.
    assert sign_in(client, grower.username, PASSWORD).status_code == 429
    # A name with no account locks the same way: a lock does not tell which names exist.
    nobody = [sign_in(client, "nobody.here", "guess").status_code for _ in range(6)]
    assert nobody == [401] * 5 + [429]

    # An admin lifts the lock; the grower signs in, which forgets their failures.
    admin_client = make_client(address="198.51.100.7")
    unlocked = admin_client.post(
        f"/v1/users/{grower.id}/unlock", headers=bearer(admin_client, admin)
    )
    assert unlocked.status_code == 200 and unlocked.json()["id"] == grower.id
    assert sign_in(client, grower.username, PASSWORD).status_code == 200
    assert sign_in(client, grower.username, "one typo").status_code == 401  # counting afresh


def test_the_lock_lapses_and_doubles_with_each_further_failure(
    db: Session, seed: Seeder, api_settings: ApiSettings
) -> None:
    grower = seed.user(Role.GROWER)
    start = utcnow()

    def attempt(after_s: float, password: str = "wrong password") -> float | None:
        """None when signed in or refused with a 401; the Retry-After of a 429."""
        try:
            users.sign_in(
                db,
                username=grower.username,
                password=password,
                address="192.0.2.1",
                settings=api_settings,
                now=start + timedelta(seconds=after_s),
            )
        except RateLimited as exc:
            return exc.retry_after_s
        return None

    assert [attempt(i) for i in range(5)] == [None] * 5
    assert attempt(30) == 34  # locked 1 min from the 5th failure, at 4 s
    assert attempt(65) is None  # lapsed: one more guess, which doubles the lock (2 min)
    assert attempt(66) == 119
    assert attempt(186) is None  # and again (4 min)
    assert attempt(187) == 239
    long_after = 186 + 60 * 60  # the lock never exceeds IRIIS_SIGN_IN_LOCK_MAX_MINUTES
    for step in range(4):
        assert attempt(long_after + step * 3700) is None
    assert attempt(long_after + 3 * 3700 + 1) == 3599
    assert attempt(long_after + 4 * 3700, PASSWORD) is None  # the right password, once lapsed
    assert db.scalar(select(func.count()).select_from(AuthEvent)) == 0  # failures forgotten


def test_failed_sign_ins_are_limited_per_address_and_successful_ones_are_not(
    make_client: ClientFactory, seed: Seeder
) -> None:
    staff = [seed.user(Role.SPECIALIST) for _ in range(3)]
    lab = make_client(address="203.0.113.5", sign_in_failures_per_address_per_hour=4)
    for _ in range(3):  # a busy morning behind one address: every success is free
        for user in staff:
            assert sign_in(lab, user.username, PASSWORD).status_code == 200
    guesses = [sign_in(lab, f"user{i}", "guess").status_code for i in range(6)]
    assert guesses == [401] * 4 + [429] * 2
    detail = sign_in(lab, staff[0].username, PASSWORD).json()["detail"]
    assert detail.startswith("trop de connexions échouées depuis votre adresse réseau : au plus 4")
    # Another address is not concerned; an IPv6 client counts by its /64.
    other = make_client(address="198.51.100.9", sign_in_failures_per_address_per_hour=4)
    assert sign_in(other, staff[0].username, PASSWORD).status_code == 200
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_registrations_are_limited_per_address_and_per_day(
    make_client: ClientFactory, seed: Seeder
) -> None:
    limits = {"registrations_per_address_per_day": 3, "registrations_per_day": 5}
    farm, school = make_client("192.0.2.20", **limits), make_client("192.0.2.30", **limits)

    def register(client: TestClient, name: str) -> int:
        body = {"username": name, "password": PASSWORD, "role": "grower"}
        return client.post("/v1/auth/register", json=body).status_code

    assert [register(farm, f"farm{i}") for i in range(3)] == [201] * 3
    assert register(farm, "farm0") == 429  # over the address's share, before anything else
    refused = farm.post(
        "/v1/auth/register", json={"username": "farm9", "password": PASSWORD, "role": "grower"}
    )
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 86000
    assert "nouveaux comptes depuis votre adresse réseau : au plus 3 par 24 heures" in refused.text
    assert register(school, "farm1") == 409  # a refused registration counts for nothing
    assert [register(school, f"pupil{i}") for i in range(3)] == [201, 201, 429]
    assert (
        "new accounts on this service"
        in school.post(
            "/v1/auth/register",
            json={"username": "pupil9", "password": PASSWORD, "role": "grower"},
            headers={"Accept-Language": "en"},
        ).json()["detail"]
    )


def test_password_hashes_are_bounded_under_a_flood(
    make_client: ClientFactory, seed: Seeder, hashes: dict[str, int]
) -> None:
    grower = seed.user(Role.GROWER)
    headers = bearer(make_client(), grower)
    client = make_client(sign_in_failures_per_address_per_hour=1000, password_hashes_at_once=1)
    results: list[tuple[int, str | None]] = []
    start = threading.Barrier(24)

    def guess(i: int) -> None:
        start.wait()
        response = sign_in(client, f"flood{i}", "guess")
        results.append((response.status_code, response.headers.get("retry-after")))

    hashes["peak"] = 0
    threads = [threading.Thread(target=guess, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    during = client.get("/v1/users/me", headers=headers)  # another user, meanwhile
    for thread in threads:
        thread.join()
    assert during.status_code == 200
    assert hashes["peak"] == 1  # never more than IRIIS_PASSWORD_HASHES_AT_ONCE at once
    # Beyond the one hashing and the 4 waiting, the others are refused at once, to retry.
    busy = [retry for status, retry in results if status == 503]
    assert busy and set(busy) == {"1"}
    assert {status for status, _ in results} == {401, 503}


def test_a_refresh_token_is_exchanged_once_with_a_grace_window(
    make_client: ClientFactory, seed: Seeder, db: Session
) -> None:
    grower = seed.user(Role.GROWER)
    client = make_client()
    first = sign_in(client, grower.username, PASSWORD).json()["refresh_token"]

    def refresh(token: str) -> Any:
        return client.post("/v1/auth/refresh", json={"refresh_token": token})

    second = refresh(first)
    assert second.status_code == 200
    # The phone lost that answer and tries again: the same successor, within the grace window.
    again = refresh(first)
    assert again.status_code == 200

    def token_id(token: str) -> str:
        return str(jwt.decode(token, options={"verify_signature": False})["jti"])

    successor = second.json()["refresh_token"]
    assert token_id(again.json()["refresh_token"]) == token_id(successor)
    third = refresh(successor).json()["refresh_token"]
    assert refresh(successor).status_code == 200  # (within the window, successor's too)

    # Long after its exchange, the first token shows up again: someone else holds a copy, so
    # every token of that sign-in is revoked, the newest included.
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id(first))
        .values(used_at=utcnow() - timedelta(seconds=121))
    )
    db.commit()
    reused = refresh(first)
    assert reused.status_code == 401
    assert reused.json() == {"detail": "ce jeton de renouvellement a déjà servi ; reconnectez-vous"}
    revoked = refresh(third)
    assert revoked.status_code == 401 and "révoqué" in revoked.json()["detail"]
    # A new sign-in starts afresh.
    fresh = sign_in(client, grower.username, PASSWORD).json()["refresh_token"]
    assert refresh(fresh).status_code == 200


def test_two_refreshes_at_once_get_one_successor(
    make_client: ClientFactory, seed: Seeder, db: Session
) -> None:
    grower = seed.user(Role.GROWER)
    client = make_client()
    token = sign_in(client, grower.username, PASSWORD).json()["refresh_token"]
    answers: list[Any] = []
    start = threading.Barrier(4)

    def refresh() -> None:
        start.wait()
        answers.append(client.post("/v1/auth/refresh", json={"refresh_token": token}))

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200] * 4
    successors = {
        jwt.decode(a.json()["refresh_token"], options={"verify_signature": False})["jti"]
        for a in answers
    }
    assert len(successors) == 1  # one exchange; the others got its successor (grace window)
    assert db.scalar(select(func.count()).select_from(RefreshToken)) == 2


def test_iriis_users_unlock_lifts_a_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "IRIIS_HOME": str(home),
        "PYTHONPATH": str(REPO_ROOT),
        "IRIIS_DATABASE_URL": "",
        "IRIIS_SECRET_KEY": "",
    }
    created = run_iriis(
        "users",
        "create",
        "m.gagnon",
        "--role",
        "specialist",
        "--password-stdin",
        env=env,
        input=f"{PASSWORD}\n",
    )
    assert created.returncode == 0, created.stderr
    settings, engine = ApiSettings(home=home), make_engine(f"sqlite:///{home / 'iriis.db'}")

    def sign_in_now(password: str) -> object:
        with session_factory(engine)() as session:
            return users.sign_in(
                session, username="m.gagnon", password=password, address="::1", settings=settings
            )

    try:
        assert [sign_in_now("wrong password") for _ in range(5)] == [None] * 5
        with pytest.raises(RateLimited):
            sign_in_now(PASSWORD)
        unlocked = run_iriis("users", "unlock", "M.Gagnon", env=env)
        assert unlocked.returncode == 0 and "m.gagnon can sign in again" in unlocked.stdout
        assert sign_in_now(PASSWORD) is not None
    finally:
        engine.dispose()
