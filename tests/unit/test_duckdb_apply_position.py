"""Small slices on a connection that cannot read Python variables by name (the service's hub)
are inserted by position through the relation API (apply_small.insert_by_position): the same
table as apply.py's statements through a registered view, and as the by-name stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeroetl.destinations.duckdb import DuckDBDestination, apply
from zeroetl.destinations.duckdb.ddl import create_table_sql, with_added
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema
from zeroetl.service.hub import database_path, open_hub

SCHEMA = TableSchema(
    TableId("db", "t"),
    (
        ColumnSchema("u", LogicalType(Kind.UINT64)),
        ColumnSchema("k", LogicalType(Kind.INT64)),
        ColumnSchema("d", LogicalType(Kind.DECIMAL, 18, 3)),
        ColumnSchema("ts", LogicalType(Kind.TIMESTAMPTZ)),
        ColumnSchema("s", LogicalType(Kind.STRING)),
        ColumnSchema("f", LogicalType(Kind.FLOAT64)),
        ColumnSchema("b", LogicalType(Kind.BINARY)),
    ),
    ("k",),
)
ARROW = pa.schema([("__seq", pa.int64()), ("__del", pa.bool_()), *SCHEMA.arrow_schema()])
T0 = datetime(2020, 1, 1, tzinfo=UTC)

rows = st.fixed_dictionaries(
    {
        "__del": st.booleans(),
        "k": st.integers(-3, 6),
        "u": st.none() | st.sampled_from([0, 1, 2**63, 2**64 - 1]),
        "d": st.none() | st.decimals(-(10**6), 10**6, places=3, allow_nan=False),
        "ts": st.none() | st.integers(0, 10**12).map(lambda us: T0 + timedelta(microseconds=us)),
        "s": st.none() | st.text(max_size=5),
        "f": st.none() | st.floats(allow_nan=False),
        "b": st.none() | st.binary(max_size=4),
    }
)


def _slice(entries: list[dict], order: list[str]) -> pa.Table:
    data = [{**e, "__seq": i} for i, e in enumerate(entries)]
    return pa.Table.from_pylist(data, ARROW).select(order)


def _connections() -> dict[str, tuple[duckdb.DuckDBPyConnection, apply.Reader | None]]:
    cons: dict[str, tuple[duckdb.DuckDBPyConnection, apply.Reader | None]] = {}
    for name in ("view", "position", "scan"):
        con = duckdb.connect()
        if name != "scan":
            con.execute("SET python_enable_replacements = false")  # as the hub has it
        for sql in create_table_sql(SCHEMA, "memory"):
            con.execute(sql)
        # "view": apply.py's statements alone (what the hub ran for every slice before)
        cons[name] = (con, None if name == "view" else apply.Reader(scan=name == "scan"))
    return cons


def _table(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT * FROM db.t ORDER BY k").fetchall()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    slices=st.lists(st.lists(rows, min_size=1, max_size=8), min_size=1, max_size=5),
    new=st.lists(st.integers(10, 40), max_size=6, unique=True),
    order=st.permutations(["__seq", "__del", "u", "k", "d", "ts", "s", "f", "b"]),
)
def test_by_position_matches_the_statements_and_the_stream(
    slices: list[list[dict]], new: list[int], order: list[str]
) -> None:
    cons = _connections()
    inserts = [
        {"__del": False, "k": k, "u": k, "d": Decimal(k), "ts": T0, "s": str(k), "f": 0.5, "b": b""}
        for k in new
    ]
    for con, reader in cons.values():
        con.execute("BEGIN")
        apply.insert_new(con, "memory", SCHEMA, _slice(inserts, order), reader)
        for part in slices:
            apply.apply_changes(con, "memory", SCHEMA, _slice(part, order), reader)
        con.execute("COMMIT")
    got = {name: _table(con) for name, (con, _) in cons.items()}
    assert got["position"] == got["view"] == got["scan"]
    reader = cons["position"][1]
    assert reader is not None and all(reader.positional.values())
    for con, _ in cons.values():
        con.close()


def test_a_table_in_another_column_order_keeps_the_named_statements() -> None:
    """Were the table's columns not the schema's in order, inserting by position would swap
    values of compatible types: the catalog is asked, and the statements name the columns."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA db; CREATE TABLE db.t (v VARCHAR, k BIGINT, w VARCHAR)")
    s = TableSchema(
        TableId("db", "t"),
        tuple(
            ColumnSchema(n, LogicalType(k))
            for n, k in (("k", Kind.INT64), ("v", Kind.STRING), ("w", Kind.STRING))
        ),
        ("k",),
    )
    reader = apply.Reader(scan=False)
    arrow = pa.schema([("__seq", pa.int64()), ("__del", pa.bool_()), *s.arrow_schema()])
    data = pa.table({"__seq": [0], "__del": [False], "k": [1], "v": ["v"], "w": ["w"]}, arrow)
    apply.apply_changes(con, "memory", s, data, reader)
    assert con.execute("SELECT k, v, w FROM db.t").fetchall() == [(1, "v", "w")]
    assert reader.positional == {('"memory"."db"."t"', ("k", "v", "w")): False}
    con.close()


def test_a_hub_commit_inserts_by_position(tmp_path: Path) -> None:
    """Through the destination on the service's hub: the position path is taken, a replay
    changes nothing, and a column added in the middle asks the catalog again."""
    hub = open_hub(tmp_path / "wh")
    d = DuckDBDestination(database_path(tmp_path / "wh", "t1"), "i", hub=hub.con, catalog="t1")
    try:
        s = TableSchema(
            TableId("db", "t"),
            (
                ColumnSchema("k", LogicalType(Kind.INT64)),
                ColumnSchema("v", LogicalType(Kind.STRING)),
            ),
            ("k",),
        )
        d.create_table(s)
        arrow = pa.schema([("__seq", pa.int64()), ("__del", pa.bool_()), *s.arrow_schema()])
        one = pa.table(
            {"__seq": [0, 1], "__del": [False, False], "k": [1, 2], "v": ["a", "b"]}, arrow
        )
        for _ in range(2):
            d.begin()
            d.apply_changes(s, one)
            d.commit()
        d.add_column(s.id, ColumnSchema("w", LogicalType(Kind.STRING)), 1)  # rewrites the table
        s2 = with_added(s, ColumnSchema("w", LogicalType(Kind.STRING)), 1)
        arrow2 = pa.schema([("__seq", pa.int64()), ("__del", pa.bool_()), *s2.arrow_schema()])
        d.begin()
        d.apply_changes(
            s2,
            pa.table(
                {"__seq": [0], "__del": [False], "k": [2], "w": ["W"], "v": ["B"]}, arrow2
            ).select(["v", "k", "__seq", "w", "__del"]),
        )
        d.commit()
        assert d._reader.positional == {
            ('"t1"."db"."t"', ("k", "v")): True,
            ('"t1"."db"."t"', ("k", "w", "v")): True,
        }
        cur = d.reader()
        got = cur.execute("SELECT * FROM t1.db.t ORDER BY k").fetchall()
        cur.close()
        assert got == [(1, None, "a"), (2, "W", "B")]
    finally:
        d.close()
        hub.con.close()
