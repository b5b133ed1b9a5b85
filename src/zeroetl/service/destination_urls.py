"""An integration's destination URL: checked before anything is recorded, opened by the worker.

Without a URL an integration writes the warehouse's DuckDB file `databases/<target>.duckdb`,
as always. With one, the data and the authoritative bookkeeping live in ClickHouse
(`chdb:///dir`, embedded, or `clickhouse://user@host:8123/?cluster=NAME&secure=1`, a server),
and the DuckDB file holds a mirror of the bookkeeping for monitoring (mirror.py).

A URL never holds a secret: one with a password is refused (the server's password comes from
`ZEROETL_CLICKHOUSE_PASSWORD` or `ZEROETL_CLICKHOUSE_PASSWORD_FILE` in the service's
environment), so the catalog, the API and the logs can show it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zeroetl.catalog.errors import InvalidParameter
from zeroetl.destinations import base as destinations
from zeroetl.destinations.clickhouse.cluster import not_ready
from zeroetl.destinations.clickhouse.conn import (
    INTERVAL_OPTION,
    SERVER_INSERT_INTERVAL_MS,
    HttpTransport,
    ServerParams,
    chdb_url_parts,
)
from zeroetl.errors import ConfigError, DestinationError

SCHEMES = ("chdb", "clickhouse")
REACH_TIMEOUT_S = 10.0  # the up-front check of a server, like the source's check
EXAMPLES = "chdb:///var/lib/zeroetl/ch or clickhouse://user@host:8123/?cluster=NAME"


def check(url: str, warehouse: Path) -> str:
    """The URL in the form the catalog keeps (chDB paths resolved), or InvalidParameter."""
    if not isinstance(url, str) or len(url) > 2048 or "\0" in url:
        raise InvalidParameter("invalid destination URL", hint=f"e.g. {EXAMPLES}")
    scheme, sep, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if scheme == "duckdb":
        raise InvalidParameter(
            "an integration of the service writes DuckDB by default",
            hint="leave out the destination for DuckDB; a URL names ClickHouse: " + EXAMPLES,
        )
    if not sep or scheme not in SCHEMES:
        raise InvalidParameter(
            f"unknown destination {url.split('://')[0]!r}"
            if sep
            else f"not a destination URL: {url!r}",
            hint=f"destinations: {', '.join(SCHEMES)}; e.g. {EXAMPLES}",
        )
    if scheme == "chdb":
        try:
            path, interval_ms = chdb_url_parts(url.strip())
        except ConfigError as exc:
            raise InvalidParameter(exc.message, hint=exc.hint) from None
        given = INTERVAL_OPTION in rest  # kept as given, even when it equals the default
        return (
            "chdb://"
            + str(_chdb_dir(path, warehouse))
            + (f"?{INTERVAL_OPTION}={interval_ms}" if given else "")
        )
    try:
        params = ServerParams.from_url(url.strip())
    except ConfigError as exc:
        raise InvalidParameter(exc.message, hint=exc.hint) from None
    query = "&".join(
        p
        for p in (
            f"cluster={params.cluster}" if params.cluster else "",
            "secure=1" if params.secure else "",
            f"{INTERVAL_OPTION}={params.insert_interval_ms}"
            if params.insert_interval_ms != SERVER_INSERT_INTERVAL_MS
            else "",
        )
        if p
    )
    return f"clickhouse://{params.user}@{params.host}:{params.port}/" + (
        f"?{query}" if query else ""
    )


def _chdb_dir(path: str, warehouse: Path) -> Path:
    if not path.startswith("/") or "?" in path or "#" in path:
        raise InvalidParameter(
            f"a chDB destination needs an absolute directory, not {path!r}",
            hint="chdb:///var/lib/zeroetl/ch",
        )
    resolved = Path(path).resolve()
    home = warehouse.resolve()
    # The warehouse holds the catalog and its secrets; SQL sessions may read databases/.
    if resolved == home or any(
        resolved == home / d or (home / d) in resolved.parents for d in ("databases", "tmp")
    ):
        raise InvalidParameter(
            f"chDB directory {resolved} would mix with the warehouse's own files",
            hint=f"use a directory of its own, e.g. {home / 'clickhouse'}",
        )
    if resolved.exists() and not resolved.is_dir():
        raise InvalidParameter(f"chDB directory {resolved} is a file")
    return resolved


def is_chdb(url: str | None) -> bool:
    return bool(url) and str(url).lower().startswith("chdb://")


def _place(url: str | None) -> str | None:
    """Where a destination URL writes: its options (the insert interval) left out."""
    return url.partition("?")[0] if url and is_chdb(url) else url


def check_unique(
    url: str,
    live: Sequence[tuple[str, str | None]],
    kept: Sequence[tuple[str, str | None]] = (),
) -> None:
    """`live`: (integration name, destination URL) of the integrations not deleted; `kept`:
    the same of deleted ones whose target database is still served (its readers use the
    destination). One integration per destination (MySQL database names become ClickHouse
    database names, so two integrations would write the same tables), and one chDB directory
    per process (chDB runs one engine per process)."""
    for name, other in live:
        if _place(other) == _place(url):
            raise InvalidParameter(
                f"integration {name} already replicates into {url}",
                hint="one integration per ClickHouse destination: its MySQL databases become "
                "ClickHouse databases of the same names",
            )
    for name, other in [*live, *kept]:
        if is_chdb(url) and is_chdb(other) and _place(other) != _place(url):
            raise InvalidParameter(
                f"this service already runs embedded ClickHouse on {other} (integration {name})",
                hint="chDB runs one engine per process, so one chdb:// directory per service; "
                "use a ClickHouse server (clickhouse://) for a second destination, or drop the "
                "target database of that integration first",
            )


def check_reachable(url: str) -> None:
    """A `clickhouse://` server answers a query with the service's password, and with
    `?cluster=` knows the cluster and sets the macros its tables need (InvalidParameter saying
    why not). chDB is not opened here: the process may open one directory only, and the
    worker reports what keeps it from opening."""
    if is_chdb(url):
        return
    params = ServerParams.from_url(url)
    try:
        transport = HttpTransport(params, timeout_s=REACH_TIMEOUT_S)
        try:
            transport.query("SELECT 1")
            problem = not_ready(transport.query, params.cluster) if params.cluster else ""
        finally:
            transport.close()
    except DestinationError as exc:
        raise InvalidParameter(
            f"ClickHouse at {params.redacted()} cannot be used: {exc.message}",
            hint="check the host and port, the user's grants, and the service's "
            "ZEROETL_CLICKHOUSE_PASSWORD (or ZEROETL_CLICKHOUSE_PASSWORD_FILE)",
        ) from None
    if problem:
        raise InvalidParameter(
            f"ClickHouse at {params.redacted()} cannot hold a cluster's tables: {problem}",
            hint="name a cluster of the server's remote_servers (SELECT cluster FROM "
            "system.clusters) whose hosts set the {shard} and {replica} macros",
        )


def open_destination(url: str, integration_id: str, **options: Any) -> destinations.Destination:
    """The ClickHouse destination of an integration, by the registry (destinations/base.py)."""
    return destinations.open_url(url, integration_id, **options)
