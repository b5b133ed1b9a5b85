"""A private MariaDB server with the binlog settings zeroetl needs.

Used by `zeroetl sandbox` and by the test fixtures (which kill and restart it). It runs the
server binaries already on the machine (Debian: `apt-get install mariadb-server`), in a data
directory of our own, on a port of our choosing, never touching the system instance.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

from zeroetl.errors import ConfigError, SourceUnavailable

REPL_USER = "zeroetl"
# The binlog options every source needs (what `zeroetl source check` verifies).
BINLOG_OPTIONS = (
    "--log-bin=binlog",
    "--binlog-format=ROW",
    "--binlog-row-image=FULL",
    "--binlog-row-metadata=FULL",
    "--expire-logs-days=7",
)


def _which(*names: str) -> str:
    for name in names:
        for d in (None, "/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
            path = shutil.which(name, path=d) if d else shutil.which(name)
            if path:
                return path
    raise ConfigError(
        f"MariaDB server binary not found (looked for {', '.join(names)})",
        hint="install it: `apt-get install mariadb-server` (Debian/Ubuntu) or your OS's package",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MariaDBServer:
    """One mariadbd process over `datadir`. `start()` initialises the datadir on first use."""

    datadir: Path
    port: int
    server_id: int = 1
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.datadir / "mysqld.sock"

    @property
    def pid_file(self) -> Path:
        return self.datadir / "mysqld.pid"

    @property
    def log_file(self) -> Path:
        return self.datadir / "error.log"

    @property
    def tmpdir(self) -> Path:
        """Temporary files of this server only, beside (not inside) its data directory: in a
        shared /tmp, another process that tidies `#sql-*` files can make the bootstrap fail."""
        return self.datadir.parent / f"{self.datadir.name}-tmp"

    def initialised(self) -> bool:
        return (self.datadir / "mysql").is_dir()

    def _initialise(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.tmpdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        install = _which("mariadb-install-db", "mysql_install_db")
        cmd = [
            install,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--tmpdir={self.tmpdir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise ConfigError(f"mariadb-install-db failed: {out.stderr.strip()[-500:]}")

    def start(self, timeout: float = 60.0) -> None:
        if self.running():
            return
        if not self.initialised():
            self._initialise()
        self.tmpdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        cmd = [
            _which("mariadbd", "mysqld"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--tmpdir={self.tmpdir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.socket_path}",
            f"--pid-file={self.pid_file}",
            f"--log-error={self.log_file}",
            f"--server-id={self.server_id}",
            "--innodb-buffer-pool-size=128M",
            "--innodb-log-file-size=64M",
            "--innodb-flush-log-at-trx-commit=2",
            "--sync-binlog=0",
            "--max-connections=200",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            "--skip-name-resolve",
            *BINLOG_OPTIONS,
            *self.extra_args,
        ]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SourceUnavailable(f"mariadbd exited at start-up: {self._log_tail()}")
            try:
                self.root().close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.1)
        raise SourceUnavailable(
            f"mariadbd did not accept connections in {timeout:.0f}s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-800:]
        except OSError:
            return "(no error log)"

    def running(self) -> bool:
        if self.proc is not None and self.proc.poll() is None:
            return True
        pid = self._pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    def _pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 60.0) -> None:
        """Clean shutdown (SIGTERM), waiting for the process to go."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the data directory can tell."""
        self._signal(signal.SIGKILL, 30.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _signal(self, sig: int, timeout: float) -> None:
        pid = self.proc.pid if self.proc is not None and self.proc.poll() is None else self._pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.pid == pid:
                if self.proc.poll() is not None:
                    break
            else:
                try:
                    os.kill(pid, 0)
                except OSError:
                    break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc = None
        # A killed server leaves its socket and pid file behind; a restart must not trip on them.
        for p in (self.pid_file, self.socket_path):
            with contextlib.suppress(OSError):
                p.unlink()

    def root(self, database: str | None = None, **kw: object) -> pymysql.connections.Connection:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            password="",
            database=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
            **kw,  # type: ignore[arg-type]
        )

    def create_replication_user(self, user: str = REPL_USER, password: str = "zeroetl") -> None:
        """The least-privileged replication user: SELECT, REPLICATION SLAVE, REPLICATION CLIENT
        (no RELOAD, no LOCK TABLES)."""
        conn = self.root()
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
                cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))
                cur.execute(
                    "GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO %s@'%%'", (user,)
                )
        finally:
            conn.close()

    def url(self, user: str = REPL_USER, password: str = "zeroetl") -> str:
        return f"mysql://{user}:{password}@127.0.0.1:{self.port}"
