"""The catalog reads behind non-superusers' grant checks, kept per catalog version.

Grants rule on relations, not on names: before the policy rules on a non-superuser's read, the
session resolves each name against DuckDB's catalog (users_session.py): every table and view of
the replicated databases and dev (`users_run.relation_index`), and for an object of dev its
recorded owner and, for a view, what it reads with its owner's rights. Those reads were the only
DuckDB work a kept result of a non-superuser needed, so they kept such repeats off the wire's
event loop (inline.py), and they cost a catalog scan per statement on the worker.

They are kept here, process-wide, under a version that moves after every commit that can change
what a name means (`dataversions.states` of each database read): a destination's commit that ran
DDL or wrote table states moves its database's (a commit of data and checkpoints alone does not:
with busy or many integrations, every commit made the next statement read the catalog again);
everything else (DDL and writes in dev, materialized views, CREATE/ALTER/DROP
DATABASE, user and grant statements, COMMIT of a transaction that changed the catalog) moves
every version, after its change is visible (`plancache.bump`, `dataversions.bump_all`). The
version is read before the catalog is: a commit meanwhile leaves what was read under an old
version, never under the new one.

Only what the catalog says is kept, never a ruling: the policy rules on every statement against
the grants of that moment, so a REVOKE refuses the next statement at once. Inside an explicit
transaction the session's own snapshot is read (it may hold uncommitted DDL), and nothing is kept.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb

from zeroetl import dataversions

from . import mviews, users_run
from . import workspace_store as ws

T = TypeVar("T")
MAX_ENTRIES = 4096  # owners and view bodies per version: bounded memory

# A view's body as the grant check needs it: ("mv", inputs) for a materialized view, ("view",
# its DuckDB SQL) for a view, None for a table.
Body = tuple[str, Any] | None


class Kept:
    """One hub's kept catalog reads (sessions find it with `of`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple[object, ...] | None = None
        self._kept: dict[tuple[object, ...], Any] = {}

    def get(self, key: tuple[object, ...], dbs: list[str], read: Callable[[], T]) -> T:
        current = version(dbs)  # before the read (module doc)
        with self._lock:
            if self._version == current and key in self._kept:
                found: T = self._kept[key]
                return found
        value = read()
        with self._lock:
            if self._version != current:
                if version(dbs) != current:
                    return value  # stale already: another commit landed during the read
                self._version = current
                self._kept.clear()
            if len(self._kept) < MAX_ENTRIES:
                self._kept[key] = value
        return value


_hubs: weakref.WeakKeyDictionary[object, Kept] = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def of(backend: object) -> Kept | None:
    """The kept reads of `backend`'s hub (each hub its own: tests run several in a process);
    None for a backend that cannot be a weak key (its reads are then made every time)."""
    with _hubs_lock:
        try:
            kept = _hubs.get(backend)
            if kept is None:
                kept = _hubs[backend] = Kept()
        except TypeError:
            return None
        return kept


def version(dbs: list[str]) -> tuple[object, ...]:
    """The catalog version of the replicated databases `dbs` and dev (see the module doc)."""
    return (tuple(dbs), *(dataversions.states(db) for db in dbs), dataversions.meta(ws.WORKSPACE))


def relation_index(
    kept: Kept | None, con: duckdb.DuckDBPyConnection, dbs: list[str]
) -> users_run.Index:
    """Every table and view of `dbs` and dev by lower-cased name (users_run.relation_index)."""
    where = [*dbs, ws.WORKSPACE]
    if kept is None:
        return users_run.relation_index(con, where)
    return kept.get(("index",), dbs, lambda: users_run.relation_index(con, where))


def owner_of(
    kept: Kept | None, con: duckdb.DuckDBPyConnection, dbs: list[str], schema: str, name: str
) -> str | None:
    """The recorded owner of dev's `schema.name` (users_run.owner_of)."""
    if kept is None:
        return users_run.owner_of(con, schema, name)
    return kept.get(("owner", schema, name), dbs, lambda: users_run.owner_of(con, schema, name))


def body_of(
    kept: Kept | None, con: duckdb.DuckDBPyConnection, dbs: list[str], schema: str, name: str
) -> Body:
    """What dev's view `schema.name` reads, as the grant check needs it (see `Body`)."""
    if kept is None:  # inside a transaction: the session's own snapshot
        return _body(con, schema, name)
    return kept.get(("body", schema, name), dbs, lambda: _body(con, schema, name))


def _body(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> Body:
    mv = mviews.get(con, schema, name)
    if mv is not None:
        return ("mv", tuple(mv.inputs))
    rows = con.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = ? AND schema_name = ? AND"
        " view_name = ?",
        [ws.WORKSPACE, schema, name],
    ).fetchall()
    return ("view", str(rows[0][0])) if rows else None
