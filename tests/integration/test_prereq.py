import shutil
import tempfile
from pathlib import Path

import pytest
from tests.service_support import wait_for

from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.prereq import check_source

pytestmark = pytest.mark.integration

ORDER = [
    "connect",
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "server_id",
    "privileges",
    "binlog_retention",
]


def _server(server_id: int, *extra: str):
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-prereq-"))
    server = MariaDBServer(tmp / "data", free_port(), server_id=server_id, extra_args=extra)
    server.start()
    server.create_replication_user()
    return server, tmp


@pytest.fixture(scope="module")
def misconfigured():
    """Every binlog setting wrong at once (and retention short)."""
    server, tmp = _server(
        0,
        "--binlog-format=MIXED",
        "--binlog-row-image=MINIMAL",
        "--binlog-row-metadata=MINIMAL",
        "--expire-logs-days=0.5",
    )
    yield server
    server.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def _by_name(report):
    return {c.name: c for c in report.checks}


def test_fixture_source_is_ready(source_url) -> None:
    report = check_source(SourceParams.from_url(source_url))
    assert [c.name for c in report.checks] == ORDER
    assert report.ready, [c for c in report.checks if not c.ok]
    assert report.flavor == "mariadb" and report.version.startswith("10.")
    assert all(c.fix == "" for c in report.checks)
    priv = _by_name(report)["privileges"]
    assert "BINLOG MONITOR" in priv.actual
    assert "zeroetl:zeroetl" not in str(report.to_dict())


def test_each_wrong_setting_fails_with_its_fix(misconfigured) -> None:
    report = check_source(SourceParams.from_url(misconfigured.url()))
    assert not report.ready
    checks = _by_name(report)
    assert [c.name for c in report.checks] == ORDER
    assert checks["log_bin"].ok and checks["privileges"].ok
    assert not checks["binlog_format"].ok
    assert checks["binlog_format"].actual == "binlog_format=MIXED"
    fix = checks["binlog_format"].fix
    assert fix.startswith("SET GLOBAL binlog_format = 'ROW';")
    # SET GLOBAL needs no restart, but sessions already open keep the old format; the config
    # file keeps it across restarts.
    assert "keep their old value until they reconnect" in fix and "then restart" not in fix
    assert "binlog_format = ROW" in fix and "config file" in fix
    assert checks["binlog_format"].status == "fail"
    assert checks["binlog_row_image"].fix.startswith("SET GLOBAL binlog_row_image = 'FULL';")
    assert checks["binlog_row_metadata"].actual == "binlog_row_metadata=MINIMAL"
    assert checks["binlog_row_metadata"].fix.startswith("SET GLOBAL binlog_row_metadata = 'FULL';")
    # MariaDB 10.11 clamps server_id to >= 1, so only MySQL can fail this one.
    assert checks["server_id"].ok and checks["server_id"].actual == "server_id=1"
    retention = checks["binlog_retention"]
    assert not retention.ok and retention.warning and retention.status == "warning"
    assert {c["name"]: c["status"] for c in report.to_dict()["checks"]}["binlog_retention"] == (
        "warning"
    )
    assert "0.5 day" in retention.actual
    assert "binlog_expire_logs_seconds" in retention.fix


def test_fixing_with_the_statements_makes_it_ready(misconfigured) -> None:
    report = check_source(SourceParams.from_url(misconfigured.url()))
    conn = misconfigured.root()
    try:
        with conn.cursor() as cur:
            for c in report.checks:
                if not c.ok and not c.warning:
                    cur.execute(c.fix.split(";")[0])
        fixed = check_source(SourceParams.from_url(misconfigured.url()))
        assert fixed.ready, [c for c in fixed.checks if not c.ok]
        # Only the retention warning is left.
        assert [c.name for c in fixed.checks if not c.ok] == ["binlog_retention"]
    finally:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL binlog_format = 'MIXED'")
            cur.execute("SET GLOBAL binlog_row_image = 'MINIMAL'")
            cur.execute("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
        conn.close()


def test_binlog_off() -> None:
    server, tmp = _server(1, "--skip-log-bin")
    try:
        report = check_source(SourceParams.from_url(server.url()))
        checks = _by_name(report)
        assert not report.ready
        assert not checks["log_bin"].ok and checks["log_bin"].actual == "log_bin=OFF"
        assert checks["log_bin"].fix.startswith("log_bin = binlog")
        assert "restart the server" in checks["log_bin"].fix  # read at start only
        # Retention means nothing without binlogs: said so, not "never expire".
        retention = checks["binlog_retention"]
        assert retention.status == "skipped" and "binary logging is off" in retention.actual
        assert "expire" not in retention.actual
        sessions = _by_name(check_source(SourceParams.from_url(server.url()), sessions=True))
        assert sessions["sessions"].status == "skipped"
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_missing_privileges(mariadb, test_db) -> None:
    conn = mariadb.root()
    with conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'weak'@'%' IDENTIFIED BY 's3cr3t-pw'")
        cur.execute(f"GRANT SELECT ON `{test_db}`.* TO 'weak'@'%'")
    try:
        url = f"mysql://weak:s3cr3t-pw@127.0.0.1:{mariadb.port}"
        report = check_source(SourceParams.from_url(url))
        priv = _by_name(report)["privileges"]
        assert not report.ready and not priv.ok
        assert priv.fix == "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'weak'@'%';"
        assert test_db in priv.actual
        assert "s3cr3t-pw" not in str(report.to_dict())
        with conn.cursor() as cur:
            cur.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'weak'@'%'")
        priv = _by_name(check_source(SourceParams.from_url(url)))["privileges"]
        assert (
            priv.fix == "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'weak'@'%';"
        )
        with conn.cursor() as cur:
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'weak'@'%'")
        assert check_source(SourceParams.from_url(url)).ready
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP USER 'weak'@'%'")
        conn.close()


def test_wrong_password_and_unreachable_host() -> None:
    report = check_source(SourceParams.from_url(f"mysql://x:hunter22@127.0.0.1:{free_port()}"))
    assert not report.ready and [c.name for c in report.checks] == ["connect"]
    c = report.checks[0]
    assert not c.ok and "cannot connect" in c.actual and "hunter22" not in c.actual
    assert "mysql://x:***@127.0.0.1" in c.actual and c.fix


def test_bad_password_is_a_connect_failure(mariadb) -> None:
    report = check_source(
        SourceParams.from_url(f"mysql://zeroetl:wrong-pw@127.0.0.1:{mariadb.port}")
    )
    assert [c.name for c in report.checks] == ["connect"] and not report.ready
    assert "Access denied" in report.checks[0].actual and "wrong-pw" not in report.checks[0].actual


def test_no_password_names_where_it_can_come_from(mariadb) -> None:
    report = check_source(SourceParams.from_url(f"mysql://zeroetl@127.0.0.1:{mariadb.port}"))
    connect = report.checks[0]
    assert "using password: NO" in connect.actual
    assert "ZEROETL_SOURCE_PASSWORD" in connect.fix and "?password_file=" in connect.fix
    assert "source_password" in connect.fix


def test_sessions_started_with_the_settings_are_fine(source_url) -> None:
    """The fixture server has ROW/FULL/FULL from its command line: every session started with
    them, whatever is connected."""
    report = check_source(SourceParams.from_url(source_url), sessions=True)
    assert [c.name for c in report.checks] == [*ORDER, "sessions"]
    sessions = _by_name(report)["sessions"]
    assert sessions.status == "ok" and "started with" in sessions.actual, sessions
    assert report.ready


def _other_sessions_gone(server: MariaDBServer) -> bool:
    conn = server.root()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"
                " AND USER NOT IN ('system user', 'event_scheduler')"
            )
            return cur.fetchone()[0] == 0
    finally:
        conn.close()


def test_sessions_opened_before_set_global(misconfigured) -> None:
    """SET GLOBAL fixes new sessions only: with an old session still open, `ready` is not
    claimed blindly. MariaDB cannot show another session's binlog_format, so it is a warning
    that says so and what zeroetl does if such a session writes; once the old sessions are
    gone the check passes."""
    old = misconfigured.root()  # opened while binlog_format is MIXED
    fixer = misconfigured.root()
    root_url = f"mysql://root@127.0.0.1:{misconfigured.port}"
    try:
        with fixer.cursor() as cur:
            cur.execute("SET GLOBAL binlog_format = 'ROW'")
            cur.execute("SET GLOBAL binlog_row_image = 'FULL'")
            cur.execute("SET GLOBAL binlog_row_metadata = 'FULL'")
        with old.cursor() as cur:
            cur.execute("SELECT @@SESSION.binlog_format, CONNECTION_ID()")
            old_format, old_id = cur.fetchone()
        assert old_format == "MIXED"  # what the check must not overlook

        # The replication user cannot list other users' sessions (no PROCESS): it says so.
        sessions = _by_name(
            check_source(SourceParams.from_url(misconfigured.url()), sessions=True)
        )["sessions"]
        assert sessions.status == "warning", sessions
        assert "binlog_format" in sessions.actual and "SET GLOBAL" in sessions.actual
        assert "cannot know" in sessions.actual and "PROCESS" in sessions.actual
        assert "ResyncRequired" in sessions.fix and "reconnect" in sessions.fix

        # A user that sees every session names them.
        report = check_source(SourceParams.from_url(root_url), sessions=True)
        sessions = _by_name(report)["sessions"]
        assert sessions.status == "warning" and f"id {old_id} root@" in sessions.actual
        assert report.ready  # a warning: unknowable, never claimed as fine

        old.close()
        fixer.close()
        wait_for(lambda: _other_sessions_gone(misconfigured), "the old sessions to end", 30)
        sessions = _by_name(check_source(SourceParams.from_url(root_url), sessions=True))[
            "sessions"
        ]
        assert sessions.status == "ok" and "no other session" in sessions.actual, sessions
    finally:
        for c in (old, fixer):
            if c.open:
                c.close()
        conn = misconfigured.root()
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL binlog_format = 'MIXED'")
            cur.execute("SET GLOBAL binlog_row_image = 'MINIMAL'")
            cur.execute("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
        conn.close()
