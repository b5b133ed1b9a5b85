"""A real `zeroetl serve` in a subprocess, driven over HTTP and the CLI (shared by e2e tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from zeroetl.sandbox.mariadb import free_port


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy (bounded; no blind sleeps)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def without_pytz(tmp: Path) -> dict[str, str]:
    """The environment of a service installed without the test run's extras: pytz (which
    DuckDB needs to hand TIMESTAMPTZ values to Python) cannot be imported."""
    stand_in = tmp / "no-pytz"
    stand_in.mkdir()
    (stand_in / "pytz.py").write_text('raise ImportError("pytz is not installed")\n')
    return {"PYTHONPATH": str(stand_in)}


class Serve:
    """`zeroetl serve` in a subprocess on free ports; every response body is kept for the
    password check."""

    def __init__(
        self, warehouse: Path, log: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.warehouse, self.log, self.args = warehouse, log, args
        self.extra_env = env or {}
        self.port = free_port()
        self.sql_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen: list[str] = []

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "zeroetl.cli.main",
            "serve",
            "--warehouse",
            str(self.warehouse),
            "--api-port",
            str(self.port),
            "--sql-port",
            str(self.sql_port),
            *self.args,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")}
        env.update(self.extra_env)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env)

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, "the service to answer /healthz", 30)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0, self.log.read_text()[-3000:]

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    @property
    def sql_password(self) -> str:
        return (self.warehouse / "sql.password").read_text().strip()

    def sql_dsn(self, dbname: str = "dev") -> str:
        return (
            f"host=127.0.0.1 port={self.sql_port} user=admin dbname={dbname} "
            f"password={self.sql_password}"
        )

    @property
    def token(self) -> str:
        return (self.warehouse / "api.token").read_text().strip()

    def api(
        self, method: str, path: str, body: Any = None, token: str | None = "", **params: Any
    ) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token or self.token}"}
        r = httpx.request(
            method, self.url + path, json=body, headers=headers, params=params, timeout=60
        )
        self.seen.append(r.text)
        return r

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        r = self.api(method, path, body, **params)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def cli(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")} | (env or {})
        env["ZEROETL_API_URL"] = self.url
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "zeroetl.cli.main",
                "integration",
                *args,
                "--warehouse",
                str(self.warehouse),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            input=stdin,
        )
        self.seen.extend([out.stdout, out.stderr])
        return out

    def state(self, ident: str) -> str:
        return str(self.ok("GET", f"/v1/integrations/{ident}")["state"])

    def tables(self, ident: str) -> dict[str, dict[str, Any]]:
        items = self.ok("GET", f"/v1/integrations/{ident}/tables")["items"]
        return {f"{t['schema']}.{t['table']}": t for t in items}

    def wait_state(self, ident: str, state: str, timeout: float = 60) -> None:
        wait_for(lambda: self.state(ident) == state, f"{ident} to be {state}", timeout)

    def wait_rows(self, ident: str, table: str, rows: int, timeout: float = 60) -> None:
        def check() -> Any:
            t = self.tables(ident).get(table)
            return t if t and t["state"] == "Synced" and t["rows"] == rows else False

        wait_for(check, f"{table} of {ident} to hold {rows} rows", timeout)
