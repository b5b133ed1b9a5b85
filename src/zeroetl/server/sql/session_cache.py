"""The session's side of what is kept between statements: query results (resultcache.py) and
each target database's table states (`_zeroetl.tables`, read for every statement that reads a
replicated table, now once per write to them: zeroetl.dataversions.states)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import duckdb
import pyarrow as pa

from zeroetl import dataversions

from . import plancache, redshift, resultcache
from .params import SessionParams
from .results import Column, Result

Catalog = tuple[dict[tuple[str, str], tuple[str | None, str]], int]

_states: dict[str, tuple[tuple[int, int], Catalog]] = {}
_states_lock = threading.Lock()


def table_catalog(con: duckdb.DuckDBPyConnection, db: str, *, in_transaction: bool) -> Catalog:
    """redshift.table_catalog, kept while `db`'s table-states version stands. Inside an explicit
    transaction the session's own snapshot is read (it may predate the kept one)."""
    if in_transaction:
        return redshift.table_catalog(con, db)
    version = dataversions.states(db)  # before the read: a write meanwhile makes it stale
    with _states_lock:
        kept = _states.get(db)
    if kept is not None and kept[0] == version:
        return kept[1]
    found = redshift.table_catalog(con, db)
    with _states_lock:
        _states[db] = (version, found)
    return found


class ResultCaching:
    """Mixed into SqlSession: which statements may use kept results, and keeping them."""

    in_transaction: bool
    _cur: duckdb.DuckDBPyConnection
    _params: SessionParams
    _kept_entry: plancache.Entry | None  # the translation of the statement being run
    _kept_key: tuple[object, ...]
    _dbs: list[str]

    def _catalog_of(self, db: str) -> Catalog:
        raise NotImplementedError  # the session's (read once per statement)

    def _result_ticket(self, args: Sequence[object] | None) -> resultcache.Ticket | None:
        """The statement's ticket if its result may be kept or served (resultcache.py)."""
        entry = self._kept_entry
        if entry is None or self.in_transaction or not resultcache.enabled(self._params.values):
            return None
        try:
            values = tuple(args or ())
            hash(values)
        except TypeError:
            return None  # a parameter value that cannot be a key (a list...)
        refs = resultcache.reads(
            entry.final,
            entry.targets,
            entry.cte_names,
            resultcache.consistent_functions(self._cur),
            self._is_replicated_name,
        )
        if refs is None:
            return None
        key = (
            self._kept_key,
            tuple((type(v).__name__, v) for v in values),  # 1 and 1.0 and True differ here
            resultcache.settings_key(self._params.values),
        )
        return resultcache.ticket(key, refs)

    def _is_replicated_name(self, name: str) -> bool:
        names = (n.lower() for db in self._dbs for _s, n in self._catalog_of(db)[0])
        return name in names

    @staticmethod
    def _kept_result(ticket: resultcache.Ticket | None) -> Result | None:
        kept = resultcache.CACHE.get(ticket) if ticket is not None else None
        if kept is None:
            return None
        return Result(list(kept.columns), iter(kept.batches), kept.tag, kept.wire_memo)

    @staticmethod
    def _keeping(
        ticket: resultcache.Ticket | None,
        columns: list[Column],
        batches: Iterator[pa.RecordBatch],
        tag: str,
    ) -> Iterator[pa.RecordBatch]:
        if ticket is None:
            return batches
        return resultcache.CACHE.capture(ticket, columns, batches, tag)
