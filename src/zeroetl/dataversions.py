"""Data versions of the warehouse's databases and tables, for what the SQL endpoint keeps.

The SQL endpoint keeps query results (server/sql/resultcache.py) and each target database's
table states (`_zeroetl.tables`) between statements. Both are only as good as their
invalidation, so every writer of the hub in this process says when what it wrote became
visible, after the fact:

- a destination, after each statement outside a transaction and after each COMMIT: the tables
  it touched (`committed(db, tables)`), and its database's metadata (`meta(db)` moves on every
  such call: checkpoints, activity, states and recorded schemas live there); `states(db)` moves
  only when the call says `_zeroetl.tables` or the catalog was written (table states, recorded
  schemas, CREATE/ALTER/DROP/RENAME of a table; and the first call of a destination that opened
  the file), so the SQL endpoint keeps a database's table states and what its names mean
  across the commits that change nothing but data and checkpoints (with 10 integrations, each
  heartbeat commit made every session read them all again);
- anything else (SQL sessions' writes in dev, materialized view refreshes, CREATE/ALTER/DROP
  DATABASE, user and grant statements): `bump_all()`, which moves every version.
- a ClickHouse destination, after each DDL statement it sends: `schema_changed(where)` (its
  path or redacted URL), for the column lists the SQL endpoint keeps (`schemas(where)`).

Versions are read BEFORE the reader's own statement starts: a commit that lands meanwhile moves
the version past what the reader recorded, so a result read then is never kept as current.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable

_lock = threading.Lock()
_clock = itertools.count(1)
_all = 0  # moved by bump_all: every version below is stale
_tables: dict[tuple[str, str, str], int] = {}
_meta: dict[str, int] = {}
_states: dict[str, int] = {}
_schemas: dict[str, int] = {}


def _name(db: str, schema: str, table: str) -> tuple[str, str, str]:
    # DuckDB names ignore case: a collision only costs an extra invalidation
    return (db.lower(), schema.lower(), table.lower())


def committed(db: str, tables: Iterable[tuple[str, str]], *, states: bool = True) -> None:
    """`db`'s writer made its changes to `tables` ((schema, name) pairs) visible; `states`:
    they include writes to its `_zeroetl.tables` or DDL (a writer that cannot tell says True)."""
    with _lock:
        tick = next(_clock)
        _meta[db.lower()] = tick
        if states:
            _states[db.lower()] = tick
        for schema, table in tables:
            _tables[_name(db, schema, table)] = tick


def bump_all() -> None:
    """A write whose tables are not known: every kept result and table state is stale."""
    global _all
    with _lock:
        _all = next(_clock)


def tables(refs: Iterable[tuple[str, str, str]]) -> tuple[int, ...]:
    """The versions of (db, schema, table) names, and last the global one: equal tuples mean
    nothing they name was committed in between."""
    with _lock:
        return (*(_tables.get(_name(*r), 0) for r in refs), _all)


def meta(db: str) -> tuple[int, int]:
    """The version of `db`'s metadata (moved by every write of its destination)."""
    with _lock:
        return (_meta.get(db.lower(), 0), _all)


def states(db: str) -> tuple[int, int]:
    """The version of `db`'s `_zeroetl.tables` (table states, recorded schemas) and of its
    catalog (the tables and columns its destination created, altered, renamed or dropped)."""
    with _lock:
        return (_states.get(db.lower(), 0), _all)


def schema_changed(where: str) -> None:
    """The destination at `where` (a chDB path, a redacted server URL) ran DDL."""
    with _lock:
        _schemas[where] = next(_clock)


def schemas(where: str) -> tuple[int, int]:
    """The version of the tables and columns of the destination at `where`."""
    with _lock:
        return (_schemas.get(where, 0), _all)
