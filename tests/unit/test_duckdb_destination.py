"""DuckDB destination: DDL with awkward identifiers, apply semantics, metadata, transactions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from zeroetl.destinations import base
from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.errors import ConfigError, DestinationError, TableFailed
from zeroetl.model import (
    ColumnSchema,
    Kind,
    LogicalType,
    Position,
    TableActivity,
    TableId,
    TableSchema,
    TableState,
    TableStatus,
)
from zeroetl.service.hub import database_path, open_hub

I64 = LogicalType(Kind.INT64)
STR = LogicalType(Kind.STRING)


def table(schema: str = "db", name: str = "t", *cols: tuple[str, LogicalType]) -> TableSchema:
    columns = cols or (("id", I64), ("v", STR))
    return TableSchema(
        TableId(schema, name),
        tuple(ColumnSchema(n, t) for n, t in columns),
        (columns[0][0],),
    )


def changes(s: TableSchema, entries: list[tuple[bool, dict]]) -> pa.Table:
    """entries: (deleted, row) in order; deletes need only the key columns."""
    data: dict[str, list] = {"__seq": [], "__del": []}
    for n in s.names:
        data[n] = []
    for i, (deleted, row) in enumerate(entries):
        data["__seq"].append(i)
        data["__del"].append(deleted)
        for n in s.names:
            data[n].append(row.get(n))
    fields = [pa.field("__seq", pa.int64()), pa.field("__del", pa.bool_())]
    return pa.table(data, schema=pa.schema(fields + list(s.arrow_schema())))


def rows(s: TableSchema, items: list[dict]) -> pa.Table:
    return pa.Table.from_pylist([{n: r.get(n) for n in s.names} for r in items], s.arrow_schema())


def content(d: DuckDBDestination, t: TableId) -> list[tuple]:
    q = f'SELECT * FROM "{t.schema}"."{t.table}" ORDER BY 1'
    return d.reader().execute(q).fetchall()


@pytest.fixture
def dest(tmp_path: Path) -> Iterator[DuckDBDestination]:
    d = DuckDBDestination(tmp_path / "sub" / "wh.duckdb", "integ-1")
    yield d
    d.close()


def test_registry() -> None:
    assert base.get("duckdb") is DuckDBDestination
    assert "duckdb" in base.available()
    with pytest.raises(ConfigError):
        base.get("nosuch")
    assert isinstance(DuckDBDestination.capabilities, base.Capabilities)


def test_opens_and_creates_meta(dest: DuckDBDestination, tmp_path: Path) -> None:
    assert (tmp_path / "sub" / "wh.duckdb").exists()
    names = {
        r[0]
        for r in dest.reader()
        .execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = '_zeroetl'")
        .fetchall()
    }
    assert names >= {"checkpoint", "tables", "state_changes", "activity", "table_activity", "kv"}
    assert dest.load_checkpoint() is None
    assert dest.table_stats() == []


def test_second_process_lock_is_a_destination_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    d = DuckDBDestination(tmp_path / "w.duckdb", "x")
    try:
        code = (
            "import sys; from pathlib import Path\n"
            "from zeroetl.destinations.duckdb import DuckDBDestination\n"
            "from zeroetl.errors import DestinationError\n"
            "try: DuckDBDestination(Path(sys.argv[1]), 'y')\n"
            "except DestinationError as e: print('LOCKED', e.hint); sys.exit(3)\n"
        )
        r = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "w.duckdb")], capture_output=True, text=True
        )
        assert r.returncode == 3, r.stderr
        assert "LOCKED" in r.stdout
    finally:
        d.close()


WEIRD = ["Mixed Case", 'quo"te', "select", "ünï 表", "a.b", "with'apostrophe", " lead"]


@pytest.mark.parametrize("name", WEIRD)
def test_identifiers_kept_exactly(dest: DuckDBDestination, name: str) -> None:
    s = table(name, name, (name, I64), (name + "_2", STR))
    dest.create_table(s)
    dest.apply_changes(s, changes(s, [(False, {name: 1, name + "_2": "x"})]))
    got = dest.reader().execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name <> '_zeroetl'"
    )
    assert got.fetchall() == [(name, name)]
    cols = dest.reader().execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [name]
    )
    assert [r[0] for r in cols.fetchall()] == [name, name + "_2"]
    assert dest.recorded_schema(s.id) == s
    assert dest.recorded_schemas() == {s.id: s}
    assert [r["rows"] for r in dest.table_stats()] == [1]


def test_case_only_clash_fails_the_table(dest: DuckDBDestination) -> None:
    dest.create_table(table("db", "Users"))
    with pytest.raises(TableFailed, match="letter case"):
        dest.create_table(table("db", "users"))
    with pytest.raises(TableFailed, match="letter case"):
        dest.create_table(table("DB", "other"))
    dest.create_table(table("db", "Users"))  # re-creating the same name is fine
    with pytest.raises(TableFailed, match="reserved"):
        dest.create_table(table("_zeroetl", "x"))


def test_table_names_follow_create_drop_rename_and_rollback(dest: DuckDBDestination) -> None:
    # The names are cached by the writer: each change of its own must show at once, and a
    # rolled-back CREATE must not leave a name behind.
    dest.create_table(table("db", "Users"))
    assert dest.existing_table(TableId("db", "users")) == TableId("db", "Users")
    dest.drop_table(TableId("db", "Users"))
    assert dest.existing_table(TableId("db", "users")) is None
    dest.create_table(table("db", "users"))  # no clash with the dropped name
    dest.rename_table(TableId("db", "users"), table("db", "People"))
    assert dest.existing_table(TableId("db", "users")) is None
    assert dest.existing_table(TableId("db", "people")) == TableId("db", "People")
    dest.begin()
    dest.create_table(table("db", "Gone"))
    assert dest.existing_table(TableId("db", "gone")) == TableId("db", "Gone")
    dest.rollback()
    assert dest.existing_table(TableId("db", "gone")) is None
    dest.create_table(table("db", "GONE"))  # the rolled-back name does not clash


def test_unsupported_column_fails_table(dest: DuckDBDestination) -> None:
    s = TableSchema(
        TableId("db", "g"),
        (ColumnSchema("id", I64), ColumnSchema("p", None, source_type="geometry")),
        ("id",),
    )
    with pytest.raises(TableFailed, match="geometry"):
        dest.create_table(s)


def test_apply_last_change_wins_and_key_change(dest: DuckDBDestination) -> None:
    s = table()
    dest.create_table(s)
    dest.write_chunk(s, rows(s, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}]))
    batch = changes(
        s,
        [
            (False, {"id": 1, "v": "a2"}),  # update
            (False, {"id": 1, "v": "a3"}),  # update again: last wins
            (True, {"id": 2}),  # delete
            (True, {"id": 3}),  # key change 3 -> 30
            (False, {"id": 30, "v": "c"}),
            (False, {"id": 4, "v": "d"}),  # insert then delete
            (True, {"id": 4}),
            (True, {"id": 5}),  # delete of a key that does not exist
            (False, {"id": 6, "v": None}),
        ],
    )
    dest.begin()
    dest.apply_changes(s, batch)
    dest.save_checkpoint(Position("mysql-bin.000001", 500))
    dest.commit()
    expected = [(1, "a3"), (6, None), (30, "c")]
    assert content(dest, s.id) == expected
    dest.apply_changes(s, batch)  # replay
    assert content(dest, s.id) == expected


def test_apply_unique_upserts_and_deletes_only(dest: DuckDBDestination) -> None:
    """Slices that skip the last-entry window (every key once, no delete) or the insert (only
    deletes) give the same table as the general path, replayed too."""
    s = table()
    c = TableSchema(
        TableId("db", "c"), (ColumnSchema("a", I64), ColumnSchema("b", STR)), ("a", "b")
    )
    dest.create_table(s)
    dest.create_table(c)
    dest.write_chunk(s, rows(s, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]))
    upserts = changes(s, [(False, {"id": 1, "v": "a2"}), (False, {"id": 3, "v": "c"})])
    for _ in range(2):
        dest.apply_changes(s, upserts)
        assert content(dest, s.id) == [(1, "a2"), (2, "b"), (3, "c")]
    for _ in range(2):
        dest.apply_changes(s, changes(s, [(True, {"id": 2}), (True, {"id": 9})]))
        assert content(dest, s.id) == [(1, "a2"), (3, "c")]
    # composite keys: (1, x) twice is not unique, (1, x) and (1, y) are
    dest.apply_changes(c, changes(c, [(False, {"a": 1, "b": "x"}), (False, {"a": 1, "b": "y"})]))
    dest.apply_changes(c, changes(c, [(False, {"a": 1, "b": "x"}), (False, {"a": 1, "b": "x"})]))
    assert sorted(content(dest, c.id)) == [(1, "x"), (1, "y")]


def test_applied_pieces_are_not_held_until_commit(dest: DuckDBDestination) -> None:
    """One source transaction applied in pieces: DuckDB must not keep each piece's Arrow
    buffers until the warehouse commit (a view registered and dropped inside a transaction
    did), or memory grows with the size of the source transaction."""
    assert _held_by_pieces(dest) < 100_000


def test_pieces_held_on_a_sandboxed_hub_are_bounded(tmp_path: Path) -> None:
    """The service's hub allows no replacement scan: views until a budget of bytes is held in
    the open transaction, then the relation API (which holds nothing)."""
    hub = open_hub(tmp_path / "wh")
    d = DuckDBDestination(database_path(tmp_path / "wh", "t1"), "i", hub=hub.con, catalog="t1")
    try:
        assert not d._reader.scan
        d._reader.budget = 300_000  # about one piece
        assert _held_by_pieces(d) < 600_000
    finally:
        d.close()
        hub.con.close()


def _held_by_pieces(d: DuckDBDestination) -> int:
    """Bytes of five applied pieces (~230 kB each) still allocated before the commit."""
    s = table()
    d.create_table(s)
    d.begin()
    before = pa.total_allocated_bytes()
    for k in range(5):
        keys = range(k * 1000, (k + 1) * 1000)
        piece = changes(s, [(False, {"id": i, "v": "x" * 200}) for i in keys])
        d.apply_changes(s, piece)
        del piece
    held = pa.total_allocated_bytes() - before
    d.commit()
    q = f'SELECT count(*), min(id), max(id) FROM "{d._catalog}"."db"."t"'
    assert d.reader().execute(q).fetchone() == (
        5000,
        0,
        4999,
    )
    return held


def test_batch_name_does_not_clash_with_a_table(dest: DuckDBDestination) -> None:
    """Change batches are read by name: a table that would be read instead is refused."""
    s = table("main", "__zeroetl_batch")  # the name of before: an ordinary table now
    dest.create_table(s)
    dest.apply_changes(s, changes(s, [(False, {"id": 1, "v": "a"})]))
    dest.apply_changes(s, changes(s, [(False, {"id": 1, "v": "b"}), (False, {"id": 2, "v": "c"})]))
    assert content(dest, s.id) == [(1, "b"), (2, "c")]
    with pytest.raises(TableFailed, match="reserved"):
        dest.create_table(table("MAIN", "__ZeroEtl_Changes"))
    other = table("shop", "__zeroetl_changes")  # another schema is never read by that name
    dest.create_table(other)
    dest.apply_changes(other, changes(other, [(False, {"id": 3, "v": "d"})]))
    assert content(dest, other.id) == [(3, "d")]


def test_seq_order_not_row_order(dest: DuckDBDestination) -> None:
    s = table()
    dest.create_table(s)
    batch = changes(s, [(False, {"id": 1, "v": "late"}), (False, {"id": 1, "v": "early"})])
    seq = pa.array([5, 2], pa.int64())
    dest.apply_changes(s, batch.set_column(0, "__seq", seq))
    assert content(dest, s.id) == [(1, "late")]


def test_composite_key_and_column_order(dest: DuckDBDestination) -> None:
    s = TableSchema(
        TableId("db", "c"),
        (ColumnSchema("a", I64), ColumnSchema("b", STR), ColumnSchema("v", STR)),
        ("b", "a"),
    )
    dest.create_table(s)
    batch = changes(
        s,
        [
            (False, {"a": 1, "b": "x", "v": "1x"}),
            (False, {"a": 1, "b": "y", "v": "1y"}),
            (True, {"a": 1, "b": "x"}),
        ],
    )
    reordered = batch.select(["v", "__del", "b", "__seq", "a"])  # columns found by name
    dest.apply_changes(s, reordered)
    assert content(dest, s.id) == [(1, "y", "1y")]


def test_missing_column_is_an_error(dest: DuckDBDestination) -> None:
    s = table()
    dest.create_table(s)
    with pytest.raises(DestinationError, match="lacks"):
        dest.apply_changes(s, changes(s, [(False, {"id": 1})]).drop_columns(["v"]))


def test_rollback_undoes_data_ddl_and_meta(dest: DuckDBDestination) -> None:
    s = table()
    dest.create_table(s)
    dest.save_checkpoint(Position("b.000001", 4))
    dest.begin()
    dest.apply_changes(s, changes(s, [(False, {"id": 1, "v": "x"})]))
    dest.create_table(table("db", "new"))
    dest.save_checkpoint(Position("b.000001", 99))
    dest.kv_set("k", "v")
    dest.rollback()
    assert content(dest, s.id) == []
    assert dest.recorded_schema(TableId("db", "new")) is None
    assert dest.load_checkpoint() == Position("b.000001", 4)
    assert dest.kv_get("k") is None


def test_failed_statement_then_rollback(dest: DuckDBDestination) -> None:
    s = TableSchema(
        TableId("db", "j"),
        (ColumnSchema("id", I64), ColumnSchema("j", LogicalType(Kind.JSON))),
        ("id",),
    )
    dest.create_table(s)
    dest.begin()
    with pytest.raises(DestinationError, match=r"db\.j"):
        dest.apply_changes(s, changes(s, [(False, {"id": 1, "j": "not json"})]))
    dest.rollback()
    dest.begin()
    dest.apply_changes(s, changes(s, [(False, {"id": 1, "j": '{"a": [1, 2]}'})]))
    dest.commit()
    assert content(dest, s.id) == [(1, '{"a": [1, 2]}')]
    with pytest.raises(DestinationError):
        dest.commit()


def test_ddl_operations(dest: DuckDBDestination) -> None:
    s = table("db", "t")
    dest.create_table(s)
    dest.apply_changes(s, changes(s, [(False, {"id": 1, "v": "x"})]))
    dest.add_column(s.id, ColumnSchema("New Col", LogicalType(Kind.DECIMAL, 10, 2)))
    dest.rename_column(s.id, "v", "V")  # case-only rename
    dest.drop_column(s.id, "New Col")
    rec = dest.recorded_schema(s.id)
    assert rec is not None and rec.names == ("id", "V")
    s2 = dest.recorded_schema(s.id)
    assert s2 is not None
    dest.apply_changes(s2, changes(s2, [(False, {"id": 2, "V": "y"})]))
    assert content(dest, s.id) == [(1, "x"), (2, "y")]

    # rename in place, then across schemas
    t2 = TableSchema(TableId("db", "T2"), s2.columns, s2.primary_key)
    dest.rename_table(s.id, t2)
    t3 = TableSchema(TableId("other db", "t3"), s2.columns, s2.primary_key)
    dest.rename_table(t2.id, t3)
    assert content(dest, t3.id) == [(1, "x"), (2, "y")]
    assert set(dest.recorded_schemas()) == {t3.id}

    dest.truncate_table(t3.id)
    assert content(dest, t3.id) == []
    dest.drop_table(t3.id)
    dest.drop_table(t3.id)  # idempotent
    assert dest.recorded_schemas() == {}
    assert dest.table_stats() == []


def test_create_or_replace_resets(dest: DuckDBDestination) -> None:
    s = table()
    dest.create_table(s)
    dest.write_chunk(s, rows(s, [{"id": 1, "v": "a"}]))
    dest.create_table(s)
    assert content(dest, s.id) == []


def test_write_chunk_idempotent(dest: DuckDBDestination) -> None:
    s = table()
    dest.create_table(s)
    chunk = rows(s, [{"id": i, "v": str(i)} for i in range(100)])
    dest.write_chunk(s, chunk)
    dest.apply_changes(s, changes(s, [(False, {"id": 5, "v": "changed"}), (True, {"id": 6})]))
    dest.write_chunk(s, chunk)  # replayed chunk restores what it read
    got = content(dest, s.id)
    assert len(got) == 100 and got[5] == (5, "5") and got[6] == (6, "6")


def test_meta_roundtrip_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "m.duckdb"
    d = DuckDBDestination(path, "integ")
    t = TableId("db", "Tab le")
    s = table("db", "Tab le")
    pos = Position("mysql-bin.000003", 1234, "0-1-42")
    st = TableStatus(
        t,
        TableState.RESYNC_INITIATED,
        reason="snapshot",
        snapshot_cursor='[41, "x"]',
        snapshot_hw=Position("mysql-bin.000002", 77, "0-1-40"),
        rows_copied=41,
        extra={"a": "b"},
    )
    now = datetime.now(UTC)
    d.begin()
    d.create_table(s)
    d.save_table_status(st)
    d.save_checkpoint(pos)
    d.record_state_change(t, TableState.RESYNC_INITIATED, "new table", pos)
    d.record_state_change(t, TableState.FAILED, "boom", None)
    d.record_activity(
        checkpoint=pos,
        checkpoint_type="cdc",
        checkpoint_bytes=100,
        commit_ts=now,
        modified_tables=1,
        start=now,
        end=now,
    )
    d.record_table_activity(
        checkpoint=pos,
        table=t,
        transaction_id="0-1-42",
        inserted=3,
        updated=2,
        deleted=1,
        bytes_ingested=99,
    )
    d.kv_set("snapshot_start", "x")
    d.kv_set("snapshot_start", "y")
    d.commit()
    st.state = TableState.SYNCED
    st.snapshot_done = True
    st.snapshot_hw = None
    d.save_table_status(st)
    d.close()

    d = DuckDBDestination(path, "integ")
    try:
        assert d.load_checkpoint() == pos
        assert d.load_table_statuses() == {t: st}
        assert d.recorded_schema(t) == s  # status and schema share a row, neither clobbers
        assert d.kv_get("snapshot_start") == "y"
        r = d.reader()
        assert r.execute("SELECT count(*) FROM _zeroetl.state_changes").fetchone() == (2,)
        act = r.execute(
            "SELECT checkpoint_name, checkpoint_type, modified_tables FROM _zeroetl.activity"
        ).fetchall()
        assert act == [("mysql-bin.000003:1234", "cdc", 1)]
        ta = r.execute(
            "SELECT schema_name, table_name, inserted_rows, updated_rows, deleted_rows "
            "FROM _zeroetl.table_activity"
        ).fetchall()
        assert ta == [("db", "Tab le", 3, 2, 1)]
        # another integration id in the same file sees nothing of this one
        other = DuckDBDestination(path, "other")
        assert other.load_checkpoint() is None
        assert other.load_table_statuses() == {} and other.recorded_schemas() == {}
        assert other.kv_get("snapshot_start") is None
    finally:
        d.close()


@pytest.mark.parametrize("n", [1, 32, 33, 1000])  # VALUES up to records.VALUES_ROWS, then Arrow
def test_table_activity_of_many_tables_is_one_write(dest: DuckDBDestination, n: int) -> None:
    pos = Position("mysql-bin.000003", 77, "0-1-9")
    rows = [TableActivity(TableId("db", f"t{i}"), i, 2 * i, 3, 10 * i) for i in range(n)]
    rows.append(TableActivity(TableId("we'ird", 'q"t'), 1, 0, 0, 5))  # names as data only
    dest.begin()
    dest.record_tables_activity(checkpoint=pos, transaction_id="0-1-9", tables=rows)
    dest.record_tables_activity(checkpoint=pos, transaction_id="0-1-9", tables=[])
    dest.commit()
    got = (
        dest.reader()
        .execute(
            "SELECT count(*), count(DISTINCT table_name), sum(inserted_rows), sum(updated_rows), "
            "sum(deleted_rows), sum(bytes_ingested), min(checkpoint_name), min(transaction_id), "
            "count(DISTINCT integration_id), count(DISTINCT record_time) "
            "FROM _zeroetl.table_activity WHERE schema_name = 'db'"
        )
        .fetchone()
    )
    total = n * (n - 1) // 2
    assert got == (n, n, total, 2 * total, 3 * n, 10 * total, "mysql-bin.000003:77", "0-1-9",
                   1, 1)  # fmt: skip
    one = (
        dest.reader()
        .execute(
            "SELECT schema_name, inserted_rows, updated_rows, deleted_rows, bytes_ingested "
            "FROM _zeroetl.table_activity WHERE table_name = 't0' OR table_name = 'q\"t' "
            "ORDER BY 1"
        )
        .fetchall()
    )
    assert one == [("db", 0, 0, 3, 0), ("we'ird", 1, 0, 0, 5)]


def test_reader_sees_committed_only(dest: DuckDBDestination) -> None:
    s = table()
    dest.create_table(s)
    reader = dest.reader()
    dest.begin()
    dest.apply_changes(s, changes(s, [(False, {"id": 1, "v": "x"})]))
    assert reader.execute("SELECT count(*) FROM db.t").fetchone() == (0,)
    dest.commit()
    assert reader.execute("SELECT count(*) FROM db.t").fetchone() == (1,)
    dest.checkpoint_if_idle()


def test_checkpoint_threshold_raised(dest: DuckDBDestination) -> None:
    # DuckDB's own trigger is a safety net far above the WAL limit the writer keeps itself.
    got = dest.reader().execute("SELECT current_setting('checkpoint_threshold')").fetchone()
    assert got is not None and got[0] == "256.0 MiB"


def test_table_stats_sizes(dest: DuckDBDestination) -> None:
    s = table()
    dest.create_table(s)
    dest.write_chunk(s, rows(s, [{"id": i, "v": "x" * 20} for i in range(50_000)]))
    before = dest.table_stats()
    dest.checkpoint()
    after = dest.table_stats()
    assert before[0]["rows"] == after[0]["rows"] == 50_000
    assert before[0]["bytes"] > 0 and after[0]["bytes"] > 0
    assert after[0]["schema"] == "db" and after[0]["table"] == "t"


def test_schema_named_like_the_file(dest: DuckDBDestination) -> None:
    # The file is wh.duckdb, so DuckDB's catalog is "wh": `wh.t` alone would be ambiguous.
    s = table("wh", "wh")
    dest.create_table(s)
    dest.write_chunk(s, rows(s, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]))
    dest.apply_changes(s, changes(s, [(True, {"id": 1})]))
    dest.add_column(s.id, ColumnSchema("x", I64))
    dest.rename_table(s.id, table("wh", "wh2"))
    assert [(r["schema"], r["table"], r["rows"]) for r in dest.table_stats()] == [("wh", "wh2", 1)]


def test_table_stats_rows_exact_after_deletes(dest: DuckDBDestination) -> None:
    s = table()
    dest.create_table(s)
    dest.write_chunk(s, rows(s, [{"id": i, "v": "x"} for i in range(1000)]))
    dest.checkpoint()
    dest.apply_changes(s, changes(s, [(True, {"id": i}) for i in range(600)]))
    assert dest.table_stats()[0]["rows"] == 400


def test_record_schema_without_ddl(dest: DuckDBDestination) -> None:
    s = table()
    dest.create_table(s)
    changed = TableSchema(
        s.id, (ColumnSchema("id", I64), ColumnSchema("v", STR, source_type="text")), ("id",)
    )
    dest.begin()
    dest.record_schema(changed)
    dest.rollback()
    assert dest.recorded_schema(s.id) == s
    dest.record_schema(changed)
    assert dest.recorded_schema(s.id) == changed


def test_add_column_at_a_position(dest: DuckDBDestination) -> None:
    """MySQL's FIRST / AFTER: DuckDB only appends, so the table is rewritten in the new order,
    rows kept, inside the caller's transaction (a rollback undoes it)."""
    s = table("db", "t")
    dest.create_table(s)
    dest.apply_changes(s, changes(s, [(False, {"id": 1, "v": "x"}), (False, {"id": 2, "v": "y"})]))
    dest.add_column(s.id, ColumnSchema("first", I64), position=0)
    dest.add_column(s.id, ColumnSchema("mid", LogicalType(Kind.DECIMAL, 10, 2)), position=2)
    dest.add_column(s.id, ColumnSchema("last", I64), position=None)
    rec = dest.recorded_schema(s.id)
    assert rec is not None and rec.names == ("first", "id", "mid", "v", "last")
    physical = dest.reader().execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'db' "
        "AND table_name = 't' ORDER BY column_index"
    )
    assert physical.fetchall() == [
        ("first", "BIGINT"),
        ("id", "BIGINT"),
        ("mid", "DECIMAL(10,2)"),
        ("v", "VARCHAR"),
        ("last", "BIGINT"),
    ]
    assert sorted(content(dest, s.id), key=lambda r: r[1]) == [
        (None, 1, None, "x", None),
        (None, 2, None, "y", None),
    ]
    dest.begin()
    dest.add_column(s.id, ColumnSchema("gone", I64), position=1)
    dest.rollback()
    rec = dest.recorded_schema(s.id)
    assert rec is not None and rec.names == ("first", "id", "mid", "v", "last")
    assert dest.existing_table(TableId("DB", "T")) == s.id
    assert dest.existing_table(TableId("db", "nope")) is None


def test_standalone_spills_beside_the_file(dest: DuckDBDestination) -> None:
    got = dest.reader().execute("SELECT current_setting('temp_directory')").fetchone()
    assert got == (str(dest.path) + ".tmp",)


def test_statuses_schemas_and_state_changes_of_one_transaction(dest: DuckDBDestination) -> None:
    # Written together before the commit; visible to the open transaction's own reads; gone
    # with a rollback.
    tables = [table("db", f"t{i}") for i in range(50)]
    dest.begin()
    for s in tables:
        dest.create_table(s)
        st = TableStatus(s.id, TableState.RESYNC_INITIATED, "copying", rows_copied=7)
        dest.save_table_status(st)
        dest.record_state_change(s.id, TableState.RESYNC_INITIATED, "copying", None)
        st.rows_copied = 10
        dest.save_table_status(st)
    assert dest.recorded_schema(tables[3].id) == tables[3]
    dest.commit()
    got = dest.load_table_statuses()
    assert len(got) == 50 and {s.rows_copied for s in got.values()} == {10}
    assert dest.recorded_schemas() == {s.id: s for s in tables}
    n = dest.reader().execute("SELECT count(*) FROM _zeroetl.state_changes").fetchone()
    assert n == (50,)
    dest.begin()
    dest.save_table_status(TableStatus(tables[0].id, TableState.FAILED, "x"))
    dest.record_state_change(tables[0].id, TableState.FAILED, "x", None)
    dest.rollback()
    assert dest.load_table_statuses()[tables[0].id].state is TableState.RESYNC_INITIATED
    n = dest.reader().execute("SELECT count(*) FROM _zeroetl.state_changes").fetchone()
    assert n == (50,)
