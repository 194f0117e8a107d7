"""The bank review, end to end on a tiny bank: the flagged photos imported by ``iriis bank
review import``, decided in the specialists' pages (a real server on SQLite, a real headless
Chromium), every decision recorded with who, when, before and after, and the next bank version
(``training.bank_version``) built with them: a relabelled photo under its new label, a removed
one left out, a kept one unchanged, the shared bank untouched."""

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select

from api.clock import utcnow
from api.models import BankReviewDecision, BankReviewItem, Role
from api.services.bank_review import candidates, write_corrections
from api.services.export import EXPORT_COLUMNS
from api.settings import ApiSettings, get_api_settings
from model.catalog import Catalog
from model.cli import main
from model.manifest import DISAGREEMENT_COLUMNS, read_manifest, write_manifest
from tests import test_web
from tests.api_support import Seeder
from tests.helpers import jpeg_bytes, textured_image, write_bank
from training.bank_version import build_bank_version
from training.params import PrepareParams
from training.prepare import prepare, write_outputs

# The server and the seeder of the other pages' tests (the browser is the session's); the
# settings are this module's (the server's bank is the fixture bank).
server, web_seed = (
    test_web.server,
    test_web.web_seed,
)
PARAMS = PrepareParams()
ANT, WASP, WORM, CATERPILLAR = (
    "invertebrate.ant",
    "invertebrate.wasp",
    "invertebrate.earthworm",
    "invertebrate.caterpillar",
)
# Photos the fixture's evaluation flags: (file, bank label, model's label, probability).
RELABELLED = f"images/{WORM}/000.jpg"  # an ant filed as an earthworm
REMOVED = f"images/{CATERPILLAR}/000.jpg"
KEPT = f"images/{ANT}/000.jpg"
TWIN = f"images/{CATERPILLAR}/twin.jpg"  # a near-duplicate of a wasp photo, filed as caterpillar
ORIGINAL = f"images/{WASP}/001.jpg"
DISAGREEMENTS = (
    (RELABELLED, WORM, ANT, "0.9900"),
    (REMOVED, CATERPILLAR, WASP, "0.9500"),
    (KEPT, ANT, WORM, "0.9000"),
)


def _bank(root: Path) -> Path:
    entries: list[dict[str, object]] = [
        {
            "file": f"images/{label}/{n:03d}.jpg",
            "label": label,
            "data": jpeg_bytes(textured_image(100 * k + n)),
        }
        for k, label in enumerate((ANT, WASP, WORM, CATERPILLAR))
        for n in range(8)
    ]
    twin = textured_image(100 + 1).resize((150, 112), Image.Resampling.BILINEAR)
    entries.append({"file": TWIN, "label": CATERPILLAR, "data": jpeg_bytes(twin, 70)})
    return write_bank(root, entries)


@pytest.fixture
def fixture_bank(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The bank, its split file (``iriis data prepare``) and the evaluation's disagreements."""
    bank = _bank(tmp_path / "bank")
    write_outputs(prepare(bank, PARAMS, workers=1), PARAMS, tmp_path / "data", tmp_path / "metrics")
    disagreements = tmp_path / "metrics" / "disagreements.csv"
    rows = [dict(zip(DISAGREEMENT_COLUMNS, row, strict=True)) for row in DISAGREEMENTS]
    write_manifest(disagreements, rows, DISAGREEMENT_COLUMNS)
    return bank, tmp_path / "data" / "splits.csv", disagreements


@pytest.fixture
def web_settings(tmp_path: Path, sqlite_engine, fixture_bank) -> ApiSettings:
    return ApiSettings(
        home=tmp_path / "home",
        database_url=sqlite_engine.url.render_as_string(hide_password=False),
        secret_key="test secret key, not for production use",
        bank_dir=fixture_bank[0],
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_the_list_flags_disagreements_first_then_near_duplicates_under_two_labels(
    fixture_bank: tuple[Path, Path, Path],
) -> None:
    _, splits, disagreements = fixture_bank
    flagged = candidates(disagreements, splits)
    assert [c.file for c in flagged] == [RELABELLED, REMOVED, KEPT, TWIN, ORIGINAL]
    twin, original = flagged[3], flagged[4]
    assert (twin.group_labels, original.group_labels) == ((WASP,), (CATERPILLAR,))
    assert twin.group_id == original.group_id and twin.model_label is None
    assert flagged[0].model_label == ANT and flagged[0].probability == 0.99


def test_decisions_in_the_pages_change_the_next_bank_version_and_are_recorded(
    server: str,
    page: Page,
    web_seed: Seeder,
    web_settings: ApiSettings,
    fixture_bank: tuple[Path, Path, Path],
    catalog: Catalog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bank, splits, disagreements = fixture_bank
    specialist = web_seed.user(Role.SPECIALIST)
    # the documented procedure: the list loaded by the command, into the service's database
    for name, value in (
        ("IRIIS_HOME", str(web_settings.home)),
        ("IRIIS_DATABASE_URL", str(web_settings.database_url)),
        ("IRIIS_SECRET_KEY", str(web_settings.secret_key)),
    ):
        monkeypatch.setenv(name, value)
    get_api_settings.cache_clear()
    try:
        assert main(["bank", "review", "import", str(disagreements), "--splits", str(splits)]) == 0
    finally:
        get_api_settings.cache_clear()
    before = _snapshot(bank)
    # the bank's photos are for specialists only
    assert httpx.get(f"{server}/lab/bank/1/photo").status_code == 303

    name = {label: catalog.name(label, "fr") for label in (ANT, WASP, WORM, CATERPILLAR)}
    test_web.sign_in(page, server, specialist.username)
    page.get_by_role("link", name="Revue de la banque").click()
    expect(page.get_by_role("heading", name="À examiner (5)")).to_be_visible()
    first = page.locator(f'tr[data-file="{RELABELLED}"]')
    expect(first).to_contain_text(name[ANT])
    expect(first).to_contain_text("99")
    first.get_by_role("link", name=name[WORM], exact=True).click()

    # each decision one click, then the next photo to review opens
    expect(page.locator("#why")).to_contain_text(name[ANT])
    expect(page.get_by_role("img", name=re.compile(name[WORM]))).to_have_js_property(
        "complete", True
    )
    assert page.get_by_role("img", name=re.compile(name[WORM])).evaluate("i => i.naturalWidth") > 0
    page.get_by_role("button", name=f"Reclasser : {name[ANT]}").click()
    expect(page.get_by_text("Décision enregistrée.")).to_be_visible()
    expect(page.locator("#bank-label")).to_contain_text(CATERPILLAR)
    page.get_by_role("button", name="Retirer de la banque").click()
    expect(page.locator("#bank-label")).to_contain_text(ANT)
    page.get_by_role("button", name=f"Garder : {name[ANT]}").click()
    # the near-duplicate: relabelled through the label picker (model.search), by its French name
    expect(page.locator("#why")).to_contain_text(name[WASP])
    expect(page.locator("figcaption")).to_contain_text(TWIN)
    page.get_by_label("Chercher une autre étiquette").fill("guêpe")
    page.locator(f'#picker-hits li[data-label="{WASP}"]').get_by_role("button").click()
    expect(page.locator("figcaption")).to_contain_text(ORIGINAL)

    page.get_by_role("link", name="Revue de la banque de référence").click()
    expect(page.get_by_role("heading", name="À examiner (1)")).to_be_visible()
    expect(page.get_by_role("heading", name="Décidées (4)")).to_be_visible()
    expect(page.locator(f'tr[data-file="{REMOVED}"] .label-now')).to_have_text("retirée")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Decided (4)")).to_be_visible()
    expect(page.locator(f'tr[data-file="{RELABELLED}"] .label-now')).to_have_text(
        catalog.name(ANT, "en")
    )

    # every decision recorded: who, when, the label before and after
    session = web_seed.session
    session.expire_all()
    recorded = {
        decision.item.file: decision
        for decision in session.scalars(select(BankReviewDecision).order_by(BankReviewDecision.id))
    }
    assert {file: (d.action, d.label_before, d.label_after) for file, d in recorded.items()} == {
        RELABELLED: ("relabel", WORM, ANT),
        REMOVED: ("remove", CATERPILLAR, None),
        KEPT: ("keep", ANT, ANT),
        TWIN: ("relabel", CATERPILLAR, WASP),
    }
    assert {d.specialist_id for d in recorded.values()} == {specialist.id}
    assert all(utcnow() - d.decided_at < timedelta(minutes=5) for d in recorded.values())
    assert session.scalar(select(BankReviewItem).where(BankReviewItem.file == ORIGINAL))

    # the next bank version applies them; the shared bank is untouched
    corrections = tmp_path / "retrain" / "bank_corrections.csv"
    assert write_corrections(session, catalog=catalog, path=corrections) == 3
    export = tmp_path / "export"
    write_manifest(export / "manifest.csv", [], EXPORT_COLUMNS)
    version = build_bank_version(
        bank_dir=bank,
        cases_dir=export,
        previous_splits=splits,
        out_dir=tmp_path / "banks" / "v2",
        params=PARAMS,
        corrections=corrections,
        workers=1,
    )
    assert (version.relabelled, version.removed) == (2, 1)
    old = {row["file"]: row for row in read_manifest(splits)}
    new = {row["file"]: row for row in read_manifest(version.splits_path)}
    assert set(old) - set(new) == {REMOVED}
    assert new[RELABELLED]["label"] == ANT and new[RELABELLED]["category"] == "insect"
    assert new[TWIN]["label"] == WASP
    assert new[RELABELLED]["split"] == old[RELABELLED]["split"]
    unchanged = set(new) - {RELABELLED, TWIN}
    assert all(new[f]["label"] == old[f]["label"] for f in unchanged)
    manifest = {row["file"]: row["label"] for row in read_manifest(version.folder / "manifest.csv")}
    assert REMOVED not in manifest and manifest[RELABELLED] == ANT and manifest[KEPT] == ANT
    references = {row["file"] for row in read_manifest(version.folder / "references.csv")}
    assert REMOVED not in references
    assert _snapshot(bank) == before
