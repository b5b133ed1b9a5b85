"""The zeroetl service as a user drives it: a real `zeroetl serve` process over HTTP and through
the CLI, two real MariaDB sources feeding one warehouse (issue 3, "Done means")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.service_support import Serve, wait_for
from tests.support import assert_table_equal

from zeroetl.sandbox.mariadb import MariaDBServer, free_port

pytestmark = pytest.mark.integration

SECRET = "Sup3r-s3cret-pw!"  # the second source's password: must never show anywhere


@pytest.fixture(scope="module")
def mariadb2() -> Iterator[MariaDBServer]:
    """A second source, whose replication user has a password easy to grep for."""
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-mariadb2-"))
    server = MariaDBServer(datadir=tmp / "data", port=free_port(), server_id=2)
    server.start()
    server.create_replication_user("secretive", SECRET)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    made: list[Serve] = []

    def make(*args: str) -> Serve:
        s = Serve(tmp_path / "wh", tmp_path / "serve.log", *args)
        made.append(s)
        s.start()
        return s

    yield make
    for s in made:
        s.kill()


def _run(conn: Any, *statements: str) -> None:
    with conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def test_two_sources_one_warehouse_full_lifecycle(
    serve, mariadb, mariadb2, db_conn, test_db, tmp_path
) -> None:
    db1 = test_db
    _run(
        db_conn,
        "CREATE TABLE sales (id INT PRIMARY KEY, amount DECIMAL(10,2))",
        "INSERT INTO sales VALUES (1, 10.5), (2, 20), (3, 30)",
        "CREATE TABLE tmp_x (id INT PRIMARY KEY)",
        "INSERT INTO tmp_x VALUES (1), (2)",
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))",
        "INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    )
    root2 = mariadb2.root()
    _run(
        root2,
        "DROP DATABASE IF EXISTS shop",
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id INT PRIMARY KEY, v VARCHAR(10))",
        "INSERT INTO shop.orders VALUES (1, 'x'), (2, 'y')",
    )
    svc = serve()

    # One integration through the CLI, with its target database at once ...
    out = svc.cli(
        "create",
        "one",
        "--source",
        mariadb.url(),
        "--json",
        "--target-database",
        "wh_one",
        "--data-filter",
        f"include: {db1}.sales, include: {db1}.tmp_x",
    )
    assert out.returncode == 0, out.stderr
    one = json.loads(out.stdout)
    assert one["state"] == "creating" and one["target_database"] == "wh_one"
    # ... the other over HTTP, waiting for its target database (PendingDbConnectState).
    two = svc.ok(
        "POST",
        "/v1/integrations",
        {
            "name": "two",
            "source": f"mysql://secretive@127.0.0.1:{mariadb2.port}",
            "source_password": SECRET,
            "data_filter": "include: shop.*",
            "tags": {"team": "b"},
        },
    )
    assert two["replication_state"] == "PendingDbConnectState" and two["state"] == "creating"
    assert svc.tables("two") == {}
    svc.ok("POST", f"/v1/integrations/{two['id']}/target-database", {"database_name": "wh_two"})

    svc.wait_state("one", "active")
    svc.wait_state(two["id"], "active")
    svc.wait_rows("one", f"{db1}.sales", 3)
    svc.wait_rows("one", f"{db1}.tmp_x", 2)
    svc.wait_rows("two", "shop.orders", 2)
    listed = json.loads(svc.cli("list", "--json").stdout)["items"]
    assert sorted(i["name"] for i in listed) == ["one", "two"]
    assert all(i["replication_state"] == "CdcRefreshState" for i in listed)
    human = svc.cli("describe", "one")
    assert human.returncode == 0 and "active" in human.stdout and "wh_one" in human.stdout
    human = svc.cli("tables", "one")
    assert human.returncode == 0 and f"{db1}.sales" in human.stdout and "Synced" in human.stdout
    human = svc.cli("list")
    assert human.returncode == 0 and human.stdout.splitlines()[0].startswith("NAME")
    # Changes flow from both sources.
    _run(db_conn, "INSERT INTO sales VALUES (4, 40)")
    _run(root2, "INSERT INTO shop.orders VALUES (3, 'z')")
    svc.wait_rows("one", f"{db1}.sales", 4)
    svc.wait_rows("two", "shop.orders", 3)

    # Modify the filter: items is added (snapshotted), tmp_x dropped.
    out = svc.cli("modify", "one", "--data-filter", f"include: {db1}.sales, include: {db1}.items")
    assert out.returncode == 0, out.stderr
    svc.wait_rows("one", f"{db1}.items", 3)
    wait_for(lambda: svc.tables("one")[f"{db1}.tmp_x"]["state"] == "Deleted", "tmp_x dropped")
    svc.wait_state("one", "active")
    states = [c["state"] for c in svc.ok("GET", "/v1/integrations/one/state-changes")["items"]]
    assert states[:2] == ["creating", "creating"] and "active" in states and "modifying" in states

    # Refresh one table: it is re-copied and Synced again with the same rows.
    out = svc.cli("refresh", "one", "--tables", f"{db1}.sales")
    assert out.returncode == 0, out.stderr

    def refreshed() -> bool:
        changes = svc.ok("GET", "/v1/integrations/one/tables/state-changes", limit=1000)["items"]
        mine = [c for c in changes if c["table"] == "sales"]
        return (
            any(c["reason"] == "refresh requested" for c in mine) and mine[-1]["state"] == "Synced"
        )

    wait_for(refreshed, "sales to be refreshed")
    svc.wait_rows("one", f"{db1}.sales", 4)
    svc.wait_state("one", "active")

    # Delete two: replication stops, its data stays; one keeps flowing.
    gone = svc.ok("DELETE", "/v1/integrations/two")
    assert gone["state"] == "deleted"
    assert svc.api("GET", "/v1/integrations/two").json()["error"]["code"] == "IntegrationNotFound"
    assert "wh_two" in [d["name"] for d in svc.ok("GET", "/v1/databases")["items"]]
    _run(root2, "INSERT INTO shop.orders VALUES (4, 'late')")
    _run(db_conn, "INSERT INTO sales VALUES (5, 50)")
    svc.wait_rows("one", f"{db1}.sales", 5)

    # Restart: everything resumes from the catalog and the checkpoints.
    svc.stop()
    _run(db_conn, "INSERT INTO sales VALUES (6, 60)", "UPDATE items SET name = 'B' WHERE id = 2")
    svc.start()
    svc.wait_rows("one", f"{db1}.sales", 6)
    svc.wait_state("one", "active")
    assert [i["name"] for i in svc.ok("GET", "/v1/integrations")["items"]] == ["one"]
    _run(db_conn, "INSERT INTO sales VALUES (7, 70)")
    svc.wait_rows("one", f"{db1}.sales", 7)
    wait_for(lambda: svc.ok("GET", "/v1/integrations/one")["checkpoint"], "a checkpoint")
    svc.stop()

    # The files hold exactly the sources (one) and the data as of the delete (two).
    wh = tmp_path / "wh"
    duck = duckdb.connect(str(wh / "databases" / "wh_one.duckdb"), read_only=True)
    for table in ("sales", "items"):
        assert_table_equal(db_conn, duck, db1, table)
    dropped = duck.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = 'tmp_x'", [db1]
    ).fetchone()
    assert dropped == (0,)
    duck.close()
    duck = duckdb.connect(str(wh / "databases" / "wh_two.duckdb"), read_only=True)
    assert duck.execute("SELECT id, v FROM shop.orders ORDER BY id").fetchall() == [
        (1, "x"),
        (2, "y"),
        (3, "z"),
    ]
    duck.close()
    root2.close()

    # No response, CLI output, log line or catalog byte holds the source password.
    assert SECRET not in "\n".join(svc.seen)
    assert SECRET not in (tmp_path / "serve.log").read_text()
    for f in wh.iterdir():
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_bad_requests_get_specific_errors_and_change_nothing(serve, mariadb, tmp_path) -> None:
    svc = serve("--allow-source", "127.0.0.1")
    good = {"name": "keep", "source": mariadb.url()}
    svc.ok("POST", "/v1/integrations", good)  # waits for a target database: no worker
    before = (
        svc.ok("GET", "/v1/integrations"),
        svc.ok("GET", "/v1/integrations/keep/state-changes"),
    )

    def refused(
        status: int, code: str, method: str, path: str, body: Any = None, **kw: Any
    ) -> None:
        r = svc.api(method, path, body, **kw)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text

    # Tokens: none, wrong; /healthz needs none.
    refused(401, "Unauthorized", "GET", "/v1/integrations", token=None)
    refused(401, "Unauthorized", "GET", "/openapi.json", token=None)
    refused(401, "Unauthorized", "POST", "/v1/integrations", good, token="wrong")
    assert svc.api("GET", "/healthz", token=None).status_code == 200
    # Names, ids, sources, filters.
    for name in ("1bad", "bad--name", "x" * 64, "under_score", ""):
        refused(400, "InvalidParameter", "POST", "/v1/integrations", {**good, "name": name})
    refused(409, "IntegrationAlreadyExists", "POST", "/v1/integrations", good)
    for method, path, body in [
        ("GET", "", None),
        ("PATCH", "", {"description": "x"}),
        ("DELETE", "", None),
        ("POST", "/refresh", {"all": True}),
        ("GET", "/tables", None),
    ]:
        refused(404, "IntegrationNotFound", method, f"/v1/integrations/no-such{path}", body)
    refused(
        400,
        "SourceUnavailable",
        "POST",
        "/v1/integrations",
        {"name": "down", "source": f"mysql://zeroetl:{SECRET}@127.0.0.1:{free_port()}"},
    )
    refused(
        403,
        "SourceNotAuthorized",
        "POST",
        "/v1/integrations",
        {"name": "elsewhere", "source": f"mysql://zeroetl:{SECRET}@localhost:{mariadb.port}"},
    )
    refused(
        400,
        "InvalidDataFilter",
        "POST",
        "/v1/integrations",
        {**good, "name": "filtered", "data_filter": "include: db.`unclosed"},
    )
    refused(400, "InvalidDataFilter", "PATCH", "/v1/integrations/keep", {"data_filter": "bogus:"})
    refused(400, "InvalidParameter", "POST", "/v1/integrations", {"name": "x"})  # no source
    refused(
        400,
        "InvalidParameter",
        "POST",
        "/v1/integrations",
        {**good, "name": "badurl", "source": f"postgres://u:{SECRET}@h"},
    )
    refused(409, "InvalidIntegrationState", "POST", "/v1/integrations/keep/refresh", {"all": True})
    refused(
        400,
        "InvalidParameter",
        "POST",
        "/v1/integrations/keep/target-database",
        {"database_name": "memory"},
    )
    root = mariadb.root()
    try:  # a source without ROW binlog
        _run(root, "SET GLOBAL binlog_format = 'STATEMENT'")
        r = svc.api("POST", "/v1/integrations", {**good, "name": "stmt"})
        assert r.json()["error"]["code"] == "SourceNotReady" and "binlog_format" in r.text
    finally:
        _run(root, "SET GLOBAL binlog_format = 'ROW'")
        root.close()
    assert (
        svc.ok("GET", "/v1/integrations"),
        svc.ok("GET", "/v1/integrations/keep/state-changes"),
    ) == before

    # The CLI: exit 1 with the code, 2 for usage, --json for scripts.
    out = svc.cli("describe", "no-such")
    assert out.returncode == 1 and "IntegrationNotFound" in out.stderr
    out = svc.cli("describe", "no-such", "--json")
    assert out.returncode == 1 and json.loads(out.stdout)["error"]["code"] == "IntegrationNotFound"
    assert svc.cli("refresh", "keep").returncode == 2
    env_less = subprocess.run(
        [sys.executable, "-m", "zeroetl.cli.main", "integration", "list", "--api-url", svc.url],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "ZEROETL_API_TOKEN"},
    )
    # No token anywhere: a usage error that says where a token comes from.
    assert env_less.returncode == 2, env_less.stderr
    assert "--warehouse DIR" in env_less.stderr and "ZEROETL_API_TOKEN" in env_less.stderr

    # Pagination.
    for n in ("p-1", "p-2"):
        svc.ok("POST", "/v1/integrations", {**good, "name": n})
    first = svc.ok("GET", "/v1/integrations", limit=2)
    assert len(first["items"]) == 2 and first["total"] == 3 and first["next_token"] == "2"
    rest = svc.ok("GET", "/v1/integrations", limit=2, next_token=first["next_token"])
    assert [i["name"] for i in rest["items"]] == ["p-2"] and rest["next_token"] is None
    assert "/v1/integrations/{ident}/refresh" in svc.ok("GET", "/openapi.json")["paths"]
    svc.stop()
    assert SECRET not in "\n".join(svc.seen)
    assert SECRET not in (tmp_path / "serve.log").read_text()
    assert SECRET.encode() not in (tmp_path / "wh" / "catalog.sqlite3").read_bytes()
    assert oct((tmp_path / "wh" / "api.token").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "wh" / "secret.key").stat().st_mode & 0o777) == "0o600"
