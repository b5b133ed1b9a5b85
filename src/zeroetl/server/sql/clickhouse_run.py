"""Running a translated query on a ClickHouse destination, and its result as PostgreSQL sees it.

Every query runs with `readonly=1` (nothing written, no setting changed, no table function that
reads files or the network), a time limit (the session's statement_timeout, else
DEFAULT_TIMEOUT_S) and a memory limit, and with the settings that give SQL's meaning:
`join_use_nulls` (an outer join's missing side is NULL, not 0 or ''),
`aggregate_functions_null_for_empty` (SUM of no rows is NULL), `prefer_column_name_to_alias`
(`sum(x) AS x` sums the column), UTC as the session time zone (GETDATE is UTC, and DATETIME
values are stored as UTC wall clock).

Result types: ClickHouse's Arrow output is mapped onto what the wire layer announces
(pgwire/types.py): String (bytes) -> text when it is UTF-8 (else bytea), DateTime64 -> timestamp
(the wall-clock value), UInt64 -> bigint when it fits (count(*)), Decimal -> numeric with its
precision and scale, Date32 -> date; NULLs are kept whatever the Nullable wrapper.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from zeroetl import dataversions
from zeroetl.errors import ZeroEtlError

from .clickhouse_query import HIDDEN, NOT_REPLICATED, Catalog, Translated
from .errors import SqlError
from .results import Column, Result

DEFAULT_TIMEOUT_S = 300
DEFAULT_MEMORY = 2 * 1024**3
# the result is read whole before it is sent: bounded apart from the query's working memory
MAX_RESULT_BYTES = 1024**3

# The tables readers see: on one node the ReplacingMergeTree tables; on a cluster the
# Distributed ones under the source's names (their `_local` tables stay out of sight).
_CATALOG_SQL = (
    "SELECT c.database, c.table, c.name, c.type FROM system.columns AS c INNER JOIN system.tables"
    " AS t ON t.database = c.database AND t.name = c.table WHERE c.database NOT IN ({}) AND"
    " {} ORDER BY c.database, c.table, c.position"
)
_ENGINE = {False: "t.engine LIKE '%ReplacingMergeTree'", True: "t.engine = 'Distributed'"}
# Column lists per destination (its `where`), kept while its schema version stands: reading
# system.columns took about a third of a simple query's time.
_catalogs: dict[tuple[str, str], tuple[tuple[int, int], Catalog]] = {}
_catalogs_lock = threading.Lock()


def settings(
    timeout_ms: int = 0, memory_bytes: int = 0, result_bytes: int = MAX_RESULT_BYTES
) -> dict[str, str]:
    seconds = timeout_ms / 1000 if timeout_ms else DEFAULT_TIMEOUT_S
    return {
        "max_execution_time": f"{seconds:g}",
        "max_memory_usage": str(memory_bytes or DEFAULT_MEMORY),
        "max_result_bytes": str(result_bytes),
        "join_use_nulls": "1",
        "aggregate_functions_null_for_empty": "1",
        "prefer_column_name_to_alias": "1",
        "enable_positional_arguments": "1",
        "session_timezone": "UTC",
        # last: a server applies settings in order, and readonly=1 forbids changing any after it
        "readonly": "1",
    }


def read_catalog(dest: Any) -> Catalog:
    """The replicated tables (those with zeroetl's version columns) and their columns."""
    return catalog_of(dest)[0]


def catalog_of(dest: Any, *, fresh: bool = False) -> tuple[Catalog, bool]:
    """read_catalog's answer, and whether it was kept from before. Kept until the destination
    next runs DDL in this process (dataversions.schema_changed); `fresh`: read it again now.
    The translation only reads a Catalog, so one is shared by every query."""
    key = (str(getattr(dest, "where", "")), str(getattr(dest, "cluster", "")))
    version = dataversions.schemas(key[0])  # before the read: DDL meanwhile makes it stale
    with _catalogs_lock:
        kept = _catalogs.get(key)
    if not fresh and kept is not None and kept[0] == version:
        return kept[1], True
    found = _read_catalog(dest, bool(key[1]))
    with _catalogs_lock:
        _catalogs[key] = (version, found)
    return found, False


def _read_catalog(dest: Any, cluster: bool) -> Catalog:
    quoted = ", ".join("'" + d + "'" for d in NOT_REPLICATED)
    data = dest._t.query(_CATALOG_SQL.format(quoted, _ENGINE[cluster])).to_pylist()
    raw: dict[tuple[str, str], dict[str, str]] = {}
    for row in data:
        key = (_text(row["database"]), _text(row["table"]))
        raw.setdefault(key, {})[_text(row["name"])] = _text(row["type"])
    tables = {
        k: {c: t for c, t in cols.items() if c not in HIDDEN}
        for k, cols in raw.items()
        if all(h in cols for h in HIDDEN)
    }
    return Catalog(tables)


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def run(dest: Any, done: Translated, *, timeout_ms: int = 0, memory_bytes: int = 0) -> Result:
    table = query(dest, done.sql, settings(timeout_ms, memory_bytes))
    table = to_postgres(table, done.labels)
    columns = [Column(f.name, f.type) for f in table.schema]
    return Result(columns, iter(table.to_batches()), "SELECT")


def describe(dest: Any, done: Translated) -> list[Column]:
    table = query(dest, f"SELECT * FROM ({done.sql}) LIMIT 0", settings())
    return [Column(f.name, f.type) for f in to_postgres(table, done.labels).schema]


def query(dest: Any, sql: str, values: dict[str, str]) -> pa.Table:
    try:
        return dest._t.query(sql, values)  # type: ignore[no-any-return]
    except ZeroEtlError as e:
        raise error(str(e)) from None


_CODE = re.compile(r"Code: (\d+)\. DB::Exception: (.*?)(?: \(([A-Z_]+)\))?(?:\. \(|$)", re.S)
_SQLSTATES = {
    153: "22012",  # ILLEGAL_DIVISION
    159: "57014",  # TIMEOUT_EXCEEDED
    241: "53200",  # MEMORY_LIMIT_EXCEEDED
    164: "42501",  # READONLY
    46: "42883",  # UNKNOWN_FUNCTION
    47: "42703",  # UNKNOWN_IDENTIFIER
    60: "42P01",  # UNKNOWN_TABLE
    62: "42601",  # SYNTAX_ERROR
    43: "42804",  # ILLEGAL_TYPE_OF_ARGUMENT
    42: "42883",  # NUMBER_OF_ARGUMENTS_DOESNT_MATCH
    70: "22003",  # CANNOT_CONVERT_TYPE
    6: "22P02",  # CANNOT_PARSE_TEXT
    38: "22007",  # CANNOT_PARSE_DATE
    41: "22007",  # CANNOT_PARSE_DATETIME
}


def error(text: str) -> SqlError:
    """ClickHouse's error as PostgreSQL's: the SQLSTATE by ClickHouse's code, the message
    without ClickHouse's stack or query text."""
    # the innermost code: a server or proxy may wrap the engine's error in its own
    starts = [m.start() for m in re.finditer(r"Code: \d+\. DB::Exception: ", text)]
    m = _CODE.search(text, starts[-1]) if starts else None
    if m is None:
        return SqlError("XX000", f"ClickHouse: {text.splitlines()[0] if text else 'error'}")
    code, msg = int(m.group(1)), re.split(r":? In (?:scope|query) ", m.group(2))[0].strip()
    state = _SQLSTATES.get(code, "XX000")
    if code == 153:
        return SqlError("22012", "division by zero")
    if code == 159:
        return SqlError("57014", "canceling statement due to statement timeout")
    if code in (241, 396):  # MEMORY_LIMIT_EXCEEDED, TOO_MANY_ROWS_OR_BYTES
        what = "memory" if code == 241 else "result size"
        return SqlError(
            "53200" if code == 241 else "54000",
            f"the query exceeds its {what} limit on ClickHouse: {msg}",
            hint="narrow the query (filters, fewer columns, LIMIT, aggregates)",
        )
    return SqlError(state, f"ClickHouse: {msg}")


def to_postgres(table: pa.Table, labels: dict[str, str]) -> pa.Table:
    """ClickHouse's Arrow result -> the types the wire layer announces (module doc), columns
    named as the client sees them."""
    names = [labels.get(n, n) for n in table.column_names]
    return pa.Table.from_arrays([_column(c) for c in table.columns], names=names)


def _column(col: pa.ChunkedArray) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        try:
            return pc.cast(col, pa.string())
        except pa.ArrowInvalid:
            return col  # not UTF-8: bytes (bytea)
    if pa.types.is_timestamp(t) and t.tz is not None:
        return col.cast(pa.timestamp(t.unit, "UTC")).cast(pa.timestamp(t.unit))
    if t == pa.uint64():
        top = pc.max(col).as_py()
        return col.cast(pa.int64()) if top is None or top < 2**63 else col
    if t in (pa.uint32(),):
        return col.cast(pa.int64())
    if t in (pa.uint16(),):
        return col.cast(pa.int32())
    if t in (pa.uint8(), pa.int8()):
        return col.cast(pa.int16())
    return col
