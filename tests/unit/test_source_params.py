"""Source URLs as the service sees them (an API caller's input) and as the user's own processes
see them (CLI, `zeroetl replicate`): who may read files and environment variables, and which
options are accepted."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from tests.tls_support import make_pki

from zeroetl.catalog.errors import InvalidParameter
from zeroetl.errors import ConfigError
from zeroetl.service import validation as v
from zeroetl.sources.mysql.connection import PASSWORD_ENV, SourceParams, client_side, scrub


def test_the_service_never_reads_a_password_file_named_by_a_caller(tmp_path: Path) -> None:
    secret = tmp_path / "secret.key"
    secret.write_text("the-warehouse-key")
    missing = tmp_path / "nope"
    unreadable = tmp_path / "locked"
    unreadable.write_text("x")
    unreadable.chmod(0)
    messages = []
    for path in (secret, missing, unreadable, tmp_path):
        with pytest.raises(InvalidParameter) as e:
            v.source_params(f"mysql://x@evil:3306/?password_file={path}", None)
        messages.append(e.value.message.replace(str(path), "<path>"))
        assert "the-warehouse-key" not in str(e.value)
        assert "source_password" in str(e.value) and "CLI" in str(e.value)
    # The same answer whatever the path is: nothing tells whether it exists.
    assert len(set(messages)) == 1, messages
    # ssl_ca is a file too: refused the same way.
    with pytest.raises(InvalidParameter) as e:
        v.source_params(f"mysql://x@evil:3306/?ssl=verify&ssl_ca={secret}", None)
    assert "source_ssl_ca" in str(e.value)


def test_the_service_never_uses_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "service-env-secret")
    params = v.source_params("mysql://x@evil:3306", None)
    assert params.password == ""
    assert v.source_params("mysql://x@evil:3306", "given").password == "given"
    assert v.source_params("mysql://x:inurl@evil:3306", None).password == "inurl"
    with pytest.raises(InvalidParameter, match="once"):
        v.source_params("mysql://x:inurl@evil:3306", "given")


def test_client_side_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    # An explicit password in the URL wins over the environment (and over a file).
    url, password, ca = client_side("mysql://u:explicit@h:3306")
    assert (url, password, ca) == ("mysql://u:explicit@h:3306", None, None)
    assert SourceParams.from_url("mysql://u:explicit@h", local=True).password == "explicit"
    # A password file is read here, on the client, and leaves the URL.
    url, password, ca = client_side(f"mysql://u@h:3306/?password_file={pw}&connect_timeout=5")
    assert password == "from-file" and "password_file" not in url and "connect_timeout=5" in url
    assert SourceParams.from_url(f"mysql://u@h/?password_file={pw}", local=True).password == (
        "from-file"
    )
    # Else the user's own environment.
    assert client_side("mysql://u@h")[1] == "from-env"
    assert SourceParams.from_url("mysql://u@h", local=True).password == "from-env"
    monkeypatch.delenv(PASSWORD_ENV)
    assert client_side("mysql://u@h")[1] is None
    with pytest.raises(ConfigError, match="cannot read password file"):
        client_side(f"mysql://u@h/?password_file={tmp_path / 'missing'}")


def test_client_side_reads_the_ca_file(tmp_path: Path) -> None:
    ca = make_pki(tmp_path).ca
    url, _, pem = client_side(f"mysql://u:p@h/?ssl=verify&ssl_ca={ca}")
    assert pem is not None and "BEGIN CERTIFICATE" in pem
    assert "ssl_ca" not in url and "ssl=verify" in url
    with pytest.raises(ConfigError, match="ssl_ca"):
        client_side(f"mysql://u:p@h/?ssl=required&ssl_ca={ca}")  # a CA only makes sense to verify
    # The API takes the PEM text, checked, and only with ssl=verify.
    assert v.source_params("mysql://u:p@h/?ssl=verify", None, pem).ssl_ca == pem
    with pytest.raises(InvalidParameter, match="ssl=verify"):
        v.source_params("mysql://u:p@h/?ssl=required", None, pem)
    junk = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    with pytest.raises(InvalidParameter, match="PEM"):
        v.source_params("mysql://u:p@h/?ssl=verify", None, junk)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("connect_timeout=abc", "connect_timeout"),
        ("connect_timeout=nan", "connect_timeout"),
        ("connect_timeout=inf", "connect_timeout"),
        ("connect_timeout=-1", "connect_timeout"),
        ("connect_timeout=0", "connect_timeout"),
        ("connect_timeout=1e9", "connect_timeout"),
        ("connect_timeout=1&connect_timeout=2", "more than once"),
        ("ssl=maybe", "ssl"),
        ("sslmode=require", "unknown option"),
        ("unix_socket=/tmp/s", "unknown option"),
    ],
)
def test_bad_url_options_are_refused_clearly(query: str, expected: str) -> None:
    with pytest.raises(InvalidParameter, match=expected):
        v.source_params(f"mysql://u:p@h:3306/?{query}", None)


def test_url_options_are_kept() -> None:
    p = v.source_params("mysql://u:p@h:3306/?connect_timeout=2.5&ssl=REQUIRED", None)
    assert (p.connect_timeout, p.ssl) == (2.5, "required")
    assert p.redacted_url() == "mysql://u:***@h:3306/?ssl=required"
    assert SourceParams.from_url("mysql://u@h").ssl == "preferred"
    assert SourceParams.from_url("mysql://u@h/?ssl=disabled").redacted_url().endswith("=disabled")
    for bad in ("mysql://u@h:0", "mysql://u@h:70000", "mysql://u@h:x"):
        with pytest.raises(InvalidParameter, match="port"):
            v.source_params(bad, None)


def test_scrub_replaces_the_secret_not_the_letters() -> None:
    msg = "Access denied for user 'app'@'db.example' (using password: YES) as a rule"
    assert scrub(msg, "a") == msg.replace(" a ", " *** ")
    assert scrub("password is a", "a") == "password is ***"
    assert scrub("mysql://u:pw@h said pw", "pw") == "mysql://u:***@h said ***"
    assert scrub("typed 'hunter2' here", "hunter2") == "typed '***' here"
    long = "s3cr3t-Passw0rd"
    assert scrub(f"x{long}y and {long}", long) == "x***y and ***"  # long: every occurrence
    assert scrub("nothing", "") == "nothing"


def test_secret_files_stay_private_across_umasks(tmp_path: Path) -> None:
    from zeroetl.catalog.perms import secure_warehouse

    wh = tmp_path / "wh"
    wh.mkdir(mode=0o755)
    (wh / "old.duckdb").write_text("x")
    os.chmod(wh / "old.duckdb", 0o644)
    before = os.umask(0o022)
    try:
        secure_warehouse(wh)
        assert stat.S_IMODE(wh.stat().st_mode) == 0o700
        assert stat.S_IMODE((wh / "old.duckdb").stat().st_mode) == 0o600
        (wh / "new.file").write_text("y")  # created after: the umask keeps it private
        assert stat.S_IMODE((wh / "new.file").stat().st_mode) & 0o077 == 0
    finally:
        os.umask(before)
