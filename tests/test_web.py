"""The specialists' pages, end to end: a real server on 127.0.0.1 (uvicorn running the
application ``iriis serve`` runs, on a SQLite file), driven by a real headless Chromium (Debian's
``chromium`` through Playwright), with the grower on the other side using the JSON API."""

import re
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.app import create_app
from api.db import session_factory
from api.models import Case, CaseDecision, CaseStatus, Role
from api.photostore import FolderStore
from api.security import ACCESS, create_token
from api.services.capacity import current_capacity
from api.services.cases import add_photos
from api.settings import ApiSettings
from api.web.i18n import MESSAGES
from model.catalog import Catalog
from model.i18n import LANGUAGES, PROFILES
from model.result import Reason
from model.wording import profile_words, reason_words
from tests.api_support import PASSWORD, Seeder
from tests.helpers import jpeg_bytes, textured_image


@pytest.fixture
def web_settings(tmp_path: Path, sqlite_engine: Engine) -> ApiSettings:
    return ApiSettings(
        home=tmp_path / "home",
        database_url=sqlite_engine.url.render_as_string(hide_password=False),
        secret_key="test secret key, not for production use",
    )


@pytest.fixture
def web_seed(
    sqlite_engine: Engine, web_settings: ApiSettings, catalog: Catalog
) -> Iterator[Seeder]:
    """Users and cases written straight into the server's database (SQLite only: the pages
    use the queue services, which the queue tests run on both databases)."""
    with session_factory(sqlite_engine)() as session:
        yield Seeder(session, FolderStore(web_settings.photos_dir), catalog)


@pytest.fixture
def server(web_settings: ApiSettings) -> Iterator[str]:
    """The application on a free port of 127.0.0.1, served by uvicorn in a thread; its URL."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(web_settings), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign_in(page: Page, server: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person does: by the fields' labels."""
    page.goto(f"{server}/lab/sign-in")
    page.get_by_label("Nom d'utilisateur").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def api_token(server: str, username: str, password: str = PASSWORD) -> str:
    response = httpx.post(
        f"{server}/v1/auth/token", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def decisions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CaseDecision)) or 0


def test_every_page_string_exists_in_every_language() -> None:
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), key
        assert all(text.strip() for text in texts.values()), key


def test_every_reason_and_profile_a_case_can_carry_has_its_words_on_the_pages() -> None:
    # A case's reason and profile are shown in the queue; one without words would stop the
    # specialist's page. Reasons are the answers' own words, profiles named as the field app
    # names them.
    for reason in Reason:
        assert all(reason_words(reason, lang) for lang in LANGUAGES), reason
    for profile in PROFILES:
        for lang in LANGUAGES:
            shown = MESSAGES[f"profile.{profile}"][lang]
            assert shown == profile_words(profile, lang).capitalize()


def test_a_case_with_a_reason_this_code_does_not_know_is_shown_by_its_id(
    server: str, page: Page, web_seed: Seeder
) -> None:
    # A newer model stores a reason the pages have no words for: the queue and the case page
    # name it by its id instead of failing.
    specialist = web_seed.user(Role.SPECIALIST)
    case = web_seed.case(web_seed.user(Role.GROWER))
    case.identification.result = {**case.identification.result, "reason": "glare_on_leaf"}
    case.reason = "glare_on_leaf"
    web_seed.session.commit()
    sign_in(page, server, specialist.username)
    expect(page.get_by_role("cell", name="glare_on_leaf")).to_be_visible()
    page.goto(f"{server}/lab/cases/{case.id}")
    expect(page.locator("dd", has_text="glare_on_leaf")).to_be_visible()


def test_a_specialist_corrects_a_growers_case_and_the_grower_reads_the_answer(
    server: str, page: Page, web_seed: Seeder
) -> None:
    # The grower, through the JSON API as the field app does: an account, an identification
    # with a photo, and a question for a specialist.
    registered = httpx.post(
        f"{server}/v1/auth/register",
        json={"username": "ferme.tremblay", "password": PASSWORD, "role": "grower"},
    )
    assert registered.status_code == 201, registered.text
    grower = {"Authorization": f"Bearer {api_token(server, 'ferme.tremblay')}"}
    identified = httpx.post(
        f"{server}/v1/identifications",
        files=[("photos", ("feuille.jpg", jpeg_bytes(textured_image(7)), "image/jpeg"))],
        data={
            "ask_specialist": "true",
            "message": "Des taches sur mes pommiers, est-ce grave?",
            "crop": "apple",
        },
        headers=grower,
        timeout=60,
    )
    assert identified.status_code == 201, identified.text
    case_id = identified.json()["case"]["id"]
    model_label = identified.json()["label"]
    correction = "apple.black_rot" if model_label != "apple.black_rot" else "apple.scab"
    specialist = web_seed.user(Role.SPECIALIST, name="m.gagnon")

    # The specialist: the queue asks for a sign-in first, then comes back.
    page.goto(f"{server}/lab/queue")
    expect(page.get_by_role("heading", name="Connexion des spécialistes")).to_be_visible()
    page.get_by_label("Nom d'utilisateur").fill(specialist.username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="File d'attente des cas")).to_be_visible()
    row = page.locator(f"tr[data-case='{case_id}']")
    expect(row).to_contain_text("Producteur")
    expect(row).to_contain_text(identified.json()["name"])  # the model's label, in French

    page.get_by_role("button", name="Prendre le cas suivant").click()
    expect(page).to_have_url(f"{server}/lab/cases/{case_id}")
    expect(page.locator("#case-status")).to_have_text("Pris en charge")
    expect(page.locator("#case-expected")).to_contain_text("1 cas à traiter d'ici là")
    expect(page.get_by_text("Des taches sur mes pommiers, est-ce grave?")).to_be_visible()
    expect(page.locator(f"#top-labels tr[data-label='{model_label}']")).to_contain_text("%")
    photo = page.get_by_role("img", name="Photo 1 du cas")
    expect(photo).to_be_visible()
    assert photo.evaluate("img => img.complete && img.naturalWidth > 0")  # served, decoded

    # the label through the picker, by its French name; the message typed over the default one
    answer = "Ce sont des lésions de pourriture noire : taillez les chancres cet hiver."
    page.get_by_label("Message à l'utilisateur").fill(answer)
    page.get_by_label("Chercher une autre étiquette").fill(web_seed.catalog.name(correction, "fr"))
    page.locator(f"#picker-hits li[data-label='{correction}']").get_by_role("button").click()
    expect(page.get_by_role("status")).to_have_text("Décision enregistrée.")
    expect(page.locator(f"tr[data-case='{case_id}']")).to_have_count(0)  # out of the queue

    page.get_by_role("link", name="File d'attente").click()
    expect(page.locator("#load-today")).to_contain_text("1 sur une capacité de")
    expect(page.locator("#load-routed")).to_have_text("100 %")  # one identification, its case
    page.get_by_role("link", name="Historique").click()
    history = page.locator(f"tr[data-case='{case_id}']")
    expect(history).to_contain_text("Corrigé")
    expect(history).to_contain_text(web_seed.catalog.name(correction, "fr"))
    expect(history).to_contain_text("m.gagnon")

    # The grower's case now carries the answer.
    case = httpx.get(f"{server}/v1/cases/{case_id}", headers=grower)
    assert case.status_code == 200, case.text
    body = case.json()
    assert body["status"] == CaseStatus.ANSWERED
    assert body["label"] == correction
    assert body["name"] == web_seed.catalog.name(correction, "fr")
    assert body["answer"] == answer
    assert [d["action"] for d in body["decisions"]] == ["correct"]
    assert body["decisions"][0]["specialist"] is None  # who decided stays in the lab


def test_a_specialist_makes_a_photo_a_reference_only_with_the_growers_consent(
    server: str, page: Page, web_seed: Seeder, web_settings: ApiSettings
) -> None:
    grower, specialist = web_seed.user(Role.GROWER), web_seed.user(Role.SPECIALIST)
    case = web_seed.case(grower, label="apple.scab")
    web_seed.answer(case, specialist, web_settings)
    sha = case.identification.photos[0].sha256
    sign_in(page, server, specialist.username)
    expect(page.get_by_role("heading", name="File d'attente des cas")).to_be_visible()

    page.goto(f"{server}/lab/cases/{case.id}")
    figure = page.locator(f"figure[data-photo='{sha}']")
    expect(figure).to_contain_text("L'utilisateur n'a pas accepté de partager ses photos")
    expect(figure.get_by_role("button")).to_have_count(0)

    grower_headers = {"Authorization": f"Bearer {api_token(server, grower.username)}"}
    consent = httpx.patch(
        f"{server}/v1/users/me", json={"share_photos": True}, headers=grower_headers
    )
    assert consent.status_code == 200, consent.text
    page.reload()
    figure.get_by_role("button", name="En faire une photo de référence").click()
    expect(figure).to_contain_text("Photo de référence")
    web_seed.session.expire_all()
    photo = case.identification.photos[0]
    assert photo.reference_by == specialist.id and photo.reference_at is not None

    # The grower withdraws consent meanwhile: the page says so and offers nothing.
    httpx.patch(f"{server}/v1/users/me", json={"share_photos": False}, headers=grower_headers)
    page.reload()
    expect(figure).to_contain_text("L'utilisateur n'a pas accepté de partager ses photos")


def test_an_admin_sets_the_capacity_and_the_watched_organisms_in_the_pages(
    server: str, page: Page, web_seed: Seeder, web_settings: ApiSettings
) -> None:
    admin, grower = web_seed.user(Role.ADMIN), web_seed.user(Role.GROWER)
    sign_in(page, server, admin.username)
    expect(page.get_by_role("heading", name="Réglages du laboratoire")).to_be_visible()
    page.get_by_label("Cas traités par jour ouvrable").fill("25")
    page.get_by_label("Fin de la journée").fill("12:00")
    page.get_by_label("vendredi").uncheck()
    page.get_by_label("Jours de fermeture").fill("2026-12-25\n2027-01-01")
    page.get_by_role("button", name="Enregistrer la capacité").click()
    expect(page.get_by_role("status")).to_have_text("Réglages enregistrés.")
    capacity = current_capacity(web_seed.session, settings=web_settings)
    assert (capacity.cases_per_day, capacity.day_end.hour) == (25, 12)
    assert capacity.work_days == frozenset({1, 2, 3, 4})
    assert capacity.days_off == frozenset({date(2026, 12, 25), date(2027, 1, 1)})
    expect(page.get_by_label("Jours de fermeture")).to_have_value("2026-12-25\n2027-01-01")
    page.get_by_label("Jours de fermeture").fill("le 24 juin")  # refused, nothing changed
    page.get_by_role("button", name="Enregistrer la capacité").click()
    expect(page.get_by_role("alert")).to_contain_text("date invalide")
    web_seed.session.expire_all()
    assert current_capacity(web_seed.session, settings=web_settings) == capacity

    page.get_by_label("Organisme").select_option(label=web_seed.catalog.name("apple.scab", "fr"))
    page.get_by_role("button", name="Surveiller").click()
    expect(page.locator("#watched tr[data-label='apple.scab']")).to_contain_text(admin.username)
    assert web_seed.case(grower, label="apple.scab").tier == 0  # first in the queue
    page.locator("#watched tr[data-label='apple.scab']").get_by_role("button").click()
    expect(page.locator("#watched")).to_have_count(0)
    assert web_seed.case(grower, label="apple.scab").tier == 1

    # the queue is the specialists': an admin is sent to sign in as one
    page.goto(f"{server}/lab/queue")
    expect(page.get_by_role("alert")).to_contain_text("réservé aux spécialistes")


def test_a_grower_cannot_see_the_queue(server: str, page: Page, web_seed: Seeder) -> None:
    grower = web_seed.user(Role.GROWER)
    waiting = web_seed.case(grower)

    # Without a cookie, the pages send everyone to the sign-in page.
    sha = waiting.identification.photos[0].sha256
    for path in (
        "/lab/queue",
        f"/lab/cases/{waiting.id}",
        "/lab/history",
        "/lab/labels?q=rouille",
        f"/lab/photos/{sha}/thumbnail",
    ):
        response = httpx.get(f"{server}{path}")
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/lab/sign-in?")

    # A grower's right password does not open the lab.
    sign_in(page, server, grower.username)
    expect(page.get_by_role("alert")).to_have_text(
        "Cet espace est réservé aux spécialistes du laboratoire."
    )
    assert not [c for c in page.context.cookies() if c["name"] == "iriis_lab"]

    # Nor does a grower's valid API token slipped into the cookie by hand.
    page.context.add_cookies(
        [{"name": "iriis_lab", "value": api_token(server, grower.username), "url": server}]
    )
    page.goto(f"{server}/lab/queue")
    expect(page.get_by_role("heading", name="Connexion des spécialistes")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("réservé aux spécialistes")
    expect(page.locator(f"tr[data-case='{waiting.id}']")).to_have_count(0)
    page.goto(f"{server}/lab/photos/{waiting.identification.photos[0].sha256}")
    expect(page.get_by_role("heading", name="Connexion des spécialistes")).to_be_visible()


def test_an_expired_session_asks_to_sign_in_again(
    server: str, web_seed: Seeder, web_settings: ApiSettings
) -> None:
    specialist = web_seed.user(Role.SPECIALIST)
    assert web_settings.secret_key is not None
    expired = create_token(web_settings.secret_key, specialist.id, ACCESS, timedelta(seconds=-1))
    with httpx.Client(base_url=server, cookies={"iriis_lab": expired}) as client:
        response = client.get("/lab/history")
        assert response.status_code == 303
        assert response.headers["location"] == "/lab/sign-in?next=%2Flab%2Fhistory&why=expired"
        page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert "Votre session a expiré ; veuillez vous reconnecter." in page.text
    assert 'name="next" value="/lab/history"' in page.text  # back to the history after


def test_the_language_switch_shows_the_pages_in_english(
    server: str, page: Page, web_seed: Seeder
) -> None:
    specialist = web_seed.user(Role.SPECIALIST)
    case = web_seed.case(web_seed.user(Role.GROWER), label="potato.late_blight")
    # A similar photo of the reference bank, as the identifier returns its neighbours.
    neighbour = {"label": "potato.late_blight", "similarity": 0.91, "photo_id": "0a1b2c3d4e5f"}
    case.identification.result = {**case.identification.result, "neighbours": [neighbour]}
    web_seed.session.commit()
    sign_in(page, server, specialist.username)
    expect(page.get_by_role("button", name="Prendre le cas suivant")).to_be_visible()

    page.get_by_role("link", name="English").click()
    expect(page).to_have_url(f"{server}/lab/queue")  # back where the switch was clicked
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Case queue")).to_be_visible()
    expect(page.get_by_role("button", name="Claim next case")).to_be_visible()
    expect(page.locator(f"tr[data-case='{case.id}']")).to_contain_text("Potato late blight")

    # The choice holds on the next pages, catalog texts included.
    page.get_by_role("button", name="Claim next case").click()
    expect(page.get_by_role("heading", name="Model's suggestions")).to_be_visible()
    expect(page.locator("#catalog-entry")).to_have_text("Catalog entry: Potato late blight")
    reference = page.locator("figure[data-label='potato.late_blight']")
    expect(reference).to_contain_text("Potato late blight — similarity 0.91")
    # served under /lab/, whose images the session cookie authorises (no bearer token there)
    expect(page.get_by_role("img", name="Reference photo: Potato late blight")).to_have_attribute(
        "src", re.compile(r"/lab/gallery/thumbnails/0a1b2c3d4e5f$")
    )
    expect(page.get_by_role("button", name="Confirm: Potato late blight")).to_be_visible()
    expect(page.locator("#short-list")).to_contain_text("Potato late blight")
    expect(page.locator("#recomputed")).to_contain_text("Per-photo suggestions recomputed")

    page.get_by_role("link", name="Français").click()
    expect(page.get_by_role("heading", name="Propositions du modèle")).to_be_visible()
    expect(page.locator("#catalog-entry")).to_contain_text("Mildiou")


def test_a_decision_with_an_unknown_label_is_refused_with_a_clear_message(
    server: str, page: Page, web_seed: Seeder
) -> None:
    specialist = web_seed.user(Role.SPECIALIST)
    case = web_seed.case(web_seed.user(Role.GROWER))
    sign_in(page, server, specialist.username)
    page.get_by_role("button", name="Prendre le cas suivant").click()
    expect(page).to_have_url(f"{server}/lab/cases/{case.id}")

    # The page offers catalog labels only; a stale page or a hand-made request can still send
    # another one.
    page.locator("#short-list button").first.evaluate(
        "button => button.value = 'apple.unicorn_rust'"
    )
    page.get_by_label("Message à l'utilisateur").fill("Voici la bonne étiquette.")
    page.locator("#short-list button").first.click()

    expect(page.get_by_role("alert")).to_have_text(
        "Étiquette inconnue : « apple.unicorn_rust » n'est pas dans le catalogue."
    )
    # Nothing was decided; the case is still the specialist's, the message kept for a retry.
    expect(page.locator("#case-status")).to_have_text("Pris en charge")
    expect(page.get_by_label("Message à l'utilisateur")).to_have_value("Voici la bonne étiquette.")
    web_seed.session.expire_all()
    assert decisions(web_seed.session) == 0
    stored = web_seed.session.get(Case, case.id)
    assert stored is not None and stored.status == CaseStatus.CLAIMED and stored.label is None


def test_the_session_is_renewed_while_the_specialist_works(
    server: str, web_seed: Seeder, web_settings: ApiSettings
) -> None:
    specialist = web_seed.user(Role.SPECIALIST)
    with httpx.Client(base_url=server) as client:
        signed_in = client.post(
            "/lab/sign-in", data={"username": specialist.username, "password": PASSWORD}
        )
        assert signed_in.status_code == 303
        first = client.cookies["iriis_lab_refresh"]
        # The access cookie lapses with its token (30 minutes); the refresh cookie renews it, on
        # whatever page comes next, and the work goes on without a sign-in.
        client.cookies.delete("iriis_lab")
        page = client.get("/lab/queue")
        assert page.status_code == 200, page.headers.get("location")
        renewed = {c.split("=", 1)[0]: c for c in page.headers.get_list("set-cookie")}
        assert set(renewed) == {"iriis_lab", "iriis_lab_refresh"}
        assert "Max-Age=43200" in renewed["iriis_lab_refresh"]  # IRIIS_LAB_SESSION_HOURS
        assert "HttpOnly" in renewed["iriis_lab_refresh"]
        assert client.cookies["iriis_lab_refresh"] != first
        assert client.get("/lab/history").status_code == 200
        # Signing out revokes the session: a copy of its refresh cookie buys nothing.
        kept = client.cookies["iriis_lab_refresh"]
        client.post("/lab/sign-out")
    stolen = httpx.get(f"{server}/lab/queue", cookies={"iriis_lab_refresh": kept})
    assert stolen.status_code == 303 and "why=expired" in stolen.headers["location"]


def test_a_decision_typed_as_the_session_ends_is_kept_through_a_new_sign_in(
    server: str, page: Page, web_seed: Seeder
) -> None:
    specialist = web_seed.user(Role.SPECIALIST)
    case = web_seed.case(web_seed.user(Role.GROWER))
    sign_in(page, server, specialist.username)
    page.get_by_role("button", name="Prendre le cas suivant").click()
    expect(page).to_have_url(f"{server}/lab/cases/{case.id}")
    answer = "Pourriture noire : taillez les chancres cet hiver.\nRevenez vers nous au printemps."
    page.get_by_label("Message à l'utilisateur").fill(answer)

    # While the specialist typed, the session ended (hours away, or signed out in another tab).
    page.context.clear_cookies()
    page.locator("#short-list li[data-label='apple.black_rot']").get_by_role("button").click()
    expect(page.get_by_role("heading", name="Connexion des spécialistes")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(
        "Votre session a expiré ; veuillez vous reconnecter."
    )
    expect(page.get_by_role("status")).to_have_text(
        "Votre décision n'est pas perdue : reconnectez-vous pour revenir au cas."
    )
    assert decisions(web_seed.session) == 0

    # Signed in again: back on the case, the decision as it was typed, to check and send.
    page.get_by_label("Nom d'utilisateur").fill(specialist.username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(f"{server}/lab/cases/{case.id}")
    expect(page.get_by_role("status")).to_have_text(
        "Votre décision a été conservée : vérifiez-la, puis envoyez-la."
    )
    expect(page.locator("#decision-form")).to_contain_text(
        "Décision conservée : Corriger l'étiquette — Pourriture noire du pommier"
    )
    expect(page.get_by_label("Message à l'utilisateur")).to_have_value(answer)
    assert decisions(web_seed.session) == 0  # nothing was sent unseen
    page.get_by_role("button", name="Envoyer la décision").click()
    expect(page.get_by_role("status")).to_have_text("Décision enregistrée.")
    web_seed.session.expire_all()
    stored = web_seed.session.get(Case, case.id)
    assert stored is not None and stored.status == CaseStatus.ANSWERED
    assert stored.label == "apple.black_rot"
    assert (stored.answer or "").replace("\r\n", "\n") == answer


def test_the_sign_in_page_says_when_an_account_is_locked(server: str, web_seed: Seeder) -> None:
    specialist = web_seed.user(Role.SPECIALIST)
    form = {"username": specialist.username, "password": "not the password"}
    assert [httpx.post(f"{server}/lab/sign-in", data=form).status_code for _ in range(5)] == [
        401
    ] * 5
    locked = httpx.post(f"{server}/lab/sign-in", data={**form, "password": PASSWORD})
    assert locked.status_code == 429 and locked.headers["retry-after"] in ("59", "60")
    assert "Trop de tentatives de connexion : réessayez dans 1 min" in locked.text
    assert "iriis_lab" not in locked.headers.get("set-cookie", "")


class Clicks:
    """Clicks a person makes, counted: what the walk-through measures (not seconds)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, target: Locator) -> None:
        target.click()
        self.count += 1


def test_ten_cases_are_decided_in_at_most_two_clicks_each_from_the_queue(
    server: str, page: Page, web_seed: Seeder
) -> None:
    # Ten cases as the queue holds them: half carry the model's short list (a prediction set
    # with its coverage), half were stored before models gave one (their top labels stand in);
    # each shows a similar reference photo of the bank.
    specialist, grower = web_seed.user(Role.SPECIALIST), web_seed.user(Role.GROWER)
    prediction_set = ["apple.scab", "apple.black_rot", "apple.cedar_apple_rust"]
    cases = []
    for n in range(10):
        case = web_seed.case(grower, label="apple.scab", runner_up="apple.black_rot")
        neighbour = {"label": "apple.cedar_apple_rust", "similarity": 0.83, "photo_id": f"{n:016x}"}
        stored = {**case.identification.result, "neighbours": [neighbour]}
        if n % 2:
            stored |= {"prediction_set": prediction_set, "coverage": 0.9}
        case.identification.result = stored
        cases.append(case)
    web_seed.session.commit()
    sign_in(page, server, specialist.username)
    expect(page.get_by_role("heading", name="File d'attente des cas")).to_be_visible()

    # How each is decided: the model is right (confirm), another label of the short list, the
    # label of a reference photo; the last two by their keyboard shortcuts.
    ways = ["confirm", "short", "reference"] * 3 + ["keys"]
    expected = {
        "confirm": ("confirm", "apple.scab"),
        "short": ("correct", "apple.black_rot"),
        "reference": ("correct", "apple.cedar_apple_rust"),
        "keys": ("correct", "apple.black_rot"),
    }
    clicks = []
    started = time.monotonic()
    for case, way in zip(cases, ways, strict=True):
        click = Clicks()
        click(page.locator(f"tr[data-case='{case.id}'] a.case-link"))
        expect(page.locator("#case-status")).to_have_text("En attente")
        if way == "confirm":
            click(page.get_by_role("button", name="Confirmer : Tavelure du pommier"))
        elif way == "short":
            click(
                page.locator("#short-list li[data-label='apple.black_rot']").get_by_role("button")
            )
        elif way == "reference":
            figure = page.locator("figure[data-label='apple.cedar_apple_rust']")
            click(figure.get_by_role("button", name="C'est celui-ci"))
        else:
            page.keyboard.press("2")  # the short list's second label
        expect(page).to_have_url(f"{server}/lab/queue?notice=saved")
        expect(page.get_by_role("status")).to_have_text("Décision enregistrée.")
        clicks.append(click.count)
    took = time.monotonic() - started

    print(f"clicks per decision from the queue: {clicks}; ten cases in {took:.1f} s")
    assert max(clicks) <= 2, clicks
    web_seed.session.expire_all()
    for case, way in zip(cases, ways, strict=True):
        decision = web_seed.session.scalars(
            select(CaseDecision).where(CaseDecision.case_id == case.id)
        ).one()
        assert (decision.action, decision.label) == expected[way], way
        assert decision.message == "Le laboratoire a examiné vos photos."  # the user's language
        answered = web_seed.session.get(Case, case.id)
        assert answered is not None and answered.status == CaseStatus.ANSWERED
    expect(page.locator("tr[data-case]")).to_have_count(0)


def test_a_specialist_releases_a_claimed_case_back_to_the_queue(
    server: str, page: Page, web_seed: Seeder
) -> None:
    specialist = web_seed.user(Role.SPECIALIST)
    case = web_seed.case(web_seed.user(Role.GROWER), location=(46.81, -71.22))
    sign_in(page, server, specialist.username)
    row = page.locator(f"tr[data-case='{case.id}']")
    expect(row).to_contain_text("vers 46.85, -71.25")  # the surveillance cell, not the point
    expect(row).to_contain_text("Un spécialiste doit confirmer")  # the answers' own words
    expect(row.get_by_role("img")).to_have_attribute(
        "src", re.compile(rf"/lab/photos/{case.identification.photos[0].sha256}/thumbnail$")
    )
    assert row.get_by_role("img").evaluate("img => img.complete && img.naturalWidth > 0")
    page.get_by_role("button", name="Prendre le cas suivant").click()
    expect(page.locator("#claim-end")).to_contain_text("Ce cas est à vous jusqu'à")
    expect(page.locator("#claim-end")).to_contain_text("(encore 29 min)")
    page.get_by_role("button", name="Remettre dans la file").click()
    expect(page.get_by_role("status")).to_have_text("Cas remis dans la file, à sa place.")
    expect(page.locator(f"tr[data-case='{case.id}']")).to_have_count(1)
    web_seed.session.expire_all()
    stored = web_seed.session.get(Case, case.id)
    assert stored is not None and stored.status == CaseStatus.OPEN and stored.claimed_by is None
    assert decisions(web_seed.session) == 0

    # The key "r" does the same from the case page.
    page.get_by_role("button", name="Prendre le cas suivant").click()
    expect(page.locator("#case-status")).to_have_text("Pris en charge")
    page.keyboard.press("r")
    expect(page.get_by_role("status")).to_have_text("Cas remis dans la file, à sa place.")


def test_the_label_picker_finds_a_label_by_a_french_name_and_by_an_english_symptom_word(
    server: str, page: Page, web_seed: Seeder
) -> None:
    specialist = web_seed.user(Role.SPECIALIST)
    case = web_seed.case(web_seed.user(Role.GROWER))
    sign_in(page, server, specialist.username)
    page.goto(f"{server}/lab/cases/{case.id}")
    page.keyboard.press("/")
    picker = page.get_by_label("Chercher une autre étiquette")
    expect(picker).to_be_focused()
    page.keyboard.type("rouille haricot")  # its French name, in any order, no accent needed
    hits = page.locator("#picker-hits li")
    expect(hits.first).to_have_attribute("data-label", "bean.rust")
    expect(hits.first).to_contain_text("Rouille du haricot")
    expect(hits.first).to_contain_text("Bean rust")
    picker.fill("pustules")  # a symptom word of the English texts
    expect(page.locator("#picker-hits li[data-label='bean.rust']")).to_be_visible()
    expect(page.locator("#picker-hits li[data-label='corn.common_rust']")).to_be_visible()
    page.locator("#picker-hits li[data-label='bean.rust']").get_by_role("button").click()
    expect(page.get_by_role("status")).to_have_text("Décision enregistrée.")
    web_seed.session.expire_all()
    stored = web_seed.session.get(Case, case.id)
    assert stored is not None and stored.label == "bean.rust"
    assert [d.action for d in stored.decisions] == ["correct"]


def test_photos_added_after_the_answer_are_marked_with_suggestions_of_their_own(
    server: str, page: Page, web_seed: Seeder, web_settings: ApiSettings
) -> None:
    specialist, grower = web_seed.user(Role.SPECIALIST), web_seed.user(Role.GROWER)
    case = web_seed.case(grower, images=[jpeg_bytes(textured_image(3, (640, 480)))])
    dark = Image.new("RGB", (640, 480), (4, 4, 4))
    add_photos(
        web_seed.session,
        store=web_seed.store,
        settings=web_settings,
        case=case,
        uploads=[jpeg_bytes(textured_image(4, (640, 480))), jpeg_bytes(dark)],
    )
    first, *added = [p.sha256 for p in (*case.identification.photos, *case.photos)]
    sign_in(page, server, specialist.username)
    page.get_by_role("link", name="English").click()
    page.locator(f"tr[data-case='{case.id}'] a.case-link").click()

    sent = page.locator(f"figure[data-photo='{first}']")
    expect(sent).to_contain_text("This photo alone:")
    expect(sent).not_to_contain_text("Added after the model's answer")
    for sha in added:
        expect(page.locator(f"figure[data-photo='{sha}']")).to_contain_text(
            "Added after the model's answer"
        )
    expect(page.locator(f"figure[data-photo='{added[1]}']")).to_contain_text("Set aside: The photo")
    expect(page.locator("#added-together")).to_have_text(
        "The added photos together, by the served model"
    )
    expect(page.locator("#recomputed")).to_contain_text("beside the stored answer (model test)")
    # the stored answer stays the one the user got
    expect(page.locator("#top-labels tr[data-label='apple.scab']")).to_contain_text("55.0 %")
