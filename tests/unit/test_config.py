"""config.py: precedence (defaults < file < env < flags), hostile files, errors that name the key
and its source, secrets that never print."""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from zeroetl import config
from zeroetl.config import REDACTED, Secret, Settings, load
from zeroetl.config_file import MAX_FILE_BYTES
from zeroetl.config_keys import KEYS
from zeroetl.errors import ConfigError


def _toml(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_defaults_without_file_or_env() -> None:
    s = load(env={})
    assert s.api.port == 8155 and s.sql.port == 5439 and s.host == "127.0.0.1"
    assert s.warehouse is None and s.api.token is None and s.config_file is None
    assert s.engine.wal_limit_mb == 64.0 and s.monitoring.history_days == 7.0
    assert all(s.origin(k.name).source == "default" for k in KEYS)


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    wh.mkdir()
    _toml(wh / "zeroetl.toml", "[api]\nport = 9001\n[sql]\nport = 9002\nmax_running = 7\n")
    env = {"ZEROETL_WAREHOUSE": str(wh), "ZEROETL_SQL_PORT": "9003", "ZEROETL_API_PORT": "9004"}
    s = load(env=env, flags={"api.port": "9005"})
    assert s.config_file == wh / "zeroetl.toml"
    assert s.api.port == 9005 and s.origin("api.port").where == "--api-port"
    assert s.sql.port == 9003 and str(s.origin("sql.port")) == "env ZEROETL_SQL_PORT"
    assert s.sql.max_running == 7
    assert s.origin("sql.max_running").where == f"{wh / 'zeroetl.toml'}:5"
    assert s.sql.statement_timeout == 0 and s.origin("sql.statement_timeout").source == "default"
    assert s.warehouse == wh and s.origin("warehouse").source == "env"


def test_config_flag_and_env_name_the_file(tmp_path: Path) -> None:
    a = _toml(tmp_path / "a.toml", 'warehouse = "wh-a"\nhost = "0.0.0.0"\n')
    b = _toml(tmp_path / "b.toml", "host = '10.0.0.1'\n")
    s = load(env={"ZEROETL_CONFIG": str(b)}, config=a)
    assert s.host == "0.0.0.0" and s.config_file == a
    assert s.warehouse == tmp_path / "wh-a"  # relative to the file, not the current directory
    assert load(env={"ZEROETL_CONFIG": str(b)}).host == "10.0.0.1"
    with pytest.raises(ConfigError, match="no configuration file"):
        load(env={}, config=tmp_path / "missing.toml")
    # the implicit <warehouse>/zeroetl.toml may be missing
    assert load(env={}, flags={"warehouse": str(tmp_path)}).config_file is None


def test_env_aliases_and_empty_variables() -> None:
    s = load(env={"ZEROETL_MEMORY_LIMIT": "2GiB", "ZEROETL_METRICS_PUBLIC": "yes"})
    assert s.service.memory_limit == "2GiB" and s.api.metrics_public is True
    new = load(env={"ZEROETL_MEMORY_LIMIT": "2GiB", "ZEROETL_SERVICE_MEMORY_LIMIT": "3GiB"})
    assert new.service.memory_limit == "3GiB"
    assert load(env={"ZEROETL_API_PORT": ""}).api.port == 8155  # empty: unset
    lists = load(env={"ZEROETL_ALLOWED_SOURCES": "db1, 10.0.0.*:3306,"})
    assert lists.service.allowed_sources == ("db1", "10.0.0.*:3306")


def test_typed_values(tmp_path: Path) -> None:
    f = _toml(
        tmp_path / "z.toml",
        '[sql]\nstatement_timeout = "1.5min"\nmax_statement_timeout = 30000\n'
        '[service]\nallowed_sources = ["db1", "db2:3306"]\n'
        '[log]\nlevel = "DEBUG"\nfile = "logs/zeroetl.log"\n'
        "[engine]\nprereq_check_s = 5\n",
    )
    s = load(env={}, config=f)
    assert s.sql.statement_timeout == 90_000 and s.sql.max_statement_timeout == 30_000
    assert s.service.allowed_sources == ("db1", "db2:3306")
    assert s.log.level == "debug" and s.log.file == tmp_path / "logs/zeroetl.log"
    assert s.engine.prereq_check_s == 5.0 and isinstance(s.engine.prereq_check_s, float)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[api]\nprot = 1\n", ["z.toml:2", "unknown key 'api.prot'", "did you mean 'api.port'"]),
        ("[apii]\nport = 1\n", ["z.toml:1", "unknown section 'apii'", "did you mean 'api'"]),
        ("port = 1\n", ["unknown key 'port'", "did you mean 'api.port' or 'sql.port'"]),
        ('[api]\nport = "x"\n', ["api.port = 'x'", "z.toml:2", "expected an integer"]),
        ("[api]\nport = 70000\n", ["api.port", "from 0 to 65535"]),
        ("[api]\nport = true\n", ["api.port", "not true/false"]),
        ("[api]\nmetrics_public = 2\n", ["api.metrics_public", "true or false"]),
        ('[sql]\nsession_memory = "lots"\n', ["sql.session_memory", "a size such as"]),
        ('[sql]\nstatement_timeout = "5 weeks"\n', ["sql.statement_timeout", "a unit of"]),
        ("[service]\nallowed_sources = 3\n", ["service.allowed_sources", "a list of strings"]),
        ('[log]\nlevel = "loud"\n', ["log.level", "one of debug, info, warning, error"]),
        ("[engine]\nwal_limit_mb = nan\n", ["engine.wal_limit_mb", "a finite number"]),
        ("[api\n", ["invalid TOML", "line 1"]),
        ("[api.port]\nx = 1\n", ["api.port", "not a table"]),
        ("[source]\npassword = 'x'\n", ["source.password is not read from the configuration"]),
    ],
)
def test_hostile_file_errors_name_key_place_and_expectation(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    f = _toml(tmp_path / "z.toml", text)
    with pytest.raises(ConfigError) as err:
        load(env={}, config=f)
    said = f"{err.value} {err.value.hint}"
    for word in words:
        assert word in said, (word, said)


def test_env_and_flag_errors_name_their_source() -> None:
    with pytest.raises(ConfigError, match=r"api.port = 'abc' \(from env ZEROETL_API_PORT\)"):
        load(env={"ZEROETL_API_PORT": "abc"})
    with pytest.raises(ConfigError, match=r"\(from flag --sql-max-running\): expected a number"):
        load(env={}, flags={"sql.max_running": "0"})
    with pytest.raises(ConfigError, match=r"api.url .* expected a URL"):
        load(env={"ZEROETL_API_URL": "ftp://x"})


def test_file_limits(tmp_path: Path) -> None:
    big = _toml(tmp_path / "big.toml", "# " + "x" * MAX_FILE_BYTES)
    with pytest.raises(ConfigError, match="larger than"):
        load(env={}, config=big)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"host = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(env={}, config=binary)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load(env={}, config=fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load(env={"ZEROETL_SQL_PASSWORD_FILE": "/dev/zero"})
    long_value = _toml(tmp_path / "long.toml", f'host = "{"a" * 5000}"\n')
    with pytest.raises(ConfigError, match="at most 4096"):
        load(env={}, config=long_value)


def test_secret_redacts_itself() -> None:
    s = Secret("hunter2-pass")
    assert s.reveal() == "hunter2-pass"
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr({"k": s})):
        assert "hunter2" not in shown and REDACTED in shown
    with pytest.raises(TypeError):
        json.dumps(s)
    with pytest.raises(TypeError):
        pickle.dumps(s)
    assert s == Secret("hunter2-pass") and s != Secret("other")


def test_secrets_never_in_repr_or_describe(tmp_path: Path) -> None:
    secrets = {
        "ZEROETL_API_TOKEN": "tok-AAAA-1111",
        "ZEROETL_SQL_PASSWORD": "sqlpw-BBBB-2222",
        "ZEROETL_SOURCE_PASSWORD": "srcpw-CCCC-3333",
    }
    s = load(env=secrets)
    assert s.api.token is not None and s.api.token.reveal() == "tok-AAAA-1111"
    assert s.source.password is not None and s.source.password.reveal() == "srcpw-CCCC-3333"
    shown = repr(s) + str(s) + json.dumps(s.describe())
    for value in secrets.values():
        assert value not in shown
    assert s.describe()["settings"]["sql.password"] == {
        "value": REDACTED,
        "source": "env",
        "from": "ZEROETL_SQL_PASSWORD",
    }
    assert load(env={}).describe()["settings"]["api.token"]["value"] is None


def test_secret_from_file_must_be_private(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-from-file\n")
    token.chmod(0o644)
    env = {"ZEROETL_API_TOKEN_FILE": str(token)}
    with pytest.raises(ConfigError) as err:
        load(env=env)
    assert "readable by group or others" in str(err.value) and "chmod 600" in err.value.hint
    assert "tok-from-file" not in f"{err.value} {err.value.hint}"
    token.chmod(0o600)
    s = load(env=env)
    assert s.api.token is not None and s.api.token.reveal() == "tok-from-file"
    assert s.origin("api.token").where == f"ZEROETL_API_TOKEN_FILE={token}"
    # the value itself beats its file
    assert load(env=env | {"ZEROETL_API_TOKEN": "direct"}).api.token == Secret("direct")
    # in the file: a *_file key, relative to the file
    f = _toml(tmp_path / "z.toml", '[sql]\npassword_file = "token"\n', mode=0o644)
    got = load(env={}, config=f).sql.password
    assert got is not None and got.reveal() == "tok-from-file"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(ConfigError, match="is empty"):
        load(env={"ZEROETL_SQL_PASSWORD_FILE": str(empty)})
    with pytest.raises(ConfigError, match="cannot read the secret file"):
        load(env={"ZEROETL_SQL_PASSWORD_FILE": str(tmp_path / "nope")})


def test_a_file_holding_a_secret_must_be_private(tmp_path: Path) -> None:
    f = _toml(tmp_path / "z.toml", '[api]\ntoken = "inline-tok"\n', mode=0o640)
    with pytest.raises(ConfigError) as err:
        load(env={}, config=f)
    assert "api.token" in str(err.value) and "inline-tok" not in str(err.value)
    os.chmod(f, 0o600)
    assert load(env={}, config=f).api.token == Secret("inline-tok")
    # a bad secret value is refused without being echoed
    bad = _toml(tmp_path / "bad.toml", "[api]\ntoken = 12345678\n")
    with pytest.raises(ConfigError) as err2:
        load(env={}, config=bad)
    assert "12345678" not in str(err2.value) and "api.token" in str(err2.value)


def test_settings_are_frozen_and_cover_every_key() -> None:
    s = load(env={})
    with pytest.raises(FrozenInstanceError):
        s.host = "0.0.0.0"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        s.api.port = 1  # type: ignore[misc]
    dataclass_keys = {f.name for f in fields(Settings) if f.name in ("warehouse", "host")}
    for f in fields(Settings):
        section = getattr(s, f.name)
        if hasattr(section, "__dataclass_fields__"):
            dataclass_keys |= {f"{f.name}.{g.name}" for g in fields(section)}
    assert dataclass_keys == {k.name for k in KEYS}


def test_env_value_and_unknown_variables() -> None:
    assert config.env_value("sandbox.dir", {}) == Path(".zeroetl/sandbox")
    assert config.env_value("sandbox.dir", {"ZEROETL_SANDBOX_DIR": "/x"}) == Path("/x")
    pw = config.env_value("source.password", {"ZEROETL_SOURCE_PASSWORD": "p"})
    assert pw == Secret("p")
    s = load(env={"ZEROETL_SQL_PROT": "1", "ZEROETL_TEST_KEEP": "1", "ZEROETL_DEBUG": "1"})
    assert s.warnings == ("ZEROETL_SQL_PROT is not a setting (did you mean ZEROETL_SQL_PORT?)",)


def test_get_v1_config_in_process(tmp_path: Path) -> None:
    """The route answers the service's own settings, secrets redacted, behind the token; a
    service given no settings answers 404 NotFound."""
    import asyncio

    import httpx

    from zeroetl.server.api.app import create_app
    from zeroetl.service.service import Service
    from zeroetl.service.service_config import ServiceConfig

    env = {"ZEROETL_API_TOKEN": "tok-in-process-77", "ZEROETL_SQL_PASSWORD": "pw-in-process-88"}
    settings = load(env=env, flags={"sql.max_running": "2"})

    def get(svc: Service, token: str | None) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=create_app(svc))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return await c.get("/v1/config", headers=headers)

        return asyncio.run(go())

    svc = Service(
        ServiceConfig(
            warehouse=tmp_path / "wh",
            sql_port=None,
            api_token=settings.api.token,
            sql_password=settings.sql.password,
            settings=settings,
        )
    )
    try:
        assert svc.api_token == "tok-in-process-77"  # the configured token, no file made
        assert not (tmp_path / "wh" / "api.token").exists()
        assert get(svc, None).status_code == 401
        r = get(svc, "tok-in-process-77")
        assert r.status_code == 200
        got = r.json()["settings"]
        assert got["sql.max_running"] == {"value": 2, "source": "flag", "from": "--sql-max-running"}
        assert got["api.token"]["value"] == got["sql.password"]["value"] == REDACTED
        assert "tok-in-process" not in r.text and "pw-in-process" not in r.text
        assert "pw-in-process" not in repr(svc.config)
    finally:
        svc.shutdown()
    bare = Service(ServiceConfig(warehouse=tmp_path / "wh2", sql_port=None))
    try:
        r = get(bare, bare.api_token)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
    finally:
        bare.shutdown()
