"""Cheaper statements for the small slices of a transaction that touches many tables.

A source transaction touching 1,000 tables hands the destination 1,000 slices of a few rows;
each costs a DELETE and an INSERT (apply.py). On a 2-core machine even `SELECT 1` costs
~0.3 ms through the Python API and a statement scanning a Python Arrow table ~0.8-1 ms: the
statements' fixed cost, not the rows, is what such a commit spends its time on.

- The DELETE of a small slice whose key is one integer column names its keys as literals
  (`WHERE id IN (1, 2, 3)`) instead of a semi join over the Arrow slice: no Arrow scan to set
  up, and the constant list prunes the table's row groups by their min/max. Same rows deleted:
  every key the slice holds, deleted or not. Integers are written exactly; other key types keep
  the semi join (collation-free equality and exact text of every type are not worth the risk
  here).

Measured on 1,000 file-backed tables of 200 rows, 10- and 50-row update slices, the two
variants interleaved in one process: ~14% less CPU per commit with the constant list (16.0 s
against 18.6 s over six commits; every commit lower). Wall time on a loaded machine did not
show it reliably. Neither a combined `DELETE ...; INSERT ...` text per table, nor MERGE
(~2x the pair), nor one staging temp table per commit for tables of one shape was clearly
cheaper.

- The INSERT of a small slice's row images hands DuckDB exactly the rows and columns to insert,
  picked in Arrow (deletes filtered out, the table's columns selected: zero-copy without
  deletes), as one Arrow stream read by `SELECT *`. DuckDB's Arrow scan then has no projection
  or filter to push down and no re-scannable table to set up. DuckDB alone, 1,000 tables of
  10-row slices in one transaction, the ways alternated (bench/tables_micro_bench.py, CPU,
  load 5-6): 2.4 ms a table against 3.2 ms for `SELECT <columns> FROM <slice> WHERE NOT
  __del`, 2.4 ms for the relation API's `insert_into`; DuckDB 2.0's appender 1.5 ms against
  1.1 ms for a plain replacement scan in another run; prepared statements (`EXECUTE` with
  list literals), `executemany` (8.6 ms) and literal `VALUES` (1.7-2.3 ms) were not cheaper.
  Only where the connection finds Python variables by name (apply.Reader.scan). A sandboxed
  hub has no replacement scans: there the rows go in through the relation API
  (`from_arrow(...).insert_into`, `insert_by_position`), which reads them without a view to
  register and drop (two catalog changes, each about a statement's cost). It inserts by
  position, so only into a table whose columns DuckDB's catalog lists as the schema's, in the
  same order (asked once per table and column list; ddl.py keeps the source's column order,
  so the named statements are only a fallback). One-row heartbeat commits through the hub,
  the two alternated in one process: 5.7 against 6.6 ms CPU for BEGIN + apply + COMMIT (7.5
  against 8.3 ms with 100 rows); a private by-name registration of the Arrow table
  (`_register_source`) was ~0.35 ms cheaper still but is not public API.

Skipping the DELETE for slices of inserts only halves such a commit, but only where the keys
are known to be absent: `apply.insert_new`, which the engine calls for source INSERTs into a
Synced table (base.NewKeyInserts says why that is exact). Anything else, a replay of what a
table's copy already holds included, still deletes its keys first. One existence probe over
every slice of a commit was measured instead: a UNION ALL of 1,000 probes took ~5 s to plan;
in groups of 25, ~0.35 ms a table (a third of the DELETE it saves).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from zeroetl.model import TableSchema

from .types import ident, qualified

# Up to this many rows an INSERT reads the slice as one Arrow stream (one DuckDB vector: no
# parallel scan to lose); larger slices keep apply.py's statements.
SMALL_ROWS = 2048

# The name DuckDB finds the stream by (a replacement scan of `insert_rows`' local variable):
# apply.BATCH, which ddl.check_reserved refuses as a table name in schema `main`.
STREAM = "__zeroetl_changes"

# Past this many keys the semi join over the slice is as cheap as a long constant list, and
# the statement text stays small.
MAX_LITERAL_KEYS = 512


def literal_delete_sql(schema: TableSchema, catalog: str, data: pa.Table) -> str | None:
    """`DELETE ... WHERE key IN (<the slice's keys>)`, or None when the slice does not qualify
    (a key of several columns or of a non-integer type, a NULL key, or too many rows)."""
    if len(schema.primary_key) != 1 or not 0 < data.num_rows <= MAX_LITERAL_KEYS:
        return None
    key = schema.primary_key[0]
    column = data.column(key)
    if not pa.types.is_integer(column.type) or column.null_count:
        return None
    # Python ints print exactly (every width, unsigned 64-bit included); a set drops repeats.
    values = ", ".join(str(v) for v in set(column.to_pylist()))
    return f"DELETE FROM {qualified(schema.id, catalog)} WHERE {ident(key)} IN ({values})"


def insert_rows(
    con: duckdb.DuckDBPyConnection, catalog: str, schema: TableSchema, rows: pa.Table
) -> None:
    """`INSERT INTO <table> (<columns>) SELECT * FROM <rows as one Arrow stream>`: `rows` holds
    the table's columns (others are ignored) and only rows to insert. The caller checks that
    the connection scans Python variables by name and that `rows` is small (`SMALL_ROWS`)."""
    names = list(schema.names)
    cols = ", ".join(ident(c) for c in names)
    # A stream is read once and set up cheaply (a Table source is prepared for re-scans and
    # projections); read by DuckDB, by this name.
    __zeroetl_changes = rows.select(names).__arrow_c_stream__()
    con.execute(
        f"INSERT INTO {qualified(schema.id, catalog)} ({cols}) SELECT * FROM {ident(STREAM)}"
    )


def insert_by_position(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schema: TableSchema,
    rows: pa.Table,
    positional: dict[tuple[str, tuple[str, ...]], bool],
) -> bool:
    """`insert_rows` where the connection cannot read Python variables by name (a sandboxed
    hub): the relation API's `insert_into`, which inserts by position. False, inserting
    nothing, unless the table's columns are the schema's in the same order (DuckDB's catalog is
    asked once per table and column list, kept in `positional`): the caller then names them."""
    target = qualified(schema.id, catalog)
    names = tuple(schema.names)
    fits = positional.get((target, names))
    if fits is None:
        got = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? "
            "AND schema_name = ? AND table_name = ? ORDER BY column_index",
            [catalog, schema.id.schema, schema.id.table],
        ).fetchall()
        fits = positional[(target, names)] = tuple(r[0] for r in got) == names
    if fits:
        # No view to register and drop (two catalog changes, each about a statement's cost).
        con.from_arrow(rows.select(list(names))).insert_into(target)
    return fits


def last_changes(changes: pa.Table, keys: Sequence[str], seq: str) -> pa.Table | None:
    """The last change (highest `seq`) of each key of a small slice, in slice order: what
    apply.insert_last_sql's window keeps, picked in Python for a few rows instead of a window
    in DuckDB. None when a key column is not of an integer, string or binary type (Python's
    equality might differ from DuckDB's there, e.g. -0.0 and 0.0)."""
    columns = [changes.column(k) for k in keys]
    if not all(_exact_key(c.type) for c in columns):
        return None
    seqs = changes.column(seq).to_pylist()
    values = (
        columns[0].to_pylist()
        if len(columns) == 1
        else zip(*(c.to_pylist() for c in columns), strict=True)
    )
    best: dict[Any, int] = {}
    for i, key in enumerate(values):
        j = best.get(key)
        if j is None or seqs[i] > seqs[j]:
            best[key] = i
    return changes.take(sorted(best.values()))


def _exact_key(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )
