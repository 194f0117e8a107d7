"""The surveillance page in a real headless Chromium, on the acceptance fixture: every request
outside 127.0.0.1 aborted and failing the test, the map's and trend plots' counts those of the
aggregation, the filters, French and English; the README's screenshot taken here."""

from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Page, Route, expect

from api.models import Role
from api.services.surveillance import Filters, Source, selected, shown_cells, weekly
from api.settings import ApiSettings
from model.catalog import Catalog
from tests import test_web
from tests.api_support import Seeder
from tests.surveillance_support import seed_surveillance

# The server and the seeder of the other pages' tests (the browser is the session's).
server, web_settings, web_seed = (
    test_web.server,
    test_web.web_settings,
    test_web.web_seed,
)
SCREENSHOT = (
    Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "11-lab-surveillance.png"
)


def _offline(page: Page) -> list[str]:
    """Abort every request that leaves 127.0.0.1; the list of those tried."""
    outside: list[str] = []

    def handle(route: Route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return outside


def test_the_surveillance_page_maps_filters_and_plots_the_shown_counts_offline(
    server: str,
    page: Page,
    web_seed: Seeder,
    web_settings: ApiSettings,
    catalog: Catalog,
) -> None:
    seed_surveillance(web_seed.session)
    specialist = web_seed.user(Role.SPECIALIST)
    cells = shown_cells(web_seed.session, settings=web_settings)
    outside = _offline(page)
    test_web.sign_in(page, server, specialist.username)
    page.get_by_role("link", name="Surveillance").click()
    expect(page.get_by_role("heading", name="Surveillance du territoire")).to_be_visible()
    total = sum(cell.count for cell in cells)
    expect(page.locator("#map-total")).to_have_text(f"{total} détections montrées")
    drawn = [
        int(n)
        for n in page.locator("rect.cell").evaluate_all("cells => cells.map(c => c.dataset.count)")
    ]
    assert sum(drawn) == total
    assert len(drawn) == len({(c.row, c.column) for c in cells})
    for label, points in weekly(cells).items():
        plot = page.locator(f"figure.trend[data-label='{label}']")
        for week, count in points.items():
            week_name = f"{week.isocalendar().year}-W{week.isocalendar().week:02d}"
            expect(plot.locator(f"circle[data-week='{week_name}']")).to_have_attribute(
                "data-count", str(count)
            )
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Filters: a label by its French name, one source, a range of whole weeks.
    page.get_by_label("Organisme").select_option(label="Mildiou de la pomme de terre")
    page.get_by_label("Source").select_option(label="Accepté du modèle")
    page.get_by_label("De la semaine").select_option("2026-W23")
    page.get_by_label("À la semaine").select_option("2026-W24")
    page.get_by_role("button", name="Afficher").click()
    wanted = selected(
        cells,
        Filters(
            label="potato.late_blight",
            source=Source.MODEL,
            first_week=min(c.week for c in cells),
            last_week=min(c.week for c in cells).replace(day=8),
        ),
        catalog,
    )
    expect(page.locator("#map-total")).to_have_text(
        f"{sum(c.count for c in wanted)} détections montrées"
    )
    assert sum(c.count for c in wanted) == 85  # 40 and 45 in cell 0; the rest suppressed
    expect(page.locator("figure.trend")).to_have_count(1)

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Territorial surveillance")).to_be_visible()
    expect(page.locator("#map-total")).to_have_text("85 detections shown")
    assert outside == []
