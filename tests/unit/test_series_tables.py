"""Tables replicated / failed per bucket of /series, from the state-change log of a real
DuckDB target database (the console's "Tables" chart draws them)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import duckdb

from zeroetl.destinations.duckdb import meta
from zeroetl.service import stats

IID = "it-1"


def _db(
    changes: list[tuple[str, str, float]], current: dict[str, str]
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("ATTACH ':memory:' AS wh")
    con.execute(meta.ddl('"wh"'))
    for table, state, t in changes:
        con.execute(
            "INSERT INTO wh._zeroetl.state_changes VALUES (?, 's', ?, ?, NULL, NULL, NULL, NULL, 'r', ?)",
            [IID, table, state, datetime.fromtimestamp(t, UTC)],
        )
    for table, state in current.items():
        con.execute(
            "INSERT INTO wh._zeroetl.tables (integration_id, schema_name, table_name, table_state)"
            " VALUES (?, 's', ?, ?)",
            [IID, table, state],
        )
    return con


def test_counts_follow_the_state_changes_bucket_by_bucket() -> None:
    step = 60
    now = time.time()
    base = (int(now) // step - 8) * step  # the start of a bucket 8 steps ago
    changes = [
        ("a", "ResyncInitiated", base + 1), ("b", "ResyncInitiated", base + 2),
        ("a", "Synced", base + step + 5), ("b", "Synced", base + step + 6),
        ("c", "Failed", base + 3 * step + 1),
        ("b", "ResyncInitiated", base + 5 * step + 1), ("b", "Synced", base + 5 * step + 2),
        ("c", "ResyncInitiated", base + 6 * step + 1), ("c", "Synced", base + 6 * step + 9),
    ]  # fmt: skip
    con = _db(changes, {"a": "Synced", "b": "Synced", "c": "Synced"})
    out = stats.series(con.cursor(), "wh", IID, 10, step)
    by_t = {p["t"]: (p["tables_replicated"], p["tables_failed"]) for p in out["points"]}
    assert by_t[base] == (0, 0)
    assert by_t[base + step] == (2, 0)
    assert by_t[base + 3 * step] == (2, 1)
    assert by_t[base + 5 * step] == (2, 1)  # b went out and back within the bucket
    assert by_t[base + 6 * step] == (3, 0)
    assert out["points"][-1]["tables_replicated"] == 3  # the newest bucket: the live count
    assert all(v == (0, 0) for t, v in by_t.items() if t < base)


def test_no_state_changes_no_tables() -> None:
    con = _db([], {})
    pts = stats.series(con.cursor(), "wh", IID, 5, 60)["points"]
    assert {(p["tables_replicated"], p["tables_failed"]) for p in pts} == {(0, 0)}
