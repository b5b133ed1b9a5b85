"""The configuration as a user meets it: a real `zeroetl config show` and a real `zeroetl serve`
configured by zeroetl.toml + variables + flags, answering GET /v1/config. No secret (API token,
SQL password, source password) appears in either, nor in the service's log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from tests.service_support import Serve

TOKEN = "tok-Zz9-config-e2e-0001"
SQL_PW = "sqlpw-Yy8-config-e2e"
SOURCE_PW = "srcpw-Xx7-config-e2e"


def zeroetl(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):  # type: ignore[no-untyped-def]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")}
    return subprocess.run(
        [sys.executable, "-m", "zeroetl.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean | (env or {}),
        cwd=cwd,
    )


def _warehouse(tmp_path: Path) -> Path:
    wh = tmp_path / "wh"
    wh.mkdir(mode=0o700)
    toml = wh / "zeroetl.toml"
    toml.write_text(
        "[sql]\nmax_running = 3\nstatement_timeout = '30s'\n"
        "[monitoring]\nhistory_days = 2\n"
        "[engine]\nwal_limit_mb = 32\n"
    )
    pw = tmp_path / "sql.pw"
    pw.write_text(SQL_PW + "\n")
    pw.chmod(0o600)
    return wh


def test_config_show_names_each_source_and_redacts(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path)
    env = {
        "ZEROETL_API_TOKEN": TOKEN,
        "ZEROETL_SQL_PASSWORD_FILE": str(tmp_path / "sql.pw"),
        "ZEROETL_SOURCE_PASSWORD": SOURCE_PW,
        "ZEROETL_SQL_MAX_RUNNING": "5",
    }
    out = zeroetl("config", "show", "--warehouse", str(wh), "--json", env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    got = doc["settings"]
    assert doc["config_file"] == str(wh / "zeroetl.toml")
    assert got["warehouse"] == {"value": str(wh), "source": "flag", "from": "--warehouse"}
    assert got["sql.max_running"] == {
        "value": 5,
        "source": "env",
        "from": "ZEROETL_SQL_MAX_RUNNING",
    }
    assert got["sql.statement_timeout"]["value"] == 30_000
    assert got["sql.statement_timeout"]["from"] == f"{wh / 'zeroetl.toml'}:3"
    assert got["api.port"] == {"value": 8155, "source": "default", "from": None}
    for key in ("api.token", "sql.password", "source.password"):
        assert got[key]["value"] == "********", key
    human = zeroetl("config", "show", "--warehouse", str(wh), env=env)
    assert human.returncode == 0 and "sql.max_running" in human.stdout
    assert "env ZEROETL_SQL_MAX_RUNNING" in human.stdout
    for output in (out.stdout + out.stderr, human.stdout + human.stderr):
        for secret in (TOKEN, SQL_PW, SOURCE_PW):
            assert secret not in output

    # --config (global or on the command) and ZEROETL_CONFIG name another file
    other = tmp_path / "other.toml"
    other.write_text('warehouse = "wh"\n[api]\nport = 18155\n')
    for args, extra in (
        (["--config", str(other), "config", "show", "--json"], {}),
        (["config", "show", "--json", "--config", str(other)], {}),
        (["config", "show", "--json"], {"ZEROETL_CONFIG": str(other)}),
    ):
        shown = zeroetl(*args, env=extra)
        assert shown.returncode == 0, shown.stderr
        settings = json.loads(shown.stdout)["settings"]
        assert settings["api.port"]["value"] == 18155 and settings["warehouse"]["value"] == str(wh)


def test_bad_configuration_is_a_usage_error_that_says_where(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[sql]\nmax_runing = 3\n")
    out = zeroetl("serve", "--config", str(bad))
    assert out.returncode == 2, out.stderr
    assert f"{bad}:2: unknown key 'sql.max_runing'" in out.stderr
    assert "did you mean 'sql.max_running'" in out.stderr and "Traceback" not in out.stderr
    out = zeroetl("serve", "--warehouse", str(tmp_path), env={"ZEROETL_API_PORT": "http"})
    assert out.returncode == 2 and "from env ZEROETL_API_PORT" in out.stderr
    loose = tmp_path / "token"
    loose.write_text(TOKEN)
    loose.chmod(0o644)
    out = zeroetl("config", "show", env={"ZEROETL_API_TOKEN_FILE": str(loose)})
    assert out.returncode == 2 and "readable by group or others" in out.stderr
    assert TOKEN not in out.stdout + out.stderr
    out = zeroetl("serve")
    assert out.returncode == 2 and "no warehouse" in out.stderr


def test_the_service_answers_its_configuration(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path)
    env = {
        "ZEROETL_API_TOKEN": TOKEN,
        "ZEROETL_SQL_PASSWORD_FILE": str(tmp_path / "sql.pw"),
        "ZEROETL_SOURCE_PASSWORD": SOURCE_PW,
        "ZEROETL_MONITORING_HISTORY_DAYS": "3",
    }
    svc = Serve(wh, tmp_path / "serve.log", "--sql-max-running", "6", env=env)
    svc.start()
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}  # the configured token is the one
        r = httpx.get(svc.url + "/v1/config", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        got = r.json()["settings"]
        assert r.json()["config_file"] == str(wh / "zeroetl.toml")
        assert got["sql.max_running"] == {"value": 6, "source": "flag", "from": "--sql-max-running"}
        assert got["monitoring.history_days"]["source"] == "env"
        assert got["monitoring.history_days"]["value"] == 3.0
        assert got["engine.wal_limit_mb"]["value"] == 32.0
        assert got["engine.wal_limit_mb"]["source"] == "file"
        assert got["api.port"] == {"value": svc.port, "source": "flag", "from": "--api-port"}
        for key in ("api.token", "sql.password", "source.password"):
            assert got[key]["value"] == "********", key
        for secret in (TOKEN, SQL_PW, SOURCE_PW):
            assert secret not in r.text
        # auth like every /v1 route
        anon = httpx.get(svc.url + "/v1/config", timeout=30)
        assert anon.status_code == 401 and anon.json()["error"]["code"] == "Unauthorized"
        # the configured SQL password is the one the endpoint takes
        import psycopg

        dsn = f"host=127.0.0.1 port={svc.sql_port} user=admin dbname=dev"
        with psycopg.connect(dsn, password=SQL_PW) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert not (wh / "api.token").exists() and not (wh / "sql.password").exists()
    finally:
        svc.stop()
    log = (tmp_path / "serve.log").read_text()
    for secret in (TOKEN, SQL_PW, SOURCE_PW):
        assert secret not in log
