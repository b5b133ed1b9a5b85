"""Query results kept between statements, as Redshift's result cache keeps them.

Redshift answers a query it ran before from its result cache while the tables it read are
unchanged (`enable_result_cache_for_session`, on by default). Here a query's result is kept
when all of this holds, and is served only to a statement with the same key:

- what it reads is only replicated tables of target databases (every name DuckDB's own parse of
  the final text finds is one the translation resolved to a replicated table, or one of its CTEs):
  only their writers say when they commit (zeroetl.dataversions). Anything else (dev's tables,
  system and catalog views, table functions) is never kept;
- every function it calls is one DuckDB marks CONSISTENT (no getdate/now/random/nextval...),
  or a scalar macro whose body calls only such functions;
- not inside an explicit transaction (its snapshot and own writes are its own), and the session
  has not SET enable_result_cache_for_session TO off;
- the result is at most MAX_ENTRY_BYTES and was read to its end.

The key is the translation's key (statement text, database, user, search path, attached
databases: plancache.py), the parameter values and the session's settings (timezone...). An
entry is served only while the versions of the tables it read, taken before it ran, are still
current. The sandbox is never skipped: a statement is translated (or replayed from plancache,
where the policy rules on its findings against the grants of that moment and the table states
are checked) before the cache is asked, so a REVOKE refuses a cached query as it refuses any.
Entries are bounded by bytes (LRU).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from zeroetl import dataversions

from . import duckparse
from .errors import SqlError
from .policy import Kind, Touch
from .results import Column

MAX_BYTES = 64 << 20  # all entries together
MAX_ENTRY_BYTES = 4 << 20  # one result
SETTING = "enable_result_cache_for_session"
OFF = frozenset({"off", "false", "0", "no"})
# settings that never change a result (the rest are part of the key)
_UNRELATED = frozenset({"statement_timeout", "application_name", SETTING})

_consistent: frozenset[str] | None = None
_lock = threading.Lock()


def consistent_functions(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Functions whose every overload is CONSISTENT (read once per process): DuckDB's mark for
    built-in functions; a scalar macro (DuckDB marks none: `nullif`, the pg_catalog emulation's)
    counts when every function its body calls does."""
    global _consistent
    with _lock:
        if _consistent is None:
            _consistent = _consistent_functions(con)
        return _consistent


def _consistent_functions(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    rows = con.execute(
        "SELECT lower(function_name), stability, function_type, macro_definition,"
        " has_side_effects FROM duckdb_functions()"
    ).fetchall()
    overloads: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        overloads.setdefault(r[0], []).append(r[1:])
    good = {n for n, o in overloads.items() if all(x[0] == "CONSISTENT" and not x[3] for x in o)}
    calls: dict[str, set[str] | None] = {}  # a scalar macro's calls; None: never consistent
    for name, o in overloads.items():
        if name in good or not all(x[1] == "macro" and x[2] and not x[3] for x in o):
            continue
        found: set[str] | None = set()
        for x in o:
            touches = _inspect(con, "SELECT " + str(x[2]))
            if touches is None or any(t.kind is not Kind.FUNCTION or t.path for t in touches):
                found = None
                break
            assert found is not None
            found.update(t.name.lower() for t in touches)
        calls[name] = found
    grown = True
    while grown:  # macros calling macros
        grown = False
        for name, called in calls.items():
            if name not in good and called is not None and called <= good:
                good.add(name)
                grown = True
    return frozenset(good)


def _inspect(con: duckdb.DuckDBPyConnection, text: str) -> list[Touch] | None:
    try:
        return duckparse.inspect(con, text)
    except (SqlError, duckdb.Error):
        return None


def reads(
    final: Sequence[Touch],
    targets: Sequence[tuple[str, str, str]],
    cte_names: frozenset[str],
    consistent: frozenset[str],
    is_table: Callable[[str], bool],
) -> tuple[tuple[str, str, str], ...] | None:
    """The replicated tables a query reads, if its result may be kept (module doc); else None.
    `is_table(name)`: whether a replicated table has that name (a CTE of the same name may not
    be what every reference to it reads)."""
    known = {tuple(p.lower() for p in t) for t in targets}
    ctes = {c.lower() for c in cte_names}
    out: set[tuple[str, ...]] = set()
    for t in final:
        if t.kind is Kind.FUNCTION:
            if t.path or t.side_effects or t.name.lower() not in consistent:
                return None
        elif t.kind is Kind.READ:
            path = tuple(p.lower() for p in t.path)
            found = [k for k in known if k[len(k) - len(path) :] == path]
            if len(path) == 1 and path[0] in ctes:
                if is_table(path[0]):  # out of the CTE's scope it would read that table
                    return None
                continue
            if len(found) != 1:
                return None  # not (only) a replicated table the translation resolved
            out.add(found[0])
        else:
            return None  # table functions, statements, settings: never kept
    return tuple(sorted(out))  # type: ignore[arg-type]


def settings_key(values: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in values.items() if k not in _UNRELATED))


def enabled(values: dict[str, str]) -> bool:
    return values.get(SETTING, "on").strip().lower() not in OFF


@dataclass(frozen=True)
class Ticket:
    """A cacheable statement about to run: its key and the versions read before it runs."""

    key: tuple[object, ...]
    refs: tuple[tuple[str, str, str], ...]
    versions: tuple[int, ...]


@dataclass(frozen=True)
class Kept:
    columns: list[Column]
    batches: tuple[pa.RecordBatch, ...]
    tag: str
    versions: tuple[int, ...]
    nbytes: int
    wire_memo: dict[object, object] = field(default_factory=dict)  # results.Result.wire_memo


def ticket(key: tuple[object, ...], refs: tuple[tuple[str, str, str], ...]) -> Ticket:
    return Ticket(key, refs, dataversions.tables(refs))


class ResultCache:
    """Kept results of one process, LRU by bytes."""

    def __init__(self, max_bytes: int = MAX_BYTES, max_entry: int = MAX_ENTRY_BYTES) -> None:
        self.max_bytes, self.max_entry = max_bytes, max_entry
        self._entries: OrderedDict[tuple[object, ...], Kept] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0  # what the tests and the bench look at
        self.stored = 0

    def get(self, t: Ticket) -> Kept | None:
        with self._lock:
            kept = self._entries.get(t.key)
            if kept is None:
                return None
            if kept.versions != t.versions:  # a table it read committed since: stale
                self._drop(t.key)
                return None
            self._entries.move_to_end(t.key)
            self.hits += 1
            return kept

    def put(
        self, t: Ticket, columns: list[Column], batches: list[pa.RecordBatch], tag: str
    ) -> None:
        nbytes = sum(b.nbytes for b in batches)
        if nbytes > self.max_entry:
            return
        if dataversions.tables(t.refs) != t.versions:
            return  # committed while it ran: what it read may already be old
        with self._lock:
            self._drop(t.key)
            self._entries[t.key] = Kept(list(columns), tuple(batches), tag, t.versions, nbytes)
            self._bytes += nbytes
            self.stored += 1
            while self._bytes > self.max_bytes and self._entries:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple[object, ...]) -> None:
        kept = self._entries.pop(key, None)
        if kept is not None:
            self._bytes -= kept.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def capture(
        self, t: Ticket, columns: list[Column], batches: Iterator[pa.RecordBatch], tag: str
    ) -> Iterator[pa.RecordBatch]:
        """Hand `batches` on, keeping them if they are read to their end within the bound."""
        held: list[pa.RecordBatch] | None = []
        size = 0
        for b in batches:
            if held is not None:
                size += b.nbytes
                if size <= self.max_entry:
                    held.append(b)
                else:
                    held = None  # too big to keep: streamed on, not held
            yield b
        if held is not None:
            self.put(t, columns, held, tag)


CACHE = ResultCache()
