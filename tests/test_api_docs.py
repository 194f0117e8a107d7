"""The API documentation pages work on a lab network without internet: /docs and /redoc, opened
in a real headless Chromium on the real server (``iriis serve``), draw the operations with
their files served by the server itself; any request leaving 127.0.0.1 is aborted and fails
the test."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from mobile.localserver import LocalServer
from model.settings import Settings
from tests.browser_support import TIMEOUT_MS

# In ReDoc's sidebar, "API docs by Redocly": the one outside file the pages name.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def docs_server(tmp_path: Path, settings: Settings) -> Iterator[LocalServer]:
    server = LocalServer(tmp_path / "server", settings.bundles_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def offline_page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A page whose every request outside 127.0.0.1 is aborted, and the list of them."""
    outside: list[str] = []

    def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", only_local)
    try:
        yield context.new_page(), outside
    finally:
        context.close()


def test_docs_and_redoc_load_with_no_request_outside_the_server(
    docs_server: LocalServer, offline_page: tuple[Page, list[str]]
) -> None:
    page, outside = offline_page
    failed: list[tuple[str, str]] = []
    errors: list[str] = []
    page.on("requestfailed", lambda request: failed.append((request.url, request.failure or "")))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{docs_server.url}/docs")
    expect(
        page.locator(".opblock-summary-path", has_text="/v1/identifications").first
    ).to_be_visible()
    expect(page.get_by_text("IRIIS Phyto API").first).to_be_visible()
    page.goto(f"{docs_server.url}/redoc")
    expect(page.get_by_role("heading", name="IRIIS Phyto API").first).to_be_visible()
    expect(page.get_by_text("/v1/identifications").first).to_be_attached()
    assert outside == [], f"requests outside 127.0.0.1: {outside}"
    # The pages' security policy keeps ReDoc's logo from being requested at all; nothing else
    # fails, and no script error.
    assert failed == [(REDOC_LOGO, "csp")], failed
    assert [error for error in errors if REDOC_LOGO not in error] == [], errors
