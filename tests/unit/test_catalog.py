"""The warehouse catalog, its secrets and the up-front checks of lifecycle requests."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from zeroetl.catalog.errors import (
    IntegrationAlreadyExists,
    IntegrationNotFound,
    InvalidDataFilter,
    InvalidParameter,
    SourceNotAuthorized,
    TargetDatabaseAlreadyExists,
    WarehouseInUse,
)
from zeroetl.catalog.secrets import SecretBox, api_token
from zeroetl.catalog.store import Catalog, IntegrationRecord, now
from zeroetl.model import TableId
from zeroetl.service import validation as v
from zeroetl.service.service import Service
from zeroetl.service.service_config import ServiceConfig
from zeroetl.sources.mysql.connection import SourceParams

PASSWORD = "catalog-Secret-42"


def _rec(name: str, box: SecretBox, id_: str | None = None) -> IntegrationRecord:
    return IntegrationRecord(
        id=id_ or f"id-{name}",
        name=name,
        source_host="db1",
        source_port=3306,
        source_user="repl",
        source_password=box.encrypt(PASSWORD),
        tags={"team": "x"},
    )


def test_integrations_by_name_or_id_unique_names_and_state_log(tmp_path: Path) -> None:
    box = SecretBox(tmp_path)
    cat = Catalog(tmp_path)
    cat.add(_rec("one", box), "created")
    assert cat.get("one").id == cat.get("id-one").id == "id-one"
    assert cat.get("one").tags == {"team": "x"}
    with pytest.raises(IntegrationAlreadyExists):
        cat.add(_rec("one", box, "other-id"), "created")
    with pytest.raises(IntegrationNotFound):
        cat.get("nope")
    cat.set_state("id-one", "failed", "boom", error=("SourceError", "gone"))
    failed = cat.get("one")
    assert (failed.state, failed.error_code, failed.error_message) == (
        "failed",
        "SourceError",
        "gone",
    )
    cat.set_state("id-one", "active", "")
    assert cat.get("one").error_code is None
    assert [c["state"] for c in cat.state_changes("id-one")] == ["creating", "failed", "active"]
    # A deleted integration frees its name but keeps its history.
    cat.set_state("id-one", "deleted", "bye", deleted_at=now())
    with pytest.raises(IntegrationNotFound):
        cat.get("one")
    cat.add(_rec("one", box, "id-two"), "created")
    assert cat.get("one").id == "id-two"
    assert cat.get("id-one", include_deleted=True).state == "deleted"
    records, total = cat.integrations()
    assert total == 1 and [r.id for r in records] == ["id-two"]
    cat.add_database("wh", "id-two")
    with pytest.raises(TargetDatabaseAlreadyExists):
        cat.add_database("wh", "id-one")
    cat.close()
    # Reopened: everything is still there; the password only encrypted.
    cat = Catalog(tmp_path)
    assert box.decrypt(cat.get("one").source_password) == PASSWORD
    assert cat.databases()[0]["name"] == "wh"
    cat.close()
    for f in tmp_path.iterdir():
        assert PASSWORD.encode() not in f.read_bytes(), f


def test_secret_files_are_private_and_stable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ZEROETL_API_TOKEN", raising=False)
    box = SecretBox(tmp_path)
    token = box.encrypt(PASSWORD)
    assert SecretBox(tmp_path).decrypt(token) == PASSWORD
    first = api_token(tmp_path)
    assert api_token(tmp_path) == first and len(first) >= 32
    for name in ("secret.key", "api.token"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    # the service process's environment is config.py's to read: only what it passes counts
    monkeypatch.setenv("ZEROETL_API_TOKEN", "from-env")
    assert api_token(tmp_path) == first
    assert api_token(tmp_path, " configured\n") == "configured"


def test_request_checks() -> None:
    for good in ("zero-etl-demo", "a", "A1-b2-C3", "x" * 63):
        v.check_name(good)
    for bad in ("", "1a", "a-", "a--b", "a_b", "x" * 64, "a b"):
        with pytest.raises(InvalidParameter):
            v.check_name(bad)
    for bad in ("memory", "main", "1db", "a-b", ""):
        with pytest.raises(InvalidParameter):
            v.check_database_name(bad)
    with pytest.raises(InvalidDataFilter):
        v.parse_filter("include: a.`b")
    with pytest.raises(InvalidParameter):
        v.table_id("nodot")
    assert v.table_id("db.t.x") == TableId("db", "t.x")
    with pytest.raises(InvalidParameter):
        v.source_params("http://x", None)
    params = v.source_params("mysql://u@h:3307", "explicit")
    assert params.password == "explicit" and params.port == 3307
    with pytest.raises(InvalidParameter, match="twice"):  # one password, not two to choose from
        v.source_params("mysql://u:urlpw@h:3307", "explicit")


def test_source_database_narrows_the_filter() -> None:
    only = v.effective_filter("", "shop")
    assert only.includes(TableId("shop", "a")) and not only.includes(TableId("other", "a"))
    narrowed = v.effective_filter("include: *.*, exclude: shop.tmp", "shop")
    assert narrowed.includes(TableId("shop", "a"))
    assert not narrowed.includes(TableId("shop", "tmp"))
    assert not narrowed.includes(TableId("shopping", "a"))
    assert v.effective_filter("include: a.b", None).includes(TableId("a", "b"))


def test_authorized_sources() -> None:
    p = SourceParams("db1.internal", 3306, "u")
    v.check_authorized(p, ())
    v.check_authorized(p, ("*.internal",))
    v.check_authorized(p, ("db1.internal:3306",))
    with pytest.raises(SourceNotAuthorized):
        v.check_authorized(p, ("db2.internal", "db1.internal:3307"))


def test_one_service_per_warehouse(tmp_path: Path) -> None:
    svc = Service(ServiceConfig(warehouse=tmp_path))
    svc.start()
    try:
        with pytest.raises(WarehouseInUse):
            Service(ServiceConfig(warehouse=tmp_path))
        assert svc.list_integrations() == ([], 0)
        cur = svc.hub_cursor()
        assert cur.execute("SELECT 1").fetchall() == [(1,)]
        cur.close()
    finally:
        svc.shutdown()
    Service(ServiceConfig(warehouse=tmp_path)).shutdown()  # the lock went with the first


def test_a_failing_worker_ends_in_state_failed_without_raising(tmp_path: Path) -> None:
    import threading

    import duckdb

    from zeroetl.engine.filters import DataFilter
    from zeroetl.engine.settings import EngineSettings
    from zeroetl.model import IntegrationState
    from zeroetl.service.worker import Worker, WorkerSpec

    (tmp_path / "broken.duckdb").mkdir()  # cannot be opened as a database file
    spec = WorkerSpec(
        integration_id="i-1",
        database="broken",
        path=tmp_path / "broken.duckdb",
        params=SourceParams("127.0.0.1", 1, "u", PASSWORD),
        data_filter=DataFilter(),
        settings=EngineSettings(),
        first_synced=False,
    )
    hub = duckdb.connect(":memory:")
    worker = Worker(spec, hub, threading.Lock())
    worker.start()
    assert worker.join(30)
    state, reason = worker.observe()
    assert (
        state == IntegrationState.FAILED
        and reason.startswith("DestinationError:")
        and PASSWORD not in reason
    )
    assert hub.execute("SELECT 42").fetchall() == [(42,)]  # the hub (and service) carry on


def test_a_catalog_from_before_source_options_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    from zeroetl.catalog import store

    old_ddl = store._DDL.replace(
        "    source_options TEXT NOT NULL DEFAULT '{}',  -- JSON: connect_timeout, ssl, ssl_ca (PEM)\n",
        "",
    )
    assert "source_options" not in old_ddl
    db = sqlite3.connect(tmp_path / store.CATALOG_FILE)
    db.executescript(old_ddl)
    db.execute(
        "INSERT INTO integrations (id, name, source_host, source_port, source_user, state, "
        "created_at, updated_at) VALUES ('i1', 'old', 'h', 3306, 'u', 'active', 'x', 'x')"
    )
    db.commit()
    db.close()
    cat = Catalog(tmp_path)
    rec = cat.get("old")
    assert rec.source_options == {}
    cat.update("i1", source_options={"ssl": "verify"})
    assert cat.get("i1").source_options == {"ssl": "verify"}
    cat.close()


def test_target_databases_kept_between_reads_follow_every_write(tmp_path: Path) -> None:
    """databases() is asked on every SQL statement, so it keeps its rows: its own writes and
    another connection's commits are seen at once all the same."""
    cat, other = Catalog(tmp_path), Catalog(tmp_path)
    assert cat.databases() == []
    cat.add_database("a", None)
    assert [d["name"] for d in cat.databases()] == ["a"]
    other.add_database("b", "id-b")  # another connection (a process sharing the file)
    assert [(d["name"], d["integration_id"]) for d in cat.databases()] == [
        ("a", None),
        ("b", "id-b"),
    ]
    with pytest.raises(TargetDatabaseAlreadyExists):
        cat.add_database("b", None)
    cat.databases()[0]["name"] = "changed"  # callers get copies
    cat.drop_database("a")
    assert [d["name"] for d in cat.databases()] == ["b"]
    other.drop_database("b")
    assert cat.databases() == []
    cat.close()
    other.close()
