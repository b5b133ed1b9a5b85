"""Sessions that may still log with an old binlog setting (part of `zeroetl source check`).

`SET GLOBAL binlog_format = 'ROW'` changes the value that *new* sessions start with; a session
opened before keeps its own until it reconnects, and its writes reach the binlog as statements,
which row-based replication cannot apply (zeroetl detects them and re-copies the tables they
touch; docs/architecture.md, "Faults"). Whether such sessions exist can be known only in part:

- where `performance_schema.variables_by_thread` exists and performance_schema is ON (MySQL 8
  by default), every session's own value is read: exact;
- MariaDB has no such table (10.11, even with performance_schema=ON), but
  `information_schema.SYSTEM_VARIABLES.GLOBAL_VALUE_ORIGIN` says whether the global value was set
  at run time (`SQL`) or comes from the config file, the command line or the defaults: in the
  latter case every session started with it;
- otherwise the process list tells whether any other session is open (other users' sessions
  only with the PROCESS privilege), not what it uses: then the answer is "cannot know", a
  warning that says what zeroetl does if it happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymysql

# Binlog settings a session has a value of its own for, and the value replication needs.
SESSION_SETTINGS = {
    "binlog_format": "ROW",
    "binlog_row_image": "FULL",
    "binlog_row_value_options": "",  # MySQL 8: not PARTIAL_JSON
    "binlog_transaction_compression": "OFF",  # MySQL 8
}
# Threads that never write: replicas reading the binlog, and the server's own.
_QUIET_COMMANDS = ("Binlog Dump", "Binlog Dump GTID", "Daemon", "Killed")
_SYSTEM_USERS = ("system user", "event_scheduler", "unauthenticated user")
_SHOWN = 5  # sessions named in a message

_IF_IT_HAPPENS = (
    "If such a session writes to a replicated table, zeroetl sees the statement in the binlog, "
    "puts the table in ResyncRequired (the integration shows needs_attention with the reason) "
    "and copies it again once the source logs rows only: nothing is lost, it costs a re-copy. "
    "To be sure now, reconnect the applications' sessions (e.g. restart their connection pools)."
)


@dataclass(frozen=True)
class Found:
    ok: bool
    actual: str
    fix: str = ""
    warning: bool = False


def good(name: str, value: str) -> bool:
    v = (value or "").upper()
    if name == "binlog_row_value_options":
        return "PARTIAL_JSON" not in v
    if name == "binlog_transaction_compression":
        return v in ("OFF", "0")
    return v == SESSION_SETTINGS[name]


def sessions_check(cur: Any, var: dict[str, str], mariadb: bool, privileges: set[str]) -> Found:
    """Called once the global settings are right: may an open session still use old ones?"""
    names = [n for n in SESSION_SETTINGS if n in var]
    rows = _per_session(cur, names, var)
    if rows is not None:
        return _judge_sessions(rows)
    origins = _origins(cur, names) if mariadb else {}
    changed = sorted(n for n in names if origins.get(n) == "SQL")
    if origins and not changed:
        return Found(
            True,
            "the binlog settings are the ones the server started with (no SET GLOBAL since), "
            "so every session has them",
        )
    sees_all = bool(privileges & {"PROCESS", "ALL", "ALL PRIVILEGES"})
    others = _other_sessions(cur) if sees_all else None
    if others == []:
        return Found(True, "no other session is open: every session starts with the settings above")
    why = (
        f"{', '.join(changed)} changed by SET GLOBAL since the server started"
        if changed
        else "cannot tell whether the binlog settings changed since the server started"
    )
    if others is None:
        seen = "other sessions cannot be listed without the PROCESS privilege"
        extra = " GRANT PROCESS ON *.* to this user lets source check list them."
    else:
        seen = (
            f"{len(others)} other session(s) open ({_few(others)}); which settings each uses "
            "cannot be seen here (no performance_schema.variables_by_thread)"
        )
        extra = ""
    return Found(
        False,
        f"{why}; {seen}: zeroetl cannot know whether one opened before the change still logs "
        "statements",
        _IF_IT_HAPPENS + extra,
        warning=True,
    )


def _judge_sessions(rows: list[tuple[int, str, str, str, str]]) -> Found:
    """rows: (id, user, host, setting, value) of every other session."""
    stale: dict[int, tuple[str, list[str]]] = {}
    every: set[int] = set()
    for sid, user, host, name, value in rows:
        every.add(sid)
        if not good(name, value):
            who = f"{user or '?'}@{host or '?'}"
            stale.setdefault(sid, (who, []))[1].append(f"{name}={value or chr(39) * 2}")
    if not stale:
        return Found(
            True,
            f"every open session uses the right settings ({len(every)} other session(s), "
            "read from performance_schema)",
        )
    ids = sorted(stale)
    shown = "; ".join(f"id {i} ({stale[i][0]}: {', '.join(stale[i][1])})" for i in ids[:_SHOWN])
    more = f"; and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    kills = " ".join(f"KILL CONNECTION {i};" for i in ids[:_SHOWN])
    return Found(
        False,
        f"{len(ids)} open session(s) still use an old binlog setting: {shown}{more}",
        "A session keeps the settings it started with until it reconnects, and writes it makes "
        "meanwhile reach the binlog in a form replication cannot apply: reconnect those "
        f"sessions (e.g. restart the applications' connection pools) or end them ({kills}), "
        "then check again.",
    )


def _per_session(
    cur: Any, names: list[str], var: dict[str, str]
) -> list[tuple[int, str, str, str, str]] | None:
    """Every other session's own values, or None where the server cannot show them."""
    if var.get("performance_schema", "OFF").upper() not in ("ON", "1") or not names:
        return None
    try:
        cur.execute(
            "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
            "'performance_schema' AND TABLE_NAME = 'variables_by_thread'"
        )
        row = cur.fetchone()
        if not row or not row[0]:
            return None
        marks = ", ".join(["%s"] * len(names))
        quiet = ", ".join(["%s"] * len(_QUIET_COMMANDS))
        cur.execute(
            "SELECT t.PROCESSLIST_ID, t.PROCESSLIST_USER, t.PROCESSLIST_HOST, v.VARIABLE_NAME,"
            " v.VARIABLE_VALUE FROM performance_schema.variables_by_thread v"
            " JOIN performance_schema.threads t ON t.THREAD_ID = v.THREAD_ID"
            f" WHERE v.VARIABLE_NAME IN ({marks}) AND t.PROCESSLIST_ID IS NOT NULL"
            " AND t.PROCESSLIST_ID <> CONNECTION_ID()"
            f" AND coalesce(t.PROCESSLIST_COMMAND, '') NOT IN ({quiet})",
            [*names, *_QUIET_COMMANDS],
        )
        return [
            (int(r[0]), str(r[1] or ""), str(r[2] or ""), str(r[3]).lower(), str(r[4] or ""))
            for r in cur.fetchall()
        ]
    except pymysql.err.MySQLError:  # no privilege on it, or another server's shape
        return None


def _origins(cur: Any, names: list[str]) -> dict[str, str]:
    """MariaDB: where each global value came from (SQL: a SET GLOBAL at run time)."""
    try:
        marks = ", ".join(["%s"] * len(names))
        cur.execute(
            "SELECT lower(VARIABLE_NAME), GLOBAL_VALUE_ORIGIN FROM information_schema.SYSTEM_VARIABLES"
            f" WHERE VARIABLE_NAME IN ({marks})",
            [n.upper() for n in names],
        )
        return {str(n): str(o or "").upper() for n, o in cur.fetchall()}
    except pymysql.err.MySQLError:
        return {}


def _other_sessions(cur: Any) -> list[tuple[int, str, str]] | None:
    """Other client sessions (id, user, host) that could write; None if not listable."""
    quiet = ", ".join(["%s"] * len(_QUIET_COMMANDS))
    system = ", ".join(["%s"] * len(_SYSTEM_USERS))
    try:
        cur.execute(
            "SELECT ID, USER, HOST FROM information_schema.PROCESSLIST"
            f" WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ({quiet})"
            f" AND USER NOT IN ({system}) ORDER BY ID",
            [*_QUIET_COMMANDS, *_SYSTEM_USERS],
        )
        return [(int(r[0]), str(r[1] or ""), str(r[2] or "")) for r in cur.fetchall()]
    except pymysql.err.MySQLError:
        return None


def _few(sessions: list[tuple[int, str, str]]) -> str:
    shown = ", ".join(f"id {i} {u}@{h.rsplit(':', 1)[0]}" for i, u, h in sessions[:_SHOWN])
    return shown + (f" and {len(sessions) - _SHOWN} more" if len(sessions) > _SHOWN else "")
