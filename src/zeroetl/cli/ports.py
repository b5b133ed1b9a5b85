"""The service's listening ports: checked before anything starts, and recorded in the warehouse.

`zeroetl serve` (and `zeroetl demo`) bind the HTTP API's socket themselves before the service
starts, and probe the SQL endpoint's port the same way, so a busy port is one clear line naming
the port and the flag that moves it, not a traceback. The SQL endpoint binds its own socket a
moment later; if another program takes the port in between, that bind's EADDRINUSE is turned
into the same message (`in_use`).

Once listening, the service writes `<warehouse>/service.json` (host, ports, pid), so local
commands (`zeroetl sql`, `zeroetl tickit queries`, `zeroetl integration ...`) find the SQL
endpoint and the HTTP API of a warehouse without being told their ports. The file stays after a stop: it describes the last run, which is where the
next one most likely listens.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path
from typing import Any

from zeroetl.errors import ConfigError

RECORD = "service.json"
DEFAULT_API_PORT = 8155
DEFAULT_SQL_PORT = 5439


class PortInUse(ConfigError):
    code = "PortInUse"


def in_use(port: int, host: str, what: str, flag: str) -> PortInUse:
    return PortInUse(
        f"port {port} on {host} ({what}) is already in use by another program",
        hint=f"stop that program, or pass {flag} PORT to listen on another port",
    )


def bind(host: str, port: int, what: str, flag: str) -> socket.socket:
    """A listening-ready socket bound to host:port, as uvicorn would bind it (SO_REUSEADDR,
    so a port left in TIME_WAIT by our own previous run is not 'in use')."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise in_use(port, host, what, flag) from None
        raise ConfigError(
            f"cannot listen on {host}:{port} ({what}): {exc.strerror or exc}",
            hint="check --host (an address of this machine) and the port",
        ) from None
    sock.set_inheritable(True)
    return sock


def probe(host: str, port: int, what: str, flag: str) -> None:
    """Fail now, clearly, if host:port cannot be bound (port 0 always can)."""
    if port:
        bind(host, port, what, flag).close()


def is_addr_in_use(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE


def record(warehouse: Path, host: str, api_port: int, sql_port: int | None) -> None:
    """Write <warehouse>/service.json (no secret in it; mode 0600 like the other files)."""
    data = {"host": host, "api_port": api_port, "sql_port": sql_port, "pid": os.getpid()}
    tmp = warehouse / f".{RECORD}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(data) + "\n")
    tmp.replace(warehouse / RECORD)


def recorded(warehouse: Path) -> dict[str, Any]:
    """What the last service on `warehouse` recorded ({} if nothing usable)."""
    try:
        data = json.loads((warehouse / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _local_host(rec: dict[str, Any]) -> str:
    """The recorded host as a local client reaches it: a wildcard bind on 127.0.0.1."""
    host = rec.get("host") if isinstance(rec.get("host"), str) else "127.0.0.1"
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else str(host)


def local_api_url(warehouse: Path) -> str | None:
    """http://HOST:PORT of the HTTP API the warehouse's service recorded, or None."""
    rec = recorded(warehouse)
    port = rec.get("api_port")
    if not isinstance(port, int) or not 0 < port < 65536:
        return None
    host = _local_host(rec)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def local_sql_endpoint(warehouse: Path) -> tuple[str, int]:
    """(host, port) a local client should use for the warehouse's SQL endpoint: what its
    service recorded, else 127.0.0.1:5439. A wildcard bind is reached on 127.0.0.1."""
    rec = recorded(warehouse)
    host = _local_host(rec)
    port = rec.get("sql_port")
    if not isinstance(port, int) or not 0 < port < 65536:
        port = DEFAULT_SQL_PORT
    return str(host), port
