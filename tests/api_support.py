"""Fixtures of the API's tests: real databases, settings, users, cases.

Two real databases: a SQLite file, and a PostgreSQL schema of its own per test session (URL from
``IRIIS_TEST_POSTGRES_URL``), so that test runs sharing one server never touch each other's
tables. An unreachable PostgreSQL fails the tests that need it, unless
``IRIIS_TEST_SKIP_POSTGRES=1`` says to skip them. Tables are emptied after each test.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.app import create_app
from api.db import make_engine, session_factory, upgrade
from api.models import Base, Case, Identification, Photo, Role, User, utcnow
from api.photostore import FolderStore, PhotoStore, prepare
from api.services import queue
from api.services.cases import new_case
from api.services.users import create_user
from api.services.watchlist import watched_labels
from api.settings import ApiSettings
from model.catalog import Catalog, load_catalog
from model.result import Decision, LabelScore, Reason
from model.result import Identification as Result
from model.settings import Settings
from tests.helpers import jpeg_bytes, textured_image

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "correct horse battery"


def postgres_url() -> str:
    return os.environ.get("IRIIS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'iriis.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections live in a fresh schema (``search_path``), dropped at the end."""
    with postgres_schema() as url:
        yield url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh, migrated PostgreSQL schema's URL (``search_path``), dropped on leaving."""
    if os.environ.get("IRIIS_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("IRIIS_TEST_SKIP_POSTGRES=1: PostgreSQL tests skipped")
    base = postgres_url()
    schema = f"iriis_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL unreachable at {base} ({exc.orig}); start it, point "
            "IRIIS_TEST_POSTGRES_URL at one, or set IRIIS_TEST_SKIP_POSTGRES=1 to skip",
            pytrace=False,
        )
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on both databases."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_schema_url"
    url: str = request.getfixturevalue(name)
    return url


def _emptied(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        _emptied(engine)
        engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """For tests that need one database only."""
    engine = make_engine(sqlite_url)
    try:
        yield engine
    finally:
        _emptied(engine)
        engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


@pytest.fixture
def api_settings(tmp_path: Path, engine: Engine) -> ApiSettings:
    return ApiSettings(
        home=tmp_path / "home",
        database_url=engine.url.render_as_string(hide_password=False),
        secret_key="test secret key, not for production use",
    )


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(Settings().catalog_dir)


@pytest.fixture
def store(api_settings: ApiSettings) -> FolderStore:
    return FolderStore(api_settings.photos_dir)


@pytest.fixture
def app(api_settings: ApiSettings) -> FastAPI:
    return create_app(api_settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def bearer(client: TestClient, user: User | str, password: str = PASSWORD) -> dict[str, str]:
    """Sign in through the API; the headers that carry the access token."""
    name = user if isinstance(user, str) else user.username
    response = client.post("/v1/auth/token", data={"username": name, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class Seeder:
    """Makes users and cases directly in the database, for tests of what comes after the
    identifier (the queue, decisions, exports): the rows are what the identification service
    writes, with the model's answer given by the test."""

    session: Session
    store: PhotoStore
    catalog: Catalog
    counter: int = 0

    def user(self, role: Role | str = Role.GROWER, name: str | None = None) -> User:
        self.counter += 1
        return create_user(
            self.session, username=name or f"{role}{self.counter}", password=PASSWORD, role=role
        )

    def identification(
        self,
        user: User,
        label: str = "apple.scab",
        probability: float = 0.55,
        decision: Decision = Decision.NEEDS_SPECIALIST,
        runner_up: str = "apple.black_rot",
        location: tuple[float, float] | None = None,
        photos: int = 1,
        images: list[bytes] | None = None,
    ) -> Identification:
        """``images``: the photos sent (default: ``photos`` synthetic ones)."""
        self.counter += 1
        result = Result(
            top_k=[LabelScore(label, probability), LabelScore(runner_up, 1 - probability)],
            decision=decision,
            reason=None if decision == Decision.ACCEPTED else Reason.LOW_CONFIDENCE,
            model_version="test",
        )
        sent = images or [jpeg_bytes(textured_image(self.counter * 10 + i)) for i in range(photos)]
        prepared = [prepare(photo) for photo in sent]
        for photo in prepared:
            self.store.put(photo)
        identification = Identification(
            user_id=user.id,
            profile="grower",
            language="fr",
            model_version="test",
            label=label,
            probability=probability,
            decision=decision,
            result=result.to_dict(),
            latitude=location[0] if location else None,
            longitude=location[1] if location else None,
            photos=[
                Photo(
                    position=i,
                    sha256=p.sha256,
                    origin_sha256=p.origin_sha256,
                    width=p.width,
                    height=p.height,
                )
                for i, p in enumerate(prepared)
            ],
        )
        self.session.add(identification)
        self.session.commit()
        return identification

    def answer(
        self,
        case: Case,
        specialist: User,
        settings: ApiSettings,
        action: str = "confirm",
        label: str | None = None,
        message: str = "Réponse.",
    ) -> None:
        """The specialist claims ``case`` and decides it, as the queue's pages do."""
        queue.claim(self.session, case=case, specialist=specialist, settings=settings)
        queue.decide(
            self.session,
            case=case,
            specialist=specialist,
            action=action,
            label=label,
            message=message,
            catalog=self.catalog,
        )

    def case(
        self,
        user: User,
        asked: bool = False,
        opened_at: datetime | None = None,
        **kwargs: Any,
    ) -> Case:
        identification = self.identification(user, **kwargs)
        case = new_case(
            identification,
            user=user,
            catalog=self.catalog,
            asked=asked,
            message=None,
            now=opened_at or utcnow(),
            watched=watched_labels(self.session),
        )
        self.session.add(case)
        self.session.commit()
        return case


@pytest.fixture
def seed(db: Session, store: PhotoStore, catalog: Catalog) -> Seeder:
    return Seeder(db, store, catalog)
