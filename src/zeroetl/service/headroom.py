"""Binlog retention headroom: how long until the source purges the binlog our checkpoint needs.

MySQL and MariaDB purge a binlog file once its last modification is older than the retention
(`binlog_expire_logs_seconds`, else `expire_logs_days`); the check runs when the server rotates
or flushes its logs, so a purge can come later than computed, never earlier. A file stops being
modified when the next one starts, and the next file's FORMAT_DESCRIPTION event carries that
start time, so:

    headroom = retention - (now - start time of the file after the checkpoint's)

While the checkpoint is in the file being written, the clock has not started: headroom is the
whole retention. With no automatic purge (retention 0) headroom is infinite. A manual
`PURGE BINARY LOGS` is not foreseeable. The result is cached per integration and read from the
source at most once per `ttl_s` (one short connection, plus a binlog dump of one event).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from dataclasses import dataclass, replace

import pymysql

from zeroetl.errors import ZeroEtlError
from zeroetl.model import Position
from zeroetl.sources.mysql import constants as C
from zeroetl.sources.mysql.binlog import BinlogReader, binlog_files
from zeroetl.sources.mysql.connection import SourceParams, scrub

log = logging.getLogger(__name__)

TTL_S = 60.0


@dataclass(frozen=True)
class _Entry:
    at: float  # monotonic time of the reading
    file: str
    retention_s: float  # 0: never purged automatically
    closed_at: float | None  # epoch time the checkpoint's file stopped growing; None: active
    error: str = ""  # the source could not tell (cached too: a down source costs one try a TTL)


class HeadroomProbe:
    """Thread-safe cache of each integration's source retention facts."""

    def __init__(self, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self._cache: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def seconds(
        self, integration_id: str, params: SourceParams, checkpoint_file: str
    ) -> tuple[float | None, str]:
        """(headroom in seconds or math.inf when never purged, "") or (None, why unknown)."""
        with self._lock:
            entry = self._cache.get(integration_id)
        fresh = entry is not None and time.monotonic() - entry.at < self.ttl_s
        if entry is None or not fresh or entry.file != checkpoint_file:
            try:
                entry = read_retention(integration_id, params, checkpoint_file)
            except (ZeroEtlError, pymysql.err.MySQLError, OSError) as exc:
                why = scrub(exc.message if isinstance(exc, ZeroEtlError) else str(exc),
                            params.password)  # fmt: skip
                log.info("binlog retention of integration %s unknown: %s", integration_id, why)
                entry = _Entry(time.monotonic(), checkpoint_file, 0.0, None, why)
            with self._lock:
                self._cache[integration_id] = entry
        if entry.error:
            return None, entry.error
        return headroom(entry.retention_s, entry.closed_at, time.time()), ""

    def forget(self, keep: set[str]) -> None:
        with self._lock:
            for iid in set(self._cache) - keep:
                del self._cache[iid]


def headroom(retention_s: float, closed_at: float | None, now: float) -> float:
    if retention_s <= 0:
        return math.inf
    if closed_at is None:
        return retention_s
    return retention_s - max(0.0, now - closed_at)


def read_retention(integration_id: str, params: SourceParams, checkpoint_file: str) -> _Entry:
    # Bounded (it runs while /metrics waits); keeps TLS and the CA. The binlog reader below
    # connects with the same bounds.
    quick = replace(params, connect_timeout=5.0, io_timeout=10.0)
    conn = quick.connect()
    try:
        retention = _retention_s(conn)
        files = [name for name, _size in binlog_files(conn)]
    finally:
        conn.close()
    closed_at = None
    if retention > 0 and checkpoint_file in files:
        later = files[files.index(checkpoint_file) + 1 :]
        if later:
            closed_at = first_event_time(quick, later[0], _probe_server_id(integration_id))
    return _Entry(time.monotonic(), checkpoint_file, retention, closed_at)


def _retention_s(conn: pymysql.connections.Connection) -> float:
    """binlog_expire_logs_seconds wins when set (MySQL 8, MariaDB 10.6+), else expire_logs_days."""
    with conn.cursor() as cur:
        cur.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
            "('binlog_expire_logs_seconds', 'expire_logs_days')"
        )
        found = {str(k): str(v) for k, v in cur.fetchall()}
    seconds = float(found.get("binlog_expire_logs_seconds") or 0)
    if seconds > 0:
        return seconds
    return float(found.get("expire_logs_days") or 0) * 86400.0


def first_event_time(params: SourceParams, file: str, server_id: int) -> float | None:
    """The timestamp of `file`'s FORMAT_DESCRIPTION event: when the server started the file.

    SHOW BINLOG EVENTS shows no times, so this reads the file's head over the dump protocol
    (the REPLICATION SLAVE privilege the integration already has)."""
    reader = BinlogReader(
        params, Position(file, 4, ""), server_id=server_id, heartbeat_s=1.0, read_timeout_s=10.0
    )
    try:
        for n, ev in enumerate(reader):
            if ev.type == C.FORMAT_DESCRIPTION_EVENT and ev.timestamp:
                return float(ev.timestamp)
            if n >= 3:
                return None
    finally:
        reader.close()
    return None


def _probe_server_id(integration_id: str) -> int:
    """A replica id of its own: a dump under the integration's id would disconnect its stream
    (the source drops an older connection with the same server id)."""
    return (1 << 29) | (zlib.crc32(f"{integration_id}/headroom".encode()) & 0x0FFFFFFF)
