"""CPU of each call of one small commit on the service's hub, the small-slice insert by
position (apply_small.insert_by_position) against apply.py's statements through a view,
alternated in one process (runs in separate processes drift by more than the difference):
begin, apply_changes (--rows upserted rows of one table), save_checkpoint,
record_tables_activity, record_activity, commit.

    .venv/bin/python bench/commit_steps_bench.py [--rows 100] [--commits 150] [--rounds 10]
"""

# ruff: noqa: B023  (each lambda is called at once, inside its own iteration)

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from zeroetl.destinations.duckdb import DuckDBDestination, apply
from zeroetl.model import (
    ColumnSchema,
    Kind,
    LogicalType,
    Position,
    TableActivity,
    TableId,
    TableSchema,
)
from zeroetl.service.hub import database_path, open_hub


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1)
    ap.add_argument("--commits", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=10, help="of each way, alternated")
    args = ap.parse_args()
    wh = Path(tempfile.mkdtemp(prefix="commitsteps-"))
    hub = open_hub(wh)
    dest = DuckDBDestination(database_path(wh, "b"), "b", hub=hub.con, catalog="b")
    s = TableSchema(
        TableId("db", "heartbeat"),
        (ColumnSchema("id", LogicalType(Kind.INT64)), ColumnSchema("ts", LogicalType(Kind.STRING))),
        ("id",),
    )
    dest.create_table(s)
    arrow = pa.schema([("__seq", pa.int64()), ("__del", pa.bool_()), *s.arrow_schema()])
    n = args.rows
    by_position = apply._small

    def statements(data: pa.Table, reader: apply.Reader | None) -> bool:
        return reader is not None and reader.scan and data.num_rows <= apply.SMALL_ROWS

    ways: dict[str, Callable[[pa.Table, apply.Reader | None], bool]] = {
        "view": statements,
        "position": by_position,
    }
    totals: dict[str, dict[str, float]] = {w: {} for w in ways}

    def timed(tot: dict[str, float], name: str, call: Callable[[], object]) -> None:
        c = time.thread_time()
        call()
        tot[name] = tot.get(name, 0.0) + time.thread_time() - c

    for r in range(2 * args.rounds + 1):
        way = list(ways)[r % 2]
        apply._small = ways[way]  # type: ignore[assignment]
        tot: dict[str, float] = totals[way] if r else {}  # the first round warms up
        for i in range(args.commits):
            t0 = datetime.now(UTC)
            pos = Position("mysql-bin.000001", 1000 + i, f"0-1-{i}")
            rows = pa.table(
                {"__seq": range(n), "__del": [False] * n, "id": range(n), "ts": [str(i)] * n},
                schema=arrow,
            )
            timed(tot, "begin", dest.begin)
            timed(tot, "apply", lambda: dest.apply_changes(s, rows))
            timed(tot, "checkpoint", lambda: dest.save_checkpoint(pos))
            timed(
                tot,
                "tables_activity",
                lambda: dest.record_tables_activity(
                    checkpoint=pos,
                    transaction_id=pos.gtid_set,
                    tables=[TableActivity(s.id, 0, n, 0, 20 * n)],
                ),
            )
            timed(
                tot,
                "activity",
                lambda: dest.record_activity(
                    checkpoint=pos,
                    checkpoint_type="cdc",
                    checkpoint_bytes=20 * n,
                    commit_ts=t0,
                    modified_tables=1,
                    start=t0,
                    end=datetime.now(UTC),
                ),
            )
            timed(tot, "commit", dest.commit)
    apply._small = by_position  # type: ignore[assignment]
    dest.close()
    shutil.rmtree(wh, ignore_errors=True)
    per = args.commits * args.rounds / 1e6
    base = sum(totals["view"].values()) / per
    for way, tot in totals.items():
        steps = ", ".join(f"{k} {v / per:.0f}" for k, v in tot.items())
        whole = sum(tot.values()) / per
        print(f"{way}: {whole:.0f} us CPU a commit ({whole / base:.2f}x the view): {steps}")


if __name__ == "__main__":
    main()
