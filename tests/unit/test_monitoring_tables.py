"""Each `_zeroetl` monitoring table is defined once (monitoring/tables.py): the DuckDB files, the
INSERTs and the SQL endpoint's `zeroetl_meta_*` views all derive from that definition."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest

from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.monitoring import tables as monitoring
from zeroetl.server.sql import catalog


def _columns(con: duckdb.DuckDBPyConnection, db: str, schema: str, table: str) -> list[tuple]:
    return con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [db, schema, table],
    ).fetchall()


def _spelled(con: duckdb.DuckDBPyConnection, type_: str) -> str:
    """DuckDB's own spelling of a type (TIMESTAMPTZ -> TIMESTAMP WITH TIME ZONE)."""
    row = con.execute(f"SELECT typeof(NULL::{type_})").fetchone()
    assert row is not None
    return str(row[0])


def test_a_destination_file_holds_exactly_the_defined_tables(tmp_path: Path) -> None:
    dest = DuckDBDestination(tmp_path / "t.duckdb", integration_id="i1")
    dest.close()
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    names = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [monitoring.SCHEMA]
        ).fetchall()
    }
    assert names == {t.name for t in monitoring.TABLES}
    for t in monitoring.TABLES:
        expected = [
            (c.name, _spelled(con, c.type), "NO" if c.not_null else "YES") for c in t.columns
        ]
        assert _columns(con, "t", monitoring.SCHEMA, t.name) == expected, t.name


def test_the_sql_views_show_the_defined_columns(tmp_path: Path) -> None:
    dest = DuckDBDestination(tmp_path / "t1.duckdb", integration_id="i1")
    dest.close()
    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 't1.duckdb'}' AS t1")
    schema = catalog.install(con, ["t1"])
    for name, t in monitoring.views().items():
        cols = [r[0] for r in con.execute(f"DESCRIBE {schema}.zeroetl_meta_{name}").fetchall()]
        assert cols == ["db", *(c.name for c in t.columns if c.in_view)], name
    # a column kept for the engine only is not shown
    activity = [r[0] for r in con.execute(f"DESCRIBE {schema}.zeroetl_meta_activity").fetchall()]
    assert "binlog_offset" not in activity


def test_a_column_added_to_a_definition_flows_to_the_sql_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What adding a monitoring column takes: one edit of the definition. The fixture adds a
    column to table_activity and a whole new viewed table; DDL, INSERT and view follow."""
    base = monitoring.table("table_activity")
    extended = dataclasses.replace(
        base, columns=(*base.columns, monitoring.Column("apply_ms", "BIGINT"))
    )
    probes = monitoring.Table(
        "probes",
        (monitoring.Column("integration_id", "VARCHAR", True), monitoring.Column("ok", "BOOLEAN")),
        view=True,
    )
    fixture = (*(extended if t.name == base.name else t for t in monitoring.TABLES), probes)
    monkeypatch.setattr(
        catalog, "META_UNIONS", {n: t.union_columns() for n, t in monitoring.views(fixture).items()}
    )
    monkeypatch.setattr(
        catalog, "_EMPTY_TYPES", {n: t.empty_select() for n, t in monitoring.views(fixture).items()}
    )

    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS t1")
    con.execute(monitoring.ddl("t1._zeroetl", fixture))
    row = ["i1", "cp", "s", "t", "2026-01-01 00:00:00+00", "tx", 1, 0, 0, 10, 42]
    con.execute(extended.insert("t1._zeroetl"), row)
    con.execute(probes.insert("t1._zeroetl"), ["i1", True])
    con.execute(f"CREATE SCHEMA {catalog.SCHEMA}")
    for sql in catalog._meta_sql(["t1"]):
        con.execute(sql)
    s = catalog.SCHEMA
    assert con.execute(f"SELECT db, apply_ms FROM {s}.zeroetl_meta_table_activity").fetchall() == [
        ("t1", 42)
    ]
    assert con.execute(f"SELECT ok FROM {s}.zeroetl_meta_probes").fetchall() == [(True,)]
    # and with no target database the views still have their shape (typed, empty)
    for sql in catalog._meta_sql([]):
        con.execute(sql)
    empty = con.execute(f"SELECT * FROM {s}.zeroetl_meta_table_activity").fetchall()
    assert empty == []
    desc = con.execute(f"DESCRIBE {s}.zeroetl_meta_table_activity").fetchall()
    assert ("apply_ms", "BIGINT") in [(r[0], r[1]) for r in desc]
