"""The local commands as a newcomer runs them: the sandbox and what writes to it, `serve`'s
ports and log file, `zeroetl sql` finding its warehouse, pipes, completion, exit statuses.

Each test runs the real CLI in a subprocess against real servers (a sandbox MariaDB of its own
where the sandbox is the subject, the session MariaDB elsewhere)."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from click.testing import CliRunner
from tests.e2e.test_cli import zeroetl
from tests.service_support import Serve

from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.sandbox.tickit_data import sizes

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _tables(port: int, database: str) -> set[str]:
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password="")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (database,),
            )
            return {r[0] for r in cur.fetchall()}
    finally:
        conn.close()


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Iterator[Path]:
    """A sandbox started by the CLI on a port that is not 3307; stopped afterwards."""
    directory = tmp_path / "sb"
    port = free_port()
    out = zeroetl("sandbox", "up", "--dir", str(directory), "--port", str(port))
    assert out.returncode == 0, out.stderr
    assert f"127.0.0.1:{port}" in out.stdout
    try:
        yield directory
    finally:
        zeroetl("sandbox", "down", "--dir", str(directory))


def test_tickit_writes_to_the_sandbox_it_belongs_to(sandbox_dir: Path, mariadb) -> None:
    port = json.loads((sandbox_dir / "sandbox.json").read_text())["port"]
    env = {"ZEROETL_SANDBOX_DIR": str(sandbox_dir)}

    status = zeroetl("sandbox", "status", env=env)
    assert status.returncode == 0 and f"127.0.0.1:{port}" in status.stdout, status.stdout

    # `tickit load` without --source: the sandbox of ZEROETL_SANDBOX_DIR (or --sandbox-dir),
    # on the port it was started on, and nothing anywhere else.
    out = zeroetl("tickit", "load", "--scale", "0.005", "--database", "tk_follow", env=env)
    assert out.returncode == 0, out.stderr
    assert f"127.0.0.1:{port}" in out.stderr and "replacing" in out.stderr
    assert _tables(port, "tk_follow") == {
        "users", "venue", "category", "date", "event", "listing", "sales"
    }  # fmt: skip
    assert _tables(mariadb.port, "tk_follow") == set()
    traffic = zeroetl(
        "tickit", "traffic", "--sandbox-dir", str(sandbox_dir), "--database", "tk_follow",
        "--seconds", "1", "--rate", "20",
    )  # fmt: skip
    assert traffic.returncode == 0 and "'transactions': " in traffic.stdout, traffic.stderr

    # The same directory cannot be started again on another port while it runs.
    again = zeroetl("sandbox", "up", "--dir", str(sandbox_dir), "--port", str(free_port()))
    assert again.returncode == 1 and f"already runs on port {port}" in again.stderr

    # Stopped: every writer refuses, saying how to start it or aim elsewhere.
    assert zeroetl("sandbox", "down", "--dir", str(sandbox_dir)).returncode == 0
    for cmd in (["tickit", "load", "--database", "tk_refused"], ["tickit", "traffic"]):
        out = zeroetl(*cmd, env=env)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "no sandbox is running" in out.stderr and "--source" in out.stderr
        assert "Traceback" not in out.stderr
    status = zeroetl("sandbox", "status", env=env)
    assert status.returncode == 3 and "not running" in status.stdout


def test_a_sandbox_record_pointing_at_another_server_is_refused(
    tmp_path: Path, mariadb: MariaDBServer, test_db: str
) -> None:
    """A directory claiming a port where some other server (here the session's) listens: the
    identity check refuses before a single table is dropped."""
    fake = tmp_path / "fake"
    (fake / "data").mkdir(parents=True)
    (fake / "sandbox.json").write_text(json.dumps({"port": mariadb.port}))
    (fake / "data" / "mysqld.pid").write_text(str(os.getpid()))  # a live pid
    conn = mariadb.root(test_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE sales (id INT PRIMARY KEY)")
    conn.close()
    out = zeroetl("tickit", "load", "--sandbox-dir", str(fake), "--database", test_db)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"127.0.0.1:{mariadb.port} is not the sandbox of" in out.stderr
    assert _tables(mariadb.port, test_db) == {"sales"}


def test_tickit_load_help_says_it_replaces_tables() -> None:
    out = zeroetl("tickit", "load", "--help")
    assert out.returncode == 0
    assert "Replaces existing tables" in out.stdout and "--sandbox-dir" in out.stdout


def test_tickit_load_draws_a_progress_bar_on_terminals_only(source_url, mariadb, test_db) -> None:
    args = [sys.executable, "-m", "zeroetl.cli.main", "tickit", "load", "--scale", "0.01",
            "--database", test_db, "--source", f"mysql://root@127.0.0.1:{mariadb.port}"]  # fmt: skip
    master, slave = os.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, env={**os.environ, "COLUMNS": "120"})  # fmt: skip
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    stdout = proc.stdout.read() if proc.stdout else b""
    assert proc.wait(60) == 0, shown.decode(errors="replace")
    os.close(master)
    text = shown.decode(errors="replace")
    total = sum(sizes(0.01).values())
    assert "loading " in text and "━" in text, text[-500:]
    assert "loaded" in text and f"{total}/{total}" in text, text[-500:]
    assert b"\x1b[" not in stdout and b"sales: " in stdout  # stdout stays plain for scripts

    piped = zeroetl(*args[3:])
    assert piped.returncode == 0 and "━" not in piped.stderr + piped.stdout


def _listener() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


def test_serve_says_which_port_is_busy(tmp_path: Path) -> None:
    busy, port = _listener()
    try:
        wh = str(tmp_path / "wh")
        api = zeroetl("serve", "--warehouse", wh, "--api-port", str(port), "--sql-port", str(free_port()))  # fmt: skip
        sql = zeroetl("serve", "--warehouse", wh, "--api-port", str(free_port()), "--sql-port", str(port))  # fmt: skip
    finally:
        busy.close()
    assert api.returncode == sql.returncode == 1, api.stderr + sql.stderr
    assert f"port {port} on 127.0.0.1 (HTTP API) is already in use" in api.stderr
    assert "--api-port PORT" in api.stderr
    assert f"port {port} on 127.0.0.1 (SQL endpoint) is already in use" in sql.stderr
    assert "--sql-port PORT" in sql.stderr
    for out in (api, sql):
        assert "Traceback" not in out.stderr and "please report" not in out.stderr
    same = zeroetl("serve", "--warehouse", wh, "--api-port", "18999", "--sql-port", "18999")
    assert same.returncode == 2 and "must differ" in same.stderr


def test_serve_sql_port_taken_after_the_probe(tmp_path: Path, monkeypatch) -> None:
    """The race: the SQL port is free when probed and taken before the endpoint binds it. The
    endpoint's own bind fails; the message is the same one (in-process, probe skipped)."""
    from zeroetl.cli import ports
    from zeroetl.cli.main import cli

    monkeypatch.setattr(ports, "probe", lambda *a: None)
    busy, port = _listener()
    try:
        res = CliRunner().invoke(
            cli,
            ["serve", "--warehouse", str(tmp_path / "wh"), "--api-port", str(free_port()),
             "--sql-port", str(port)],
        )  # fmt: skip
    finally:
        busy.close()
    assert res.exit_code == 1, res.output
    assert f"port {port} on 127.0.0.1 (SQL endpoint) is already in use" in res.output
    assert "--sql-port" in res.output


def test_sql_finds_the_local_warehouse_and_its_port(tmp_path: Path) -> None:
    """`zeroetl serve` records its ports in the warehouse; `zeroetl sql` finds the warehouse
    (--warehouse, ZEROETL_WAREHOUSE, else ./.zeroetl/warehouse) and the endpoint from there.
    `--log-file` takes the service's log off stderr."""
    wh = tmp_path / ".zeroetl" / "warehouse"
    log_file = tmp_path / "logs" / "zeroetl.log"
    serve = Serve(wh, tmp_path / "serve.out", "--log-file", str(log_file))
    serve.start()
    try:
        recorded = json.loads((wh / "service.json").read_text())
        assert (recorded["api_port"], recorded["sql_port"]) == (serve.port, serve.sql_port)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("ZEROETL_", "PG"))}

        def sql(*args: str, cwd: Path = tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "zeroetl.cli.main", "sql", *args, "-At", "-c", "select 40 + 2"],
                capture_output=True, text=True, timeout=60, cwd=cwd, env={**clean, **env},
            )  # fmt: skip

        for out in (
            sql(),  # ./.zeroetl/warehouse
            sql("--warehouse", str(wh), cwd=ROOT),
            sql(cwd=ROOT, ZEROETL_WAREHOUSE=str(wh)),
        ):
            assert out.returncode == 0 and out.stdout.strip() == "42", out.stderr
        missing = sql(cwd=ROOT, ZEROETL_WAREHOUSE=str(tmp_path / "nowhere"))
        assert missing.returncode == 1 and "no warehouse at" in missing.stderr
        assert "--warehouse" in missing.stderr and "Traceback" not in missing.stderr
    finally:
        serve.stop()
    logged = log_file.read_text()
    assert "service started" in logged and "service stopped" in logged
    assert "service started" not in (tmp_path / "serve.out").read_text()
    assert log_file.stat().st_mode & 0o077 == 0


def test_a_closed_pipe_ends_the_command_quietly(source_url: str) -> None:
    """`zeroetl ... | head`: the reader goes away; no 'unexpected BrokenPipeError'."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "zeroetl.cli.main", "source", "check", source_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes its first line
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 1
    assert err == "", err


def test_shell_completion_and_exit_statuses() -> None:
    script = zeroetl(env={"_ZEROETL_COMPLETE": "bash_source"})
    assert script.returncode == 0 and "_zeroetl_completion" in script.stdout
    words = zeroetl(
        env={"_ZEROETL_COMPLETE": "bash_complete", "COMP_WORDS": "zeroetl tick", "COMP_CWORD": "1"}
    )
    assert "tickit" in words.stdout
    assert zeroetl("no-such-command").returncode == 2
    assert zeroetl("sandbox", "up", "--port", "0").returncode == 2


def test_makefile_demo_takes_demo_args() -> None:
    out = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "demo", "DEMO_ARGS=--port 3317 --dir /tmp/x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "zeroetl demo --port 3317 --dir /tmp/x" in out.stdout


def test_the_systemd_unit_is_valid_and_its_command_serves(tmp_path: Path) -> None:
    """contrib/systemd/zeroetl.service: systemd accepts it without a warning, and its ExecStart
    (the venv's zeroetl instead of /opt/zeroetl) with its Environment serves, then stops on
    its KillSignal with status 0 well within TimeoutStopSec."""
    import configparser
    import shlex
    import shutil
    import signal

    import httpx

    unit_text = (ROOT / "contrib" / "systemd" / "zeroetl.service").read_text()
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(unit_text)
    svc = unit["Service"]
    argv = shlex.split(svc["ExecStart"])
    assert argv[0] == "/opt/zeroetl/bin/zeroetl" and argv[1] == "serve"
    venv_zeroetl = Path(sys.executable).parent / "zeroetl"

    analyze = shutil.which("systemd-analyze")
    if analyze:  # Debian ships it with systemd; absent in minimal containers
        local = tmp_path / "zeroetl.service"
        local.write_text(unit_text.replace(argv[0], str(venv_zeroetl)))
        out = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True)
        assert out.returncode == 0 and not (out.stdout + out.stderr).strip(), out.stderr

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")}
    for line in unit_text.splitlines():
        if line.startswith("Environment="):
            key, value = line.split("=", 2)[1:]
            env[key] = value
    assert env["ZEROETL_WAREHOUSE"] == "/var/lib/zeroetl/warehouse"
    env["ZEROETL_WAREHOUSE"] = str(tmp_path / "warehouse")  # StateDirectory, here
    api, sql = free_port(), free_port()
    args = [a for a in argv[2:]]
    args[args.index("--api-port") + 1] = str(api)
    args[args.index("--sql-port") + 1] = str(sql)
    proc = subprocess.Popen(
        [sys.executable, "-m", "zeroetl.cli.main", "serve", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{api}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("the unit's command did not serve")
        assert (tmp_path / "warehouse" / "catalog.sqlite3").exists()
        proc.send_signal(getattr(signal, svc["KillSignal"]))
        assert proc.wait(float(svc["TimeoutStopSec"])) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
