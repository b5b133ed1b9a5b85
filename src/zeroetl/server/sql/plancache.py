"""Translations kept by statement text: BI tools send the same few statements again and again.

Translating a statement (sqlglot parse, rewrites, DuckDB's own parse for the guard, type probes)
costs about a millisecond or two; running a small one costs less. A successful query's
translation is kept under the exact text and everything of the session it was made with
(database, user, search path, the databases attached), and reused only while what it was made
from is unchanged:

- the global `generation`, bumped by every statement that is not a query (DDL and writes in dev,
  CREATE/ALTER/DROP DATABASE, user and grant statements, materialized views) in any session of
  the process;
- for every replicated database the statement may read, a fingerprint of its `_zeroetl.tables`
  (which tables exist, their recorded schemas and states): a table that replication creates,
  changes or puts in error makes the entry stale.

What is never cached is the ruling: an entry keeps what the guard found the statement touches
(`checks`), and each run hands them to the policy again, against the grants of that moment (a
REVOKE refuses a cached SELECT), and checks the states of the replicated tables it reads.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlglot import exp

from zeroetl import dataversions

from .policy import Touch

MAX_ENTRIES = 1024

_generation = itertools.count(1)
_current = next(_generation)
_lock = threading.Lock()


def bump() -> None:
    """Something other than a query ran: every kept translation (and result) is stale."""
    global _current
    with _lock:
        _current = next(_generation)
    dataversions.bump_all()


def generation() -> int:
    return _current


@dataclass(frozen=True)
class Entry:
    duck: str
    tag: str
    is_query: bool
    hints: tuple[str, ...] | None
    norm: str  # the normalised text (system and user views register from it on each run)
    cte_names: frozenset[str]
    # each guard pass's findings, in order: the policy rules on them again on every run
    checks: tuple[tuple[Touch, ...], ...]
    final: tuple[Touch, ...]  # DuckDB's own parse of `duck` (what resultcache.py keys on)
    scoped: tuple[str, ...]  # names read as CTEs out of their scope (users_session)
    targets: tuple[tuple[str, str, str], ...]  # replicated tables read (states checked)
    versions: tuple[tuple[str, int], ...]  # (database, fingerprint) at translation
    generation: int
    fast: tuple[str, int] | None = None  # a Top N over a join's threshold form (topn_join.py)


class PlanCache:
    """A bounded LRU of translations, shared by the sessions of one process."""

    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[object, ...], Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0  # translations reused (what the tests and benches look at)

    def get(self, key: tuple[object, ...]) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.generation != _current:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def contains(self, key: tuple[object, ...]) -> bool:
        """Whether a current translation is kept (counts no hit, moves nothing)."""
        with self._lock:
            entry = self._entries.get(key)
        return entry is not None and entry.generation == _current

    def put(self, key: tuple[object, ...], entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def drop(self, key: tuple[object, ...]) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


CACHE = PlanCache()


class Recorder:
    """What one translation found, while it is made (the session fills it in)."""

    def __init__(self) -> None:
        self.cacheable = True
        self.norm = ""
        self.checks: list[tuple[tuple[Touch, ...], object]] = []  # (touches, workspace plan)
        self.final: tuple[Touch, ...] = ()  # the last pass over the final DuckDB text
        self.scoped: list[str] = []
        self.targets: list[tuple[str, str, str]] = []
        self.catalogs: set[str] = set()  # catalogs named by the statement's tables ("": none)
        self.fast: tuple[str, int] | None = None  # topn_join.py's form and its LIMIT

    def named(self, tree: exp.Expression) -> None:
        self.catalogs = {t.catalog for t in tree.find_all(exp.Table)}

    def noting(
        self, resolve: Callable[[exp.Table], tuple[str, str, str] | None]
    ) -> Callable[[exp.Table], tuple[str, str, str] | None]:
        def wrapped(table: exp.Table) -> tuple[str, str, str] | None:
            found = resolve(table)
            if found is not None:
                self.targets.append(found)
            return found

        return wrapped

    def dbs(self, session: SessionView) -> set[str]:
        """The replicated databases whose tables the statement may read: those it names, and
        the session's own for unqualified names."""
        out = {c for c in self.catalogs if c in session._dbs}
        if self.catalogs and session._catalog in session._dbs:
            out.add(session._catalog)
        out.update(db for db, _s, _n in self.targets)
        return out

    def entry(
        self,
        duck: str,
        tag: str,
        session: SessionView,
        versions: tuple[tuple[str, int], ...],
        generation: int,
    ) -> Entry:
        return Entry(
            duck=duck,
            tag=tag,
            is_query=True,
            hints=tuple(session._hints) if session._hints is not None else None,
            norm=self.norm,
            cte_names=session._cte_names,
            checks=tuple(t for t, _plan in self.checks),
            final=self.final,
            scoped=tuple(self.scoped),
            targets=tuple(dict.fromkeys(self.targets)),
            versions=versions,
            generation=generation,
            fast=self.fast,
        )


class SessionView(Protocol):
    _dbs: list[str]
    _catalog: str
    _hints: list[str] | None
    _cte_names: frozenset[str]
