"""The sandbox directory: which MariaDB it holds, on which port, and whether it runs.

`zeroetl sandbox up --port N` records N in `<dir>/sandbox.json`; every later command that works
on "the sandbox" (`sandbox status|down`, `tickit load|traffic` without `--source`, `demo`)
reads the port from there instead of assuming 3307, and checks that the server answering on
that port really is the one whose data directory is in `<dir>` before touching anything.
`tickit load` drops tables: aiming it at whatever server happens to listen on 3307 would be a
data-loss bug, so anything short of a positive identification is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import pymysql

from zeroetl.config import env_value
from zeroetl.errors import ConfigError
from zeroetl.sandbox.mariadb import MariaDBServer

DEFAULT_PORT = 3307
DIR_ENV = "ZEROETL_SANDBOX_DIR"
DEFAULT_DIR = Path(".zeroetl/sandbox")
RECORD = "sandbox.json"
PASSWORD_FILE = "zeroetl.password"


def default_dir() -> Path:
    """`$ZEROETL_SANDBOX_DIR`, else `.zeroetl/sandbox` (read when asked, not at import)."""
    return Path(env_value("sandbox.dir"))


@dataclass(frozen=True)
class Sandbox:
    """A sandbox directory and the port its server listens (or will listen) on."""

    directory: Path
    port: int

    @property
    def server(self) -> MariaDBServer:
        return MariaDBServer(datadir=self.directory / "data", port=self.port, server_id=1)

    @property
    def url(self) -> str:
        """URL of the replication user; its password stays in a 0600 file."""
        return (
            f"mysql://zeroetl@127.0.0.1:{self.port}/?password_file={self.directory / PASSWORD_FILE}"
        )

    @property
    def root_url(self) -> str:
        """The sandbox's root user (no password: it only listens on 127.0.0.1)."""
        return f"mysql://root@127.0.0.1:{self.port}"

    def root(self) -> pymysql.connections.Connection:
        return self.server.root()


def recorded_port(directory: Path) -> int | None:
    """The port `sandbox up` recorded in `directory`, or None (no record, or not readable)."""
    try:
        data = json.loads((directory / RECORD).read_text())
    except (OSError, ValueError):
        return None
    port = data.get("port") if isinstance(data, dict) else None
    return port if isinstance(port, int) and 0 < port < 65536 else None


def _record(directory: Path, port: int) -> None:
    tmp = directory / f".{RECORD}.tmp"
    tmp.write_text(json.dumps({"port": port}) + "\n")
    tmp.replace(directory / RECORD)


def _port_of_running(server: MariaDBServer) -> int | None:
    """The --port= a running mariadbd was started with (sandboxes made before the record
    existed); Linux /proc only."""
    pid = server._pid()
    if pid is None:
        return None
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for a in args:
        if a.startswith(b"--port="):
            with contextlib.suppress(ValueError):
                return int(a.split(b"=", 1)[1])
    return None


def _probe(directory: Path) -> tuple[MariaDBServer, int | None]:
    """(a server over the directory's data, the port it runs on if it runs)."""
    port = recorded_port(directory)
    server = MariaDBServer(datadir=directory / "data", port=port or DEFAULT_PORT, server_id=1)
    if not server.running():
        return server, None
    port = port or _port_of_running(server)
    return server, port


def up(directory: Path, port: int | None = None) -> Sandbox:
    """Start the sandbox in `directory` (or reuse it if it runs) and make sure its replication
    user exists. `port` None: the recorded port, else 3307. Idempotent."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    server, running_on = _probe(directory)
    if server.running():
        if running_on is None:
            raise ConfigError(
                f"a sandbox runs in {directory} but its port is unknown",
                hint=f"stop it with `zeroetl sandbox down --dir {directory}` and start it again",
            )
        if port is not None and port != running_on:
            raise ConfigError(
                f"the sandbox in {directory} already runs on port {running_on}",
                hint=f"stop it first with `zeroetl sandbox down --dir {directory}` to move "
                f"it to port {port}, or leave out --port",
            )
        port = running_on
    else:
        port = port or recorded_port(directory) or DEFAULT_PORT
    box = Sandbox(directory, port)
    srv = box.server
    srv.start()
    _record(directory, port)
    _check_identity(box)
    pw_file = directory / PASSWORD_FILE
    if not pw_file.exists():
        fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(18))
    srv.create_replication_user(password=pw_file.read_text().strip())
    return box


def find(directory: Path) -> Sandbox | None:
    """The running sandbox of `directory`, or None if none runs there."""
    directory = directory.resolve()
    server, port = _probe(directory)
    if not server.running() or port is None:
        return None
    return Sandbox(directory, port)


def running(directory: Path) -> Sandbox:
    """The running sandbox of `directory`, positively identified, or a clear refusal."""
    box = find(directory)
    if box is None:
        raise ConfigError(
            f"no sandbox is running in {directory.resolve()}",
            hint="start it with `zeroetl sandbox up`, name another sandbox directory with "
            f"--sandbox-dir or {DIR_ENV}, or pass --source mysql://USER:PASSWORD@HOST:PORT "
            "to write to another server",
        )
    _check_identity(box)
    return box


def _check_identity(box: Sandbox) -> None:
    """The server on 127.0.0.1:port must be the one over `box.directory/data`."""
    try:
        conn = box.root()
    except pymysql.err.MySQLError as exc:
        raise ConfigError(
            f"the sandbox in {box.directory} does not answer on 127.0.0.1:{box.port}: "
            f"{exc.args[-1] if exc.args else exc}",
            hint="restart it: `zeroetl sandbox down` then `zeroetl sandbox up`",
        ) from None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@datadir")
            row = cur.fetchone()
    finally:
        conn.close()
    theirs = Path(str(row[0])).resolve() if row else None
    if theirs != (box.directory / "data").resolve():
        raise ConfigError(
            f"the server on 127.0.0.1:{box.port} is not the sandbox of {box.directory} "
            f"(its data directory is {theirs})",
            hint="nothing was changed; pass --source to aim at that server on purpose",
        )


def down(directory: Path) -> bool:
    """Stop the sandbox of `directory` (its data stays); False if it was not running."""
    server, _port = _probe(directory.resolve())
    was = server.running()
    server.stop()
    return was


def initialised(directory: Path) -> bool:
    return (directory / "data" / "mysql").is_dir()
