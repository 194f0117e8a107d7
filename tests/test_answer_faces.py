"""The three faces say the same thing: one stored identification per decision and reason, read
by the CLI (its output), the API (its JSON over HTTP, from the real server process) and the
field app (the widget texts of its result screen, on a real window offscreen), in French and
English: the same headline, naming, advice and next step. A specialist's review (waiting, more
photos asked, confirmed, corrected, not in the bank, answered without a label) read by the API and
the app alike (the CLI reads the model's answers only). Then a model whose labels include one the
catalog lacks: all three answer, naming it by its id.

Needs no bank: the committed bundle, synthetic photos, a copy of the bundle released with a
renamed label and a policy that accepts every photo.
"""

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from api.db import make_engine, session_factory
from api.models import CaseStatus, User, utcnow
from api.models import Identification as Row
from api.services.cases import new_case
from api.services.users import create_user
from mobile.controller import FieldController, Identified
from mobile.presenter import present_case, present_result
from mobile.settings import AppSettings
from model.bundle import latest_bundle
from model.catalog import Catalog
from model.cli import main as iriis
from model.i18n import LANGUAGES, Language, say
from model.identifier import open_identifier
from model.result import (
    Decision,
    GroupAnswer,
    Identification,
    LabelScore,
    PredictionSet,
    Reason,
)
from model.settings import Settings
from model.wording import SHORT_LIST, percent
from tests.bundle_support import bundle_copy, relist
from tests.helpers import jpeg_bytes, textured_image
from tests.mobile_support import PASSWORD, LiveServer

NEW_LABEL = "invertebrate.not_in_this_catalog"
RETAKES = (Reason.TOO_DARK, Reason.TOO_BLURRY, Reason.TOO_SMALL)
TOP_K = [LabelScore("apple.scab", 0.62), LabelScore("apple.black_rot", 0.3)]
SHORT = PredictionSet(["apple.black_rot", "apple.scab"], 0.9)
# decision, reason, group -> what the headline names
TABLE = [
    (Decision.ACCEPTED, None, None, "label"),
    (Decision.NEEDS_SPECIALIST, Reason.LOW_CONFIDENCE, None, "none"),
    (Decision.NEEDS_SPECIALIST, Reason.AMBIGUOUS, GroupAnswer("leaf_spots", 0.95), "group"),
    (Decision.NEEDS_SPECIALIST, Reason.UNFAMILIAR, None, "none"),
    (Decision.NEEDS_SPECIALIST, Reason.TOO_DARK, None, "none"),
    (Decision.NEEDS_SPECIALIST, Reason.TOO_BLURRY, None, "none"),
    (Decision.NEEDS_SPECIALIST, Reason.TOO_SMALL, None, "none"),
    (Decision.OUT_OF_SCOPE, Reason.UNKNOWN_SUBJECT, None, "none"),
    (Decision.OUT_OF_SCOPE, Reason.CROP_NOT_COVERED, None, "none"),
    (Decision.NEEDS_SPECIALIST, Reason.LAB_REFERENCES_ONLY, None, "none"),
    (Decision.NEEDS_SPECIALIST, Reason.ASKED, None, "none"),
]


def _words(text: str) -> str:
    """Text with its line breaks and indents as single spaces (the CLI wraps paragraphs)."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "leaf.jpg"
    path.write_bytes(jpeg_bytes(textured_image(7, (320, 240))))
    return path


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory, settings: Settings, photo: Path) -> Path:
    """A folder of one release: the committed bundle with the label the model gives ``photo``
    renamed to one the catalog lacks, and a policy that accepts every photo (what a newer
    model, downloaded before the catalog that describes its labels, answers)."""
    committed = latest_bundle(settings.bundles_dir)
    top = open_identifier(committed).identify([photo.read_bytes()]).label
    folder = bundle_copy(committed, tmp_path_factory.mktemp("bundles") / "2099.01.01", "2099.01.01")
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    labels["labels"] = [NEW_LABEL if label == top else label for label in labels["labels"]]
    policy = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))
    policy.update(accept_threshold=0.0, ood_threshold=1e12, accept_ood_threshold=1e12)
    policy["quality"] = dict.fromkeys(policy["quality"], 0.0)
    for name, data in (("labels.json", labels), ("calibration.json", policy)):
        (folder / name).write_text(json.dumps(data), encoding="utf-8")
    relist(folder)
    return folder.parent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bundles: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("server"), bundles).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[tuple[httpx.Client, Session, User]]:
    """An HTTP client signed in as a grower, and the server's database to store answers in."""
    engine = make_engine(f"sqlite:///{server.db_path}")
    with (
        session_factory(engine)() as session,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        grower = create_user(session, username="ferme.faces", password=PASSWORD, role="grower")
        token = http.post(
            "/v1/auth/token", data={"username": grower.username, "password": PASSWORD}
        )
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield http, session, grower
    engine.dispose()


@pytest.fixture(scope="module")
def app(
    kivy_ui: Any,
    tmp_path_factory: pytest.TempPathFactory,
    app_settings: AppSettings,
    bundles: Path,
) -> Iterator[Any]:
    """The field app on a phone whose built-in model is the release of ``bundles``."""
    phone = app_settings.model_copy(
        update={"home": tmp_path_factory.mktemp("phone"), "bundles_dir": bundles}
    )
    started = kivy_ui.start(FieldController(phone))
    try:
        yield started
        assert started.errors == []
    finally:
        kivy_ui.stop(started)


def _screen_texts(kivy_ui: Any, app: Any, identified: Identified, lang: Language) -> list[str]:
    """What the result screen shows for ``identified``, top to bottom."""
    app.lang = lang
    screen = app.root.ids.result
    screen.present(identified, [])
    app.show("result")
    kivy_ui.pump(app)
    found: list[str] = []

    def walk(widget: Any) -> None:
        if isinstance(getattr(widget, "text", None), str) and widget.text:
            found.append(widget.text)
        for child in reversed(widget.children):
            walk(child)

    walk(screen.ids.body)
    return found


def _stored(api: tuple[httpx.Client, Session, User], result: Identification, lang: Language) -> str:
    """The identification stored on the server as the identification service stores it."""
    _, session, grower = api
    row = Row(
        user_id=grower.id,
        profile="grower",
        language=lang,
        model_version=result.model_version,
        label=result.label,
        probability=result.probability,
        decision=result.decision.value,
        result=result.to_dict(),
        photos=[],
    )
    session.add(row)
    session.commit()
    return row.id


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("decision", "reason", "group", "naming"), TABLE, ids=[f"{r[0]}-{r[1]}" for r in TABLE]
)
def test_the_cli_the_api_and_the_app_read_a_stored_answer_alike(
    kivy_ui: Any,
    app: Any,
    api: tuple[httpx.Client, Session, User],
    catalog: Catalog,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lang: Language,
    decision: Decision,
    reason: Reason | None,
    group: GroupAnswer | None,
    naming: str,
) -> None:
    result = Identification(
        top_k=TOP_K,
        decision=decision,
        reason=reason,
        group=group,
        model_version="v1",
        prediction_set=SHORT,
    )
    # the short list is shown beside every model answer that names labels
    shows_list = decision is not Decision.OUT_OF_SCOPE and reason not in RETAKES
    title = say(SHORT_LIST, lang, percent=percent(SHORT.coverage, lang))
    names = [catalog.name(label, lang) for label in SHORT.labels]
    # the API: JSON over HTTP from the server process
    http = api[0]
    body = http.get(f"/v1/identifications/{_stored(api, result, lang)}").json()
    reading = body["reading"]
    assert body["prediction_set"] == {"labels": SHORT.labels, "coverage": SHORT.coverage}
    assert reading["short_list_title"] == (title if shows_list else None)
    assert [o["name"] for o in reading["short_list"]] == (names if shows_list else [])
    headline, advice, step = reading["headline"], reading["advice"], reading["next_step"]["text"]
    assert reading["naming"] == naming and advice is not None
    if naming == "label":
        assert headline == catalog.name("apple.scab", lang) and body["catalog"]
    elif naming == "group":
        assert catalog.group_name("leaf_spots", lang) in headline and body["catalog"] is None
    else:
        assert catalog.name("apple.scab", lang) not in headline and body["catalog"] is None

    # the CLI: its output for the same stored answer
    stored = tmp_path / "answer.json"
    stored.write_text(json.dumps(result.to_dict()), encoding="utf-8")
    assert iriis(["identify", "--result", str(stored), "--lang", lang]) == 0
    printed = capsys.readouterr().out
    first = printed.splitlines()[0]
    assert first == headline + {"label": " (apple.scab)", "group": " (leaf_spots)"}.get(naming, "")
    assert _words(f"{advice['title']}") in _words(printed)
    assert _words(advice["text"]) in _words(printed) and _words(step) in _words(printed)
    listed = [line for line in printed.splitlines() if line.startswith(title)]
    assert [line.endswith(", ".join(names)) for line in listed] == ([True] if shows_list else [])

    # the app: the widgets of its result screen, for the answer as its outbox stores it
    controller: FieldController = app.controller
    observation = controller.outbox.record([stored.read_bytes()], result)
    kept = controller.outbox.get(observation.id).result
    view = present_result(
        kept, catalog, lang=lang, profile="grower", lab=controller.lab, gallery_installed=False
    )
    shown = _screen_texts(kivy_ui, app, Identified(observation, view), lang)
    assert shown[0] == headline
    assert advice["title"] in shown and advice["text"] in shown and step in shown
    if shows_list:
        assert shown[shown.index(title) + 1 : shown.index(title) + 3] == names
    else:
        assert title not in shown
    if reading["contact"]:
        assert reading["contact"]["text"] in shown and reading["contact"]["text"] in printed


def test_a_label_the_catalog_lacks_is_named_by_its_id_everywhere(
    kivy_ui: Any,
    app: Any,
    api: tuple[httpx.Client, Session, User],
    bundles: Path,
    photo: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    release = next(bundles.iterdir())
    assert iriis(["identify", str(photo), "--bundle", str(release), "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == NEW_LABEL and NEW_LABEL in _words(printed)

    http = api[0]
    response = http.post(
        "/v1/identifications",
        files=[("photos", ("leaf.jpg", photo.read_bytes(), "image/jpeg"))],
        data={"lang": "en"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["label"], body["name"], body["decision"]) == (NEW_LABEL, NEW_LABEL, "accepted")
    assert body["reading"]["headline"] == NEW_LABEL and NEW_LABEL in body["reading"]["unknown"]
    assert body["reading"]["advice"]["kind"] == "no_entry" and body["catalog"] is None

    identified = app.controller.identify([photo.read_bytes()])
    shown = _screen_texts(kivy_ui, app, identified, "fr")
    assert shown[0] == NEW_LABEL
    assert any(NEW_LABEL in text for text in shown[1:])  # the advice says it is not described


# a case's status, the specialist's label and message -> what the headline names
REVIEWS = [
    ("open", None, None, "none"),
    ("awaiting_photos", None, "Une photo du dessous de la feuille, svp.", "none"),
    ("answered", "apple.scab", "C'est bien la tavelure.", "label"),
    ("answered", "apple.black_rot", "Plutôt la pourriture noire.", "label"),
    ("answered", "unknown", "Rien que la banque couvre.", "none"),
    ("answered", None, "Un dégât de grêle, pas un ravageur.", "none"),
]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("status", "label", "message", "naming"), REVIEWS, ids=[f"{r[0]}-{r[1]}" for r in REVIEWS]
)
def test_the_api_and_the_app_read_a_specialists_review_alike(
    app: Any,
    api: tuple[httpx.Client, Session, User],
    catalog: Catalog,
    lang: Language,
    status: str,
    label: str | None,
    message: str | None,
    naming: str,
) -> None:
    # An unsure answer the grower asked about, as the server's case holds it and as the phone's
    # outbox holds it after a sync: the same headline, the specialist's words, the same next step.
    result = Identification(
        top_k=TOP_K, decision=Decision.NEEDS_SPECIALIST, reason=Reason.ASKED, model_version="v1"
    )
    http, session, grower = api
    row = session.get(Row, _stored(api, result, lang))
    assert row is not None
    case = new_case(row, user=grower, catalog=catalog, asked=True, message=None, now=utcnow())
    case.status, case.label, case.answer = CaseStatus(status), label, message
    session.add(case)
    grower.language = lang  # a case is read in its owner's language
    session.commit()
    body = http.get(f"/v1/cases/{case.id}").json()
    reading = body["reading"]
    assert reading["naming"] == naming and reading["specialist_message"] == message
    if label is not None and label != "unknown":
        assert reading["headline"] == catalog.name(label, lang)

    controller: FieldController = app.controller
    recorded = controller.outbox.record([jpeg_bytes(textured_image(3))], result)
    synced = replace(recorded, case_status=status, answer=message, answer_label=label)
    view = present_case(synced, catalog, lang=lang, profile="grower", lab=controller.lab)
    assert view.title == reading["headline"]
    assert (message or "") in view.detail
    assert view.state_code == {"open": "waiting", "awaiting_photos": "more_photos"}.get(
        status, status
    )
