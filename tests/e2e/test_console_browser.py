"""The web console in a real browser (Debian's chromium driven by Playwright) over a real
`zeroetl serve` replicating TICKIT with live traffic: what it shows, its actions, and its
layout from a 390 px phone to a wide window.

Skipped only where chromium or Playwright is missing outside CI; under CI (which installs both)
their absence fails the test."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
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


@pytest.fixture(scope="module")
def replicating(
    mariadb_server: MariaDBServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Serve]:
    """One service replicating TICKIT with live traffic for every test of the module (each
    test leaves `zero-etl-console` as it found it)."""
    mariadb = mariadb_server
    if not mariadb.running():
        mariadb.start()
    source_url = mariadb.url()
    with tickit_source(mariadb, DB):
        serve = start_serve(tmp_path_factory.mktemp("console"))
        try:
            iid = serve.ok(
                "POST",
                "/v1/integrations",
                {
                    "name": "zero-etl-console",
                    "source": source_url,
                    "data_filter": f"include: {DB}.*",
                    "target_database": "wh_console",
                    "description": "TICKIT for the console test",
                    "tags": {"team": "analytics"},
                },
            )["id"]
            serve.wait_state(iid, "active", timeout=120)
            with live_traffic(mariadb, DB, rate_per_s=20):
                wait_for(
                    lambda: any(
                        p["lag_seconds"] is not None
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
    page.wait_for_selector("#bytes-chart rect.bar", timeout=30_000)
    page.wait_for_selector("#tables-chart path.step-line.ok", timeout=30_000)

    # The facts a user needs: the id (copyable: CREATE DATABASE ... FROM INTEGRATION wants
    # it), description, tags, creation date.
    it = serve.ok("GET", "/v1/integrations/zero-etl-console")
    assert page.inner_text("#d-id") == it["id"]
    assert page.inner_text("#d-description") == "TICKIT for the console test"
    assert page.inner_text("#d-tags") == "team=analytics"
    assert page.inner_text("#d-created") != "–"
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("button.copy[data-copy=d-id]")
    expect(page.locator("button.copy[data-copy=d-id]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == it["id"]

    # The overview and the detail show the same lag and table counts at any moment.
    for _ in range(40):  # 4 s: over a poll (3 s), sampled faster than its requests
        same = page.evaluate(
            """() => {
              const row = document.querySelector('#integrations tbody tr.selected');
              return [row.cells[2].textContent, document.getElementById('c-lag').textContent,
                      row.cells[3].textContent, document.getElementById('c-replicated').textContent];
            }"""
        )
        assert same[0] == same[1] and same[2] == same[3], same
        page.wait_for_timeout(100)
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
            c["table"] == "category" and c["state"] == "ResyncInitiated"
            for c in serve.ok(
                "GET", "/v1/integrations/zero-etl-console/tables/state-changes", limit=1000
            )["items"]
        ),
        "the refresh of category",
        30,
    )
    assert all(serve.token not in u for u in seen_paths)  # never in a URL the browser sent
    page.close()


@pytest.mark.parametrize("width", [390, 800])
def test_console_fits_narrow_windows(browser: Any, replicating: Serve, width: int) -> None:
    """Phone and small window: nothing wider than the screen, the actions on screen, every
    table cell inside it, and each chart's newest point drawn where it can be seen."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{replicating.url}/#token={replicating.token}&i=zero-etl-console")
    page.wait_for_selector("#d-state.active", timeout=30_000)
    for chart in ("lag", "rows", "tables", "bytes"):
        page.wait_for_selector(f"#{chart}-chart .newest", timeout=30_000)
    page.wait_for_selector("#tables tbody tr >> nth=6", timeout=30_000)
    layout = page.evaluate(
        """() => {
          const box = (e) => e.getBoundingClientRect();
          const out = {scroll: document.documentElement.scrollWidth, width: innerWidth,
                       offenders: [], charts: {}};
          for (const e of document.querySelectorAll(
               'header *, #overview td, #detail button, #detail dd, #detail td, .card, svg')) {
            const r = box(e);
            if (r.width && (r.left < 0 || r.right > innerWidth + 0.5))
              out.offenders.push(`${e.tagName}#${e.id}.${e.className}: ${r.left}-${r.right}`);
          }
          for (const id of ['lag-chart', 'rows-chart', 'tables-chart', 'bytes-chart']) {
            const svg = document.getElementById(id);
            const dot = svg.querySelector('.newest');
            out.charts[id] = {t: Number(dot.dataset.t), right: box(dot).right,
                              svgRight: box(svg).right};
          }
          return out;
        }"""
    )
    assert layout["scroll"] <= layout["width"], layout
    assert layout["offenders"] == [], layout["offenders"]
    for name in ("delete", "refresh-all", "refresh-failed"):
        b = page.locator(f"#{name}")
        assert b.is_visible()
        r = b.bounding_box()
        assert r is not None and r["x"] >= 0 and r["x"] + r["width"] <= width, (name, r)
    series = replicating.ok("GET", "/v1/integrations/zero-etl-console/series")
    step = series["step_seconds"]
    for chart, c in layout["charts"].items():
        # the newest bucket with data is among the last two (traffic flows all the time)
        assert c["t"] >= series["now"] - 3 * step, (chart, c, series["now"])
        assert c["right"] <= min(c["svgRight"], width) + 0.5, (chart, c)
    page.screenshot(path=str(ARTIFACTS / f"console-{width}.png"), full_page=True)
    page.close()


def test_console_pending_integration_shows_its_next_step(
    browser: Any, replicating: Serve, source_url: str
) -> None:
    """PendingDbConnectState: the exact CREATE DATABASE statement (run here over the SQL
    endpoint as copied) and the CLI line; the button creates it too."""
    import psycopg

    serve = replicating
    ids = {}
    for name in ("waits-for-sql", "waits-for-button"):
        ids[name] = serve.ok(
            "POST", "/v1/integrations",
            {"name": name, "source": source_url, "data_filter": "include: no_such_db.*"},
        )["id"]  # fmt: skip
    page = browser.new_page(viewport={"width": 390, "height": 900})
    page.goto(f"{serve.url}/#token={serve.token}&i={ids['waits-for-sql']}")
    page.wait_for_selector("#pending:not([hidden])", timeout=30_000)
    assert page.input_value("#pending-name") == "waits_for_sql"
    statement = page.inner_text("#pending-sql")
    assert statement == f"CREATE DATABASE waits_for_sql FROM INTEGRATION '{ids['waits-for-sql']}';"
    assert page.inner_text("#pending-cli") == (
        "zeroetl integration target-database waits-for-sql waits_for_sql"
    )
    page.fill("#pending-name", "renamed_db")
    assert "CREATE DATABASE renamed_db FROM" in page.inner_text("#pending-sql")
    page.fill("#pending-name", "waits_for_sql")
    with psycopg.connect(serve.sql_dsn(), autocommit=True) as conn:
        conn.execute(page.inner_text("#pending-sql"))
    wait_for(
        lambda: (
            serve.ok("GET", "/v1/integrations/waits-for-sql")["target_database"] == "waits_for_sql"
        ),
        "the statement as shown to create the database",
        30,
    )
    page.wait_for_selector("#pending[hidden]", state="attached", timeout=30_000)

    page.goto(f"{serve.url}/#i={ids['waits-for-button']}")
    page.wait_for_selector("#pending:not([hidden])", timeout=30_000)
    page.click("#pending-form button[type=submit]")
    wait_for(
        lambda: (
            serve.ok("GET", "/v1/integrations/waits-for-button")["target_database"]
            == "waits_for_button"
        ),
        "the button to create the database",
        30,
    )
    page.close()
    for iid in ids.values():
        serve.ok("DELETE", f"/v1/integrations/{iid}")


def test_console_empty_state_gives_a_command_that_works(
    browser: Any, tmp_path: Path, mariadb: MariaDBServer, test_db: str
) -> None:
    serve = start_serve(tmp_path)
    try:
        page = browser.new_page(viewport={"width": 800, "height": 700})
        page.goto(f"{serve.url}/#token={serve.token}")
        page.wait_for_selector("#no-integrations:not([hidden])", timeout=30_000)
        shown = page.inner_text("#create-cmd")
        page.close()
        # The placeholders filled in, the rest run exactly as shown.
        command = (
            shown.replace("NAME", "from-the-console")
            .replace("USER@HOST:3306", f"zeroetl@127.0.0.1:{mariadb.port}")
            .replace("DB", test_db)
        )
        assert re.fullmatch(r"zeroetl integration create .+", command), shown
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")}
        env.update(ZEROETL_API_URL=serve.url, ZEROETL_API_TOKEN=serve.token,
                   ZEROETL_SOURCE_PASSWORD="zeroetl")  # fmt: skip
        args = shlex.split(command)[1:]
        out = subprocess.run(
            [sys.executable, "-m", "zeroetl.cli.main", *args],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        assert serve.ok("GET", "/v1/integrations/from-the-console")["target_database"] == test_db
    finally:
        serve.stop()


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


def test_console_pause_resume_restart(browser: Any, replicating: Serve) -> None:
    """Pause (after its confirmation) turns the button into Resume and disables Restart;
    Resume needs no confirmation; Restart asks, then replication starts again."""
    from playwright.sync_api import expect

    serve = replicating
    page = browser.new_page(viewport={"width": 390, "height": 900})
    page.goto(f"{serve.url}/#token={serve.token}&i=zero-etl-console")
    page.wait_for_selector("#d-state.active", timeout=30_000)
    page.once("dialog", lambda d: d.accept())
    page.click("#pause")
    page.wait_for_selector("#d-state.paused", timeout=30_000)
    assert serve.state("zero-etl-console") == "paused"
    expect(page.locator("#pause")).to_have_text("Resume")
    expect(page.locator("#restart")).to_be_disabled()
    expect(page.locator("#refresh-all")).to_be_disabled()
    page.click("#pause")
    page.wait_for_selector("#d-state.active", timeout=60_000)
    expect(page.locator("#pause")).to_have_text("Pause")
    page.once("dialog", lambda d: d.accept())
    page.click("#restart")
    log = "/v1/integrations/zero-etl-console/state-changes"
    wait_for(
        lambda: any(
            c["reason"].startswith("restarted on request")
            for c in serve.ok("GET", log, limit=1000)["items"]
        ),
        "the restart to reach the service",
        30,
    )
    serve.wait_state("zero-etl-console", "active", 60)
    page.close()


def test_api_docs_page(browser: Any, replicating: Serve) -> None:
    """/docs renders the OpenAPI document with Swagger UI from the service's own files: nothing
    requested elsewhere, nothing the page's Content-Security-Policy blocks, and "Try it out"
    works with the token."""
    serve = replicating
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{serve.url}/docs#token={serve.token}")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert "#token" not in page.url
    assert page.locator(".opblock").count() >= 20
    op = page.locator(".opblock-get", has_text="/v1/integrations").first
    op.locator(".opblock-summary").click()
    page.click(".try-out__btn")
    page.click(".execute")
    status = page.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for(timeout=30_000)
    assert status.inner_text().strip() == "200"
    assert "zero-etl-console" in page.locator(".live-responses-table").inner_text()
    assert all(u.startswith(serve.url) for u in requests), requests
    assert all(serve.token not in u for u in requests)
    assert not problems, problems
    page.close()
