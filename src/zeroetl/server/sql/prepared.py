"""DuckDB prepared plans for the queries a session runs again (dashboards repeat theirs).

Running a translated query costs DuckDB a parse, a bind, an optimisation and a plan before any
row is read: on TICKIT's small tables that is most of the statement (LISTAGG over `category`:
1.8 ms run as text, 1.1 ms as EXECUTE of a prepared plan; `select 1`: 0.42 -> 0.34 ms). So
the second time a session runs the same translation it is PREPAREd on the session's own cursor
(prepared statements never cross sessions: each cursor has its own), and from then on it runs
as `EXECUTE zq_plan_<n>`.

What keeps a plan right:
- the key: the translation's key (statement text, database, user, search path, attached
  databases: plancache.py), the session's settings (a plan folds constants under the time zone
  it was prepared with) and the plan cache's generation (any statement that is not a query);
- DuckDB rebinds a prepared plan itself when a catalog it read has changed since (a table
  replication re-created, a dropped one fails as the text would);
- only statements without parameters (DuckDB's EXECUTE takes no `?`), outside explicit
  transactions, and only what the SQL layer translated and its guard ruled on, on this run: the
  plan's text is never the client's, and clients cannot name a plan (the guard refuses PREPARE
  and EXECUTE; DEALLOCATE is answered without DuckDB).

A plan that fails is deallocated and the statement runs as text, so its error (if any) is the
statement's own. At most MAX_PLANS per session; the least recently used one is deallocated.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import OrderedDict
from collections.abc import Hashable

import duckdb

MAX_PLANS = 64  # per session
MAX_SEEN = 256  # statements remembered as run once (a plan is made on the second run)
PREFIX = "zq_plan_"

_names = itertools.count(1)  # process-wide: a name is never reused, even across sessions


class PreparedPlans:
    """One session cursor's prepared plans, by key."""

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self._cur = cur
        self._plans: OrderedDict[Hashable, str] = OrderedDict()
        self._seen: OrderedDict[Hashable, None] = OrderedDict()
        self.made = 0  # plans prepared (what the tests look at)
        self.used = 0  # statements run from a plan

    def text(self, key: Hashable, duck: str) -> str:
        """What to run for `duck`: EXECUTE of its plan when it ran before under `key`."""
        name = self._plans.get(key)
        if name is not None:
            self._plans.move_to_end(key)
            self.used += 1
            return f"EXECUTE {name}"
        if key not in self._seen:  # the first run: most statements are never sent again
            self._seen[key] = None
            if len(self._seen) > MAX_SEEN:
                self._seen.popitem(last=False)
            return duck
        name = f"{PREFIX}{next(_names)}"
        try:
            self._cur.execute(f"PREPARE {name} AS {duck}")
        except duckdb.InterruptException:
            raise
        except duckdb.Error:
            return duck  # it runs as text, and says what is wrong with it
        self._seen.pop(key, None)
        self._plans[key] = name
        self.made += 1
        while len(self._plans) > MAX_PLANS:
            _key, old = self._plans.popitem(last=False)
            self._deallocate(old)
        self.used += 1
        return f"EXECUTE {name}"

    def drop(self, key: Hashable) -> None:
        """The plan of `key` failed: forget it (the statement runs as text next time)."""
        name = self._plans.pop(key, None)
        if name is not None:
            self._deallocate(name)

    def __len__(self) -> int:
        return len(self._plans)

    def _deallocate(self, name: str) -> None:
        with contextlib.suppress(duckdb.Error):
            self._cur.execute(f"DEALLOCATE {name}")
