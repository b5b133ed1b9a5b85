"""Source prerequisites: is this server ready to be replicated from?

Each check says what it found and, when it fails, the exact statement or config line that fixes
it. Checks run in a fixed order; each ends `ok`, `warning` (worth knowing, never blocking),
`fail` or `skipped` (another check's failure makes it moot), and `CheckReport.ready` is true
only when none fails. Nothing here ever prints the password (driver messages are scrubbed).

`SET GLOBAL` changes the value new sessions start with; sessions already open keep theirs until
they reconnect, and a session that still logs statements loses its writes for replication. So
`check_source(..., sessions=True)` (`zeroetl source check`, creating an integration) also looks
at the sessions open on the server (prereq_sessions.py) and says whether it can know.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import pymysql

from zeroetl.errors import SourceError, SourceUnavailable
from zeroetl.sources.base import Check, CheckReport
from zeroetl.sources.mysql.auth import deadline
from zeroetl.sources.mysql.connection import PASSWORD_ENV, SourceParams, scrub
from zeroetl.sources.mysql.prereq_sessions import SESSION_SETTINGS, sessions_check

DAY = 86_400
# Every query of the checks answers within QUERY_TIMEOUT_S and all of them within CHECKS_S,
# whatever the server does (a silent or trickling server must not hold a caller for long).
QUERY_TIMEOUT_S = 15.0
CHECKS_S = 30.0


def _restart_cnf(line: str) -> str:
    """A setting the server reads at start only."""
    return f"{line}  (in the [mysqld] section of the server's config file, then restart the server)"


def _set_global(name: str, value: str, *, session: bool) -> str:
    """The fix of a dynamic setting: SET GLOBAL now (no restart needed), the config file to keep
    it. `session`: the setting is per session too, so sessions already open keep their value."""
    sql = value if value.isdigit() or value == "OFF" else f"'{value}'"
    fix = f"SET GLOBAL {name} = {sql};"
    if session:
        fix += (
            "  Sessions already open keep their old value until they reconnect: reconnect them "
            "(e.g. restart the applications' connection pools)."
        )
    cnf = f"{name} = {value or chr(39) * 2}"
    return (
        f"{fix}  To keep it after a server restart, also put `{cnf}` in the [mysqld] section "
        "of the server's config file (MySQL 8: or use SET PERSIST)."
    )


_CONNECT_FIX = (
    "check host, port, user and password in the source URL, and that the server accepts TCP "
    "connections from this machine"
)
_NO_PASSWORD_FIX = (
    "no password was sent: put it in the URL (mysql://USER:PASSWORD@HOST), or (zeroetl's "
    f"command line) set {PASSWORD_ENV} or add ?password_file=/path/to/file to the URL, or "
    "(HTTP API) send it as source_password"
)


def _connect_failed(exc: SourceError, params: SourceParams) -> Check:
    message = scrub(exc.message, params.password)
    fix = exc.hint or _CONNECT_FIX
    if not params.password and "using password: NO" in message:
        fix = _NO_PASSWORD_FIX
    return Check("connect", False, message, fix)


def check_source(params: SourceParams, *, sessions: bool = False) -> CheckReport:
    """Every prerequisite, in a bounded time: a source that stops answering, or answers with
    something unexpected, fails the "connect" check instead of hanging or raising.

    `sessions`: also check the sessions open on the server (for `source check` and create; the
    engine's periodic re-check leaves them out: it sees statements in the binlog itself)."""
    report = CheckReport(source=params.redacted_url())
    try:
        conn = params.connect(
            read_timeout=params.io_timeout or QUERY_TIMEOUT_S,
            write_timeout=params.io_timeout or QUERY_TIMEOUT_S,
        )
    except SourceError as exc:
        report.error = exc
        report.checks.append(_connect_failed(exc, params))
        return report
    try:
        with deadline(conn, CHECKS_S):
            _run_checks(conn, params, report, sessions)
    except Exception as exc:  # lost, timed out, or an answer we cannot read: not ready
        if isinstance(exc, pymysql.err.MySQLError) and exc.args:
            why = scrub(str(exc.args[-1]), params.password)
        else:
            why = f"unexpected answer ({type(exc).__name__})"
        report.checks[:] = []
        report.error = SourceUnavailable(
            f"source {params.redacted_url()} stopped answering the prerequisite checks: {why}"
        )
        report.checks.append(Check("connect", False, report.error.message, _CONNECT_FIX))
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    return report


def _run_checks(conn: Any, params: SourceParams, report: CheckReport, sessions: bool) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION(), CURRENT_USER()")
        version, current = cur.fetchone()
        cur.execute("SHOW GLOBAL VARIABLES")
        var = {str(k).lower(): str(v) for k, v in cur.fetchall()}
        cur.execute("SHOW GRANTS FOR CURRENT_USER()")
        grants = [str(r[0]) for r in cur.fetchall()]
        growth = _binlog_growth(cur)
    report.version = str(version)
    report.flavor = "mariadb" if "mariadb" in report.version.lower() else "mysql"
    mariadb = report.flavor == "mariadb"
    add = report.checks.append
    add(Check("connect", True, f"{report.flavor} {report.version} as {current}"))

    log_bin = var.get("log_bin", "OFF").upper()
    binlog_on = log_bin in ("ON", "1")
    add(Check("log_bin", binlog_on, f"log_bin={log_bin}", _restart_cnf("log_bin = binlog")))
    for name in ("binlog_format", "binlog_row_image", "binlog_row_metadata"):
        want = "ROW" if name == "binlog_format" else "FULL"
        got = var.get(name)
        if got is None:
            add(
                Check(
                    name,
                    False,
                    f"{name} is not supported by {report.flavor} {report.version}",
                    "upgrade to MySQL 8.0+ or MariaDB 10.6+",
                )
            )
            continue
        add(
            Check(
                name,
                got.upper() == want,
                f"{name}={got}",
                _set_global(name, want, session=name in SESSION_SETTINGS),
            )
        )
    sid = var.get("server_id", "0")
    add(
        Check(
            "server_id",
            sid not in ("", "0"),
            f"server_id={sid}",
            _set_global("server_id", "1", session=False),
        )
    )
    privileges, global_privs = _privileges(grants, str(current), mariadb)
    add(privileges)
    add(_retention(var, growth, binlog_on))
    if not mariadb:
        comp = var.get("binlog_transaction_compression", "OFF").upper()
        add(
            Check(
                "binlog_transaction_compression",
                comp in ("OFF", "0"),
                f"binlog_transaction_compression={comp}",
                _set_global("binlog_transaction_compression", "OFF", session=True),
            )
        )
        opts = var.get("binlog_row_value_options", "")
        add(
            Check(
                "binlog_row_value_options",
                "PARTIAL_JSON" not in opts.upper(),
                "binlog_row_value_options=" + (opts or "''"),
                _set_global("binlog_row_value_options", "", session=True),
            )
        )
    if sessions:
        settings_ok = binlog_on and all(
            c.ok for c in report.checks if c.name in SESSION_SETTINGS or c.name == "log_bin"
        )
        if not settings_ok:
            add(
                Check(
                    "sessions",
                    True,
                    "not checked until the binlog settings above are right",
                    skipped=True,
                )
            )
        else:
            with conn.cursor() as cur:
                found = sessions_check(cur, var, mariadb, global_privs)
            add(Check("sessions", found.ok, found.actual, found.fix, warning=found.warning))


_GRANT = re.compile(r"^GRANT (.+?) ON (\S+) TO ", re.IGNORECASE)


def _privileges(grants: list[str], current: str, mariadb: bool) -> tuple[Check, set[str]]:
    """Parse SHOW GRANTS: global privileges (ON *.*) and where SELECT is granted."""
    global_privs: set[str] = set()
    select_scopes: list[str] = []
    for g in grants:
        m = _GRANT.match(g)
        if not m:
            continue  # role grants, PROXY, ...
        privs = {p.strip().upper() for p in re.sub(r"\([^)]*\)", "", m.group(1)).split(",")}
        scope = m.group(2).replace("`", "")
        if scope == "*.*":
            global_privs |= privs
        if "SELECT" in privs or "ALL PRIVILEGES" in privs or "ALL" in privs:
            select_scopes.append(scope)
    everything = bool(global_privs & {"ALL PRIVILEGES", "ALL"})
    client_names = {"REPLICATION CLIENT", "BINLOG MONITOR", "SUPER"}
    missing = []
    if not everything and "REPLICATION SLAVE" not in global_privs:
        missing.append("REPLICATION SLAVE")
    if not everything and not global_privs & client_names:
        missing.append("REPLICATION CLIENT")
    if not select_scopes:
        missing.append("SELECT")
    user, _, host = current.rpartition("@")
    who = f"'{user}'@'{host}'"
    shown = sorted(global_privs) or ["USAGE"]
    actual = f"global: {', '.join(shown)}"
    if select_scopes and "*.*" not in select_scopes:
        actual += f"; SELECT on {', '.join(select_scopes)}"
    if mariadb and "BINLOG MONITOR" in global_privs:
        actual += " (BINLOG MONITOR is MariaDB's name for REPLICATION CLIENT)"
    fix = f"GRANT {', '.join(missing)} ON *.* TO {who};" if missing else ""
    return Check("privileges", not missing, actual, fix), global_privs


def _binlog_growth(cur: Any) -> float | None:
    """Bytes of binlog written per day on average since the server started, if visible."""
    try:
        cur.execute("SHOW BINARY LOGS")
        total = sum(int(r[1]) for r in cur.fetchall())
        cur.execute("SHOW GLOBAL STATUS LIKE 'Uptime'")
        row = cur.fetchone()
        uptime = int(row[1]) if row else 0
    except pymysql.err.MySQLError:
        return None
    if uptime < 60:
        return None
    return total / uptime * DAY


def _retention(var: dict[str, str], growth: float | None, binlog_on: bool) -> Check:
    if not binlog_on:
        return Check(
            "binlog_retention", True, "binary logging is off (log_bin=OFF): no binlog to keep",
            skipped=True,
        )  # fmt: skip
    secs = int(float(var.get("binlog_expire_logs_seconds", "0") or 0))
    if not secs:
        secs = int(float(var.get("expire_logs_days", "0") or 0) * DAY)
    est = f"; binlog grows ~{growth / 1e6:.1f} MB/day since server start" if growth else ""
    if secs == 0:
        return Check(
            "binlog_retention",
            True,
            "binlogs are never purged automatically (binlog_expire_logs_seconds=0): "
            "mind the disk" + est,
        )
    actual = f"binlogs kept {secs / DAY:g} day(s) ({secs} s){est}"
    return Check(
        "binlog_retention",
        secs >= DAY,
        actual,
        _set_global("binlog_expire_logs_seconds", "604800", session=False)
        + "  (long enough to cover the initial snapshot and any downtime)",
        warning=True,
    )
