"""The dashboard in a real browser: Playwright driving Debian's Chromium on seeded data.

No browser is ever downloaded: Chromium is /usr/bin/chromium (.ci/system-deps installs it).
Screenshots go to tests/web/test-output/ (git-ignored).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from tests.web.seed import REDACTED, Seeded, seed

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).parent / "test-output"
API_TOKEN = "browser-token-0b7c2e9d4f61"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@pytest.fixture
def server(make_settings, tmp_path: Path) -> Iterator[tuple[str, Seeded]]:
    """The app on a free loopback port, served by werkzeug in a thread."""
    settings = make_settings(
        storage={"database_url": f"sqlite:///{tmp_path / 'store.db'}"}, api={"token": API_TOKEN}
    )
    app = create_app(settings)
    seeded = seed(app.extensions["tightship.db"])
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}", seeded
    finally:
        http.shutdown()
        thread.join(timeout=10)
        app.extensions["tightship.db"].dispose()


@pytest.fixture
def page() -> Iterator[object]:
    OUTPUT.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()


def test_log_in_see_the_chart_filter_images_and_open_one(server, page) -> None:
    base, seeded = server
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    sync_api.expect(page.locator("[role=alert]")).to_be_visible()  # waits for the new page
    page.fill("#token", API_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    chart = page.locator("#posture-chart")
    assert chart.is_visible()
    lines = chart.locator("polyline")
    assert lines.count() == 4
    for index in range(4):
        points = lines.nth(index).get_attribute("points").split()
        assert len(points) >= 2  # eight weeks with images: a line, not a dot
        box = lines.nth(index).bounding_box()
        assert box is not None
        assert box["width"] > 100
    assert chart.locator("circle").count() == 4 * 9
    assert page.locator("#events-table tr.event.ignored").count() == 2
    page.screenshot(path=str(OUTPUT / "overview.png"), full_page=True)

    page.click("nav >> text=Images")
    page.wait_for_url(f"{base}/images")
    assert page.locator("#images-table tr.image-row").count() == 3
    page.select_option("#failing", "no secrets")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/images?*failing=no+secrets*")
    rows = page.locator("#images-table tr.image-row")
    assert rows.count() == 1
    assert "acme/web" in rows.first.inner_text()
    page.fill("#q", "orders")
    page.select_option("#failing", "")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/images?q=orders*")
    assert page.locator("#images-table tr.image-row").count() == 1
    assert page.locator("#images-table a[href='https://github.com/acme/app/pull/7']").count() == 1
    page.screenshot(path=str(OUTPUT / "images-filtered.png"), full_page=True)

    page.fill("#q", "web")
    page.press("#q", "Enter")
    page.wait_for_url("**/images?q=web*")
    page.click("#images-table >> text=acme/web")
    page.wait_for_url(f"{base}/images/{seeded.web}")
    assert page.locator("#image-title").inner_text() == "reg:5000/acme/web:latest"
    findings = page.locator("#findings tbody tr")
    assert findings.count() == 2
    assert REDACTED in page.locator("#findings").inner_text()
    assert page.locator("#layers tbody tr").count() == 1
    assert page.locator("#fixes tbody tr").count() == 3
    page.screenshot(path=str(OUTPUT / "image-detail.png"), full_page=True)

    page.click("button:has-text('Log out')")
    page.goto(f"{base}/images")
    assert "/login" in page.url
