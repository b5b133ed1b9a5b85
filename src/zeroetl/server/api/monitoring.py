"""`GET /metrics` (Prometheus text format) and its JSON twins under `/v1`.

The metrics come from a custom collector that asks the service at scrape time (names as in
docs/monitoring.md, each labelled with `integration_id`); nothing is counted in memory, so the
numbers are the ones `_zeroetl.*` and the system views hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Query, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from zeroetl.server.api import schemas
from zeroetl.service.monitor import STATES, Monitor

_ID = ["integration_id"]
_TABLE = ["integration_id", "schema", "table"]


class ServiceCollector(Collector):
    """Every integration's numbers, read when Prometheus scrapes."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterable[Metric]:
        lag = GaugeMetricFamily(
            "zeroetl_integration_lag_seconds",
            "Seconds between a change's commit at the source and its commit in the warehouse, "
            "as of the last applied batch (0 while caught up and idle).",
            labels=_ID,
        )
        replicated = GaugeMetricFamily(
            "zeroetl_integration_tables_replicated", "Tables in state Synced.", labels=_ID
        )
        failed = GaugeMetricFamily(
            "zeroetl_integration_tables_failed", "Tables in state Failed.", labels=_ID
        )
        transferred = CounterMetricFamily(
            "zeroetl_integration_data_transferred_bytes",
            "Bytes of row images applied from the binlog (change data capture).",
            labels=_ID,
        )
        rows = CounterMetricFamily(
            "zeroetl_integration_rows_applied",
            "Rows applied from the binlog, by operation.",
            labels=[*_ID, "op"],
        )
        state = GaugeMetricFamily(
            "zeroetl_integration_state",
            "1 for the integration's current lifecycle state, 0 for the others.",
            labels=[*_ID, "state"],
        )
        snapshot = GaugeMetricFamily(
            "zeroetl_snapshot_rows_total",
            "Rows copied by the current snapshot of each table, summed (a table's count "
            "starts again at 0 when it is re-copied).",
            labels=_ID,
        )
        table_rows = GaugeMetricFamily(
            "zeroetl_snapshot_table_rows_copied",
            "Rows copied so far by the current snapshot of one table.",
            labels=_TABLE,
        )
        table_done = GaugeMetricFamily(
            "zeroetl_snapshot_table_complete",
            "1 once the current snapshot of the table is complete, else 0.",
            labels=_TABLE,
        )
        headroom = GaugeMetricFamily(
            "zeroetl_binlog_retention_headroom_seconds",
            "Seconds until the source may purge the binlog file the checkpoint needs "
            "(+Inf: no automatic purge); refreshed at most once a minute.",
            labels=_ID,
        )
        seen: set[str] = set()
        for view in self.monitor.views():
            iid = view["id"]
            seen.add(iid)
            s = self.monitor.stats(view)
            if s["lag_seconds"] is not None:
                lag.add_metric([iid], s["lag_seconds"])
            replicated.add_metric([iid], s["tables"]["replicated"])
            failed.add_metric([iid], s["tables"]["failed"])
            transferred.add_metric([iid], s["data_transferred_bytes"])
            for op, n in s["rows_applied"].items():
                rows.add_metric([iid, op], n)
            for name in STATES:
                state.add_metric([iid, name], 1.0 if view["state"] == name else 0.0)
            snapshot.add_metric([iid], s["snapshot_rows"])
            for t in s["snapshot_tables"]:
                table_rows.add_metric([iid, t["schema"], t["table"]], t["rows_copied"])
                table_done.add_metric([iid, t["schema"], t["table"]], float(t["complete"]))
            retention = s["binlog_retention"]
            if retention["purged_automatically"] is False:
                headroom.add_metric([iid], float("inf"))
            elif retention["headroom_seconds"] is not None:
                headroom.add_metric([iid], retention["headroom_seconds"])
        self.monitor.probe.forget(seen)
        return [
            lag,
            replicated,
            failed,
            transferred,
            rows,
            state,
            snapshot,
            table_rows,
            table_done,
            headroom,
        ]


_METRICS_EXAMPLE = """\
# HELP zeroetl_integration_lag_seconds Seconds between a change's commit at the source and ...
# TYPE zeroetl_integration_lag_seconds gauge
zeroetl_integration_lag_seconds{integration_id="0b5a3c1e-6f2d-4c8e-9a7b-2d4f6e8a0c1b"} 0.213
"""


def metrics_router(monitor: Monitor, *, public: bool = False) -> APIRouter:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(monitor))
    r = APIRouter(tags=["monitoring"])
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "Prometheus text exposition format 0.0.4",
            "content": {CONTENT_TYPE_PLAIN_0_0_4: {"example": _METRICS_EXAMPLE}},
        }
    }
    if not public:
        responses.update(schemas.errors())

    @r.get("/metrics", response_class=Response, responses=responses)
    def metrics() -> Response:
        """Prometheus text exposition format (0.0.4)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return r


def router(monitor: Monitor) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["monitoring"])

    @r.get(
        "/integrations/{ident}/stats",
        response_model=schemas.Stats,
        responses=schemas.errors("IntegrationNotFound"),
    )
    def integration_stats(ident: str) -> dict[str, Any]:
        """The numbers behind the integration's /metrics samples: rows applied per operation,
        bytes, lag, table counts, snapshot progress per table, binlog retention headroom."""
        return monitor.stats(monitor.service.get_integration(ident))

    @r.get(
        "/integrations/{ident}/series",
        response_model=schemas.Series,
        responses=schemas.errors("InvalidParameter", "IntegrationNotFound"),
    )
    def integration_series(
        ident: str,
        minutes: int = Query(60, ge=1, le=7 * 24 * 60, description="the window, in minutes"),
        step: int | None = Query(
            None, ge=1, le=86400, description="seconds per bucket (default: ~120 buckets)"
        ),
    ) -> dict[str, Any]:
        """Lag and rows inserted/updated/deleted per time bucket, from the activity tables."""
        return monitor.series(ident, minutes, step)

    return r
