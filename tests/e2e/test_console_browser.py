"""The web console in a real browser (Debian's chromium driven by Playwright) over a real
`zeroetl serve` replicating TICKIT with live traffic (issue 5, "Done means").

Skipped only where chromium or Playwright is missing outside CI; under CI (which installs both)
their absence fails the test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.monitoring_support import live_traffic, start_serve, tickit_source
from tests.service_support import Serve, wait_for

from zeroetl.sandbox.mariadb import MariaDBServer

pytestmark = pytest.mark.integration

DB = "tickit_console"
TABLES = {"users", "venue", "category", "date", "event", "listing", "sales"}
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless as root on a machine with no network beyond the package registries.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    problem = ""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[dev]')"
    if not problem and not os.access(CHROMIUM, os.X_OK):
        problem = "chromium is not installed (apt-get install chromium; .ci/run does it)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the console browser test must run in CI: {problem}")
        pytest.skip(problem)
    with sync_playwright() as p:  # no `playwright install`: Debian's chromium
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def replicating(mariadb: MariaDBServer, source_url: str, tmp_path: Path) -> Iterator[Serve]:
    with tickit_source(mariadb, DB):
        serve = start_serve(tmp_path)
        try:
            iid = serve.ok(
                "POST",
                "/v1/integrations",
                {
                    "name": "zero-etl-console",
                    "source": source_url,
                    "data_filter": f"include: {DB}.*",
                    "target_database": "wh_console",
                },
            )["id"]
            serve.wait_state(iid, "active", timeout=120)
            with live_traffic(mariadb, DB, rate_per_s=20):
                wait_for(
                    lambda: any(
                        p["lag_s"] is not None
                        for p in serve.ok("GET", f"/v1/integrations/{iid}/series")["points"]
                    ),
                    "a lag point in the last hour",
                    60,
                )
                yield serve
        finally:
            serve.stop()


def test_console_shows_the_integration(browser: Any, replicating: Serve) -> None:
    from playwright.sync_api import expect

    serve = replicating
    page = browser.new_page(viewport={"width": 1360, "height": 1100})
    seen_paths: list[str] = []
    page.on("request", lambda r: seen_paths.append(r.url))
    page.goto(f"{serve.url}/#token={serve.token}")

    page.wait_for_selector("#d-state.active", timeout=30_000)
    assert page.inner_text("#d-name") == "zero-etl-console"
    assert "#token" not in page.url  # the fragment is dropped once read
    row = page.locator("#integrations tbody tr")
    assert row.count() == 1 and "active" in row.inner_text()

    page.wait_for_selector("#lag-chart path.lag-line", timeout=30_000)
    page.wait_for_selector("#rows-chart rect.bar", timeout=30_000)
    expect(page.locator("#tables tbody tr")).to_have_count(7, timeout=30_000)
    rows = page.locator("#tables tbody tr").all_inner_texts()
    assert {r.split("\t")[1] for r in rows} == TABLES
    assert all("Synced" in r for r in rows)
    assert page.inner_text("#c-replicated") == "7"
    assert page.inner_text("#c-failed") == "0"

    # It updates itself: the inserted-rows card grows while traffic flows, no reload.
    first = _int(page.inner_text("#c-insert"))
    wait_for(lambda: _int(page.inner_text("#c-insert")) > first, "more inserted rows", 30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "console.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # The state-change log tab, then the delete action dismissed at its confirmation.
    page.click("button[data-tab=states]")
    expect(page.locator("#states tbody tr", has_text="active").first).to_be_visible()
    page.once("dialog", lambda d: d.dismiss())
    page.click("#delete")
    assert serve.state("zero-etl-console") == "active"

    # A table refresh, accepted at its confirmation, reaches the service.
    page.click("button[data-tab=tables]")
    page.once("dialog", lambda d: d.accept())
    page.locator("#tables tbody tr", has_text="category").locator("button").click()
    wait_for(
        lambda: any(
            c["table_name"] == "category" and c["new_state"] == "ResyncInitiated"
            for c in serve.ok(
                "GET", "/v1/integrations/zero-etl-console/tables/state-changes", limit=1000
            )["items"]
        ),
        "the refresh of category",
        30,
    )
    assert all(serve.token not in u for u in seen_paths)  # never in a URL the browser sent
    page.close()


def test_console_login_box(browser: Any, replicating: Serve) -> None:
    page = browser.new_page()
    page.goto(replicating.url + "/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token", "not-the-token")
    page.click("#login-form button")
    page.wait_for_selector("#login-error:not([hidden])")
    page.fill("#token", replicating.token)
    page.click("#login-form button")
    page.wait_for_selector("#d-state.active", timeout=30_000)
    assert page.locator("#login").is_hidden()
    page.close()


def _int(text: str) -> int:
    return int("".join(ch for ch in text if ch.isdigit()) or 0)
