"""The API's errors in the reader's language: the account's, else Accept-Language's, else French."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.db import session_factory
from api.language import accepted_language
from api.services.uploads import TOO_MANY_PHOTOS
from api.services.users import create_user
from api.settings import ApiSettings
from model.identifier import MAX_PHOTOS
from tests.api_support import PASSWORD, bearer
from tests.helpers import jpeg_bytes, textured_image


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("", "fr"),
        ("de-DE", "fr"),
        ("en-CA,en;q=0.9,fr;q=0.8", "en"),
        ("fr;q=0.5, en;q=0.8", "en"),
        ("fr-CA, en;q=0.9", "fr"),
        ("en;q=bad, fr;q=0.1", "fr"),
    ],
)
def test_the_preferred_language_the_service_speaks(header: str, lang: str) -> None:
    assert accepted_language(header) == lang


@pytest.fixture
def bilingual(tmp_path: Path, sqlite_engine: Engine) -> Iterator[TestClient]:
    """A service with a French grower (ferme.fr) and an English one (farm.en), photos of 1 MB
    at most."""
    settings = ApiSettings(
        home=tmp_path / "home",
        database_url=sqlite_engine.url.render_as_string(hide_password=False),
        secret_key="test secret key, not for production use",
        max_photo_mb=1.0,
    )
    with session_factory(sqlite_engine)() as session:
        create_user(session, username="ferme.fr", password=PASSWORD, role="grower", language="fr")
        create_user(session, username="farm.en", password=PASSWORD, role="grower", language="en")
    with TestClient(create_app(settings)) as client:
        yield client


def test_an_error_is_in_the_accounts_language(bilingual: TestClient) -> None:
    client = bilingual
    french, english = bearer(client, "ferme.fr"), bearer(client, "farm.en")
    assert client.get("/v1/cases/nope", headers=french).json() == {"detail": "cas introuvable"}
    assert client.get("/v1/cases/nope", headers=english).json() == {"detail": "no such case"}
    # the account's choice wins over the browser's
    asked = {**french, "Accept-Language": "en"}
    assert client.get("/v1/cases/nope", headers=asked).json() == {"detail": "cas introuvable"}


def _photo(number: int) -> tuple[str, tuple[str, bytes, str]]:
    return ("photos", (f"{number}.jpg", jpeg_bytes(textured_image(number)), "image/jpeg"))


@pytest.mark.parametrize(
    ("case", "status", "french", "english"),
    [
        # refused by the form parser as the part's headers arrive: before any route reads the
        # account, whose language comes from the token
        ("a photo too many", 400, TOO_MANY_PHOTOS["fr"], TOO_MANY_PHOTOS["en"]),
        # refused by the body limit, outside the routes, on the declared length
        ("a body too large", 413, "requête trop grande : plus de 6 Mo", "request too large: more"),
        # an image error of model/imaging.py, numbered by the service
        ("not a photo", 422, "photo 1 : ce n'est pas une image", "photo 1: not an image file"),
        # a role check (api/deps.py)
        ("not an admin", 403, "il faut le rôle admin", "this needs the role admin"),
    ],
)
def test_errors_are_in_each_accounts_language(
    bilingual: TestClient, case: str, status: int, french: str, english: str
) -> None:
    client = bilingual
    for user, expected in (("ferme.fr", french), ("farm.en", english)):
        headers = bearer(client, user)
        if case == "a photo too many":
            files = [_photo(i) for i in range(MAX_PHOTOS + 1)]
            response = client.post("/v1/identifications", files=files, headers=headers)
        elif case == "a body too large":
            headers["Content-Type"] = "multipart/form-data; boundary=x"
            response = client.post("/v1/identifications", content=bytes(7_000_000), headers=headers)
        elif case == "not a photo":
            files = [("photos", ("notes.jpg", b"not a photo", "image/jpeg"))]
            response = client.post("/v1/identifications", files=files, headers=headers)
        else:
            response = client.get("/v1/users", headers=headers)
        assert response.status_code == status, response.text
        assert response.json()["detail"].startswith(expected), (user, response.json())
