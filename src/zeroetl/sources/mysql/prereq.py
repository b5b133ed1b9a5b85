"""Source prerequisites (PRODUCT.md section 3): is this server ready to be replicated from?

Each check says what it found and, when it fails, the exact statement or config line that fixes
it. Checks run in a fixed order; `CheckReport.ready` is true only when every non-warning check
passes. Nothing here ever prints the password (driver messages are scrubbed).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import pymysql

from zeroetl.errors import SourceError, SourceUnavailable, ZeroEtlError
from zeroetl.sources.mysql.auth import deadline
from zeroetl.sources.mysql.connection import SourceParams, scrub

DAY = 86_400
# Every query of the checks answers within QUERY_TIMEOUT_S and all of them within CHECKS_S,
# whatever the server does (a silent or trickling server must not hold a caller for long).
QUERY_TIMEOUT_S = 15.0
CHECKS_S = 30.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    actual: str
    fix: str = ""
    warning: bool = False  # a failing warning does not make the source unready

    def __post_init__(self) -> None:
        if self.ok:  # a fix is only shown for what needs fixing
            object.__setattr__(self, "fix", "")


@dataclass
class CheckReport:
    source: str  # redacted URL
    flavor: str = ""  # "mariadb" | "mysql" | "" (not reached)
    version: str = ""
    checks: list[Check] = field(default_factory=list)
    # Why the source could not be checked (for callers that raise it; not in to_dict()).
    error: ZeroEtlError | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return bool(self.checks) and all(c.ok or c.warning for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "flavor": self.flavor,
            "version": self.version,
            "ready": self.ready,
            "checks": [asdict(c) for c in self.checks],
        }


def _cnf(line: str) -> str:
    return f"{line}  (in the [mysqld] section of the server's config file, then restart)"


_CONNECT_FIX = (
    "check host, port, user and password in the source URL, and that the server accepts TCP "
    "connections from this machine"
)


def check_source(params: SourceParams) -> CheckReport:
    """Every prerequisite, in a bounded time: a source that stops answering, or answers with
    something unexpected, fails the "connect" check instead of hanging or raising."""
    report = CheckReport(source=params.redacted_url())
    try:
        conn = params.connect(
            read_timeout=params.io_timeout or QUERY_TIMEOUT_S,
            write_timeout=params.io_timeout or QUERY_TIMEOUT_S,
        )
    except SourceError as exc:
        report.error = exc
        report.checks.append(
            Check("connect", False, scrub(exc.message, params.password), exc.hint or _CONNECT_FIX)
        )
        return report
    try:
        with deadline(conn, CHECKS_S):
            _run_checks(conn, params, report)
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


def _run_checks(conn: Any, params: SourceParams, report: CheckReport) -> None:
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
    add(Check("log_bin", log_bin in ("ON", "1"), f"log_bin={log_bin}", _cnf("log_bin = binlog")))
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
                f"SET GLOBAL {name} = '{want}';  and  " + _cnf(f"{name} = {want}"),
            )
        )
    sid = var.get("server_id", "0")
    add(
        Check(
            "server_id",
            sid not in ("", "0"),
            f"server_id={sid}",
            "SET GLOBAL server_id = 1;  and  " + _cnf("server_id = 1"),
        )
    )
    add(_privileges(grants, str(current), mariadb))
    add(_retention(var, growth))
    if not mariadb:
        comp = var.get("binlog_transaction_compression", "OFF").upper()
        add(
            Check(
                "binlog_transaction_compression",
                comp in ("OFF", "0"),
                f"binlog_transaction_compression={comp}",
                "SET GLOBAL binlog_transaction_compression = OFF;  and  "
                + _cnf("binlog_transaction_compression = OFF"),
            )
        )
        opts = var.get("binlog_row_value_options", "")
        add(
            Check(
                "binlog_row_value_options",
                "PARTIAL_JSON" not in opts.upper(),
                "binlog_row_value_options=" + (opts or "''"),
                "SET GLOBAL binlog_row_value_options = '';  and  "
                + _cnf("binlog_row_value_options = ''"),
            )
        )


_GRANT = re.compile(r"^GRANT (.+?) ON (\S+) TO ", re.IGNORECASE)


def _privileges(grants: list[str], current: str, mariadb: bool) -> Check:
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
    return Check("privileges", not missing, actual, fix)


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


def _retention(var: dict[str, str], growth: float | None) -> Check:
    secs = int(float(var.get("binlog_expire_logs_seconds", "0") or 0))
    if not secs:
        secs = int(float(var.get("expire_logs_days", "0") or 0) * DAY)
    est = f"; binlog grows ~{growth / 1e6:.1f} MB/day since server start" if growth else ""
    if secs == 0:
        return Check("binlog_retention", True, "binlogs never expire" + est, warning=True)
    actual = f"binlogs kept {secs / DAY:g} day(s) ({secs} s){est}"
    return Check(
        "binlog_retention",
        secs >= DAY,
        actual,
        "SET GLOBAL binlog_expire_logs_seconds = 604800;  and  "
        + _cnf("binlog_expire_logs_seconds = 604800")
        + "  (long enough to cover the initial snapshot and any downtime)",
        warning=True,
    )
