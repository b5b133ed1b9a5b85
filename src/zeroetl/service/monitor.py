"""Monitoring over the service: what `/metrics`, the console and their JSON twins show.

Everything is computed when asked: the integration views (state, lag, table counts from the
workers) plus aggregates of each target database's `_zeroetl` tables read through a hub cursor
(committed data only; replication is never waited for). No counter lives in memory, so a
restart of the service changes nothing a scraper sees.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import duckdb

from zeroetl.model import IntegrationState
from zeroetl.service import stats
from zeroetl.service.headroom import HeadroomProbe
from zeroetl.service.service import Service

log = logging.getLogger(__name__)

# Every state an integration that is not deleted can be in (zeroetl_integration_state{state}).
STATES = (
    IntegrationState.CREATING,
    IntegrationState.ACTIVE,
    IntegrationState.SYNCING,
    IntegrationState.NEEDS_ATTENTION,
    IntegrationState.MODIFYING,
    IntegrationState.PAUSED,
    IntegrationState.FAILED,
    IntegrationState.DELETING,
)

T = TypeVar("T")


class Monitor:
    def __init__(self, service: Service, probe: HeadroomProbe | None = None) -> None:
        self.service = service
        self.probe = probe or HeadroomProbe()

    def views(self) -> Iterator[dict[str, Any]]:
        """Every integration not deleted, page by page."""
        offset = 0
        while True:
            items, total = self.service.list_integrations(offset=offset, limit=500)
            yield from items
            offset += len(items)
            if not items or offset >= total:
                return

    def stats(self, view: dict[str, Any], *, with_headroom: bool = True) -> dict[str, Any]:
        """Totals of one integration (the JSON twin of its /metrics samples)."""
        db = view["target_database"]
        out: dict[str, Any] = stats.empty_totals()
        if db:
            try:
                out = self._read(lambda cur: stats.totals(cur, db, view["id"]))
            except duckdb.Error as exc:  # e.g. the database is being dropped right now
                log.info("integration %s: cannot read its statistics: %s", view["id"], exc)
        out["integration_id"] = view["id"]
        out["state"] = view["state"]
        out["lag_seconds"] = view["lag_seconds"]
        out["tables"] = view["tables"]
        out["binlog_retention"] = (
            self.headroom(view["id"], out["checkpoint_file"]) if with_headroom else None
        )
        return out

    def headroom(self, integration_id: str, checkpoint_file: str | None) -> dict[str, Any]:
        """{"headroom_seconds": s | None, "purged_automatically": bool, "reason": str}: the
        reason says why there is no number."""
        worker = self.service.workers.get(integration_id)
        if worker is None or not checkpoint_file:
            why = "not replicating" if worker is None else "no checkpoint yet"
            return {"headroom_seconds": None, "purged_automatically": None, "reason": why}
        seconds, error = self.probe.seconds(integration_id, worker.spec.params, checkpoint_file)
        never = seconds is not None and math.isinf(seconds)
        return {
            "headroom_seconds": None if seconds is None or never else round(seconds, 1),
            "purged_automatically": None if seconds is None else not never,
            "reason": error,
        }

    def series(self, ident: str, minutes: int, step_s: int | None) -> dict[str, Any]:
        view = self.service.get_integration(ident)
        step = step_s or stats.default_step(minutes)
        step = max(step, -(-minutes * 60 // stats.MAX_POINTS))
        db = view["target_database"]
        return {
            "integration_id": view["id"],
            **self._read(lambda cur: stats.series(cur, db, view["id"], minutes, step)),
        }

    def _read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        cur = self.service.hub_cursor()
        try:
            with self.service.read_gate.reading():
                return fn(cur)
        finally:
            cur.close()
