"""No password reaches a server that asks for it in a way that would expose it, and a source
connection ends in bounded time whatever the server does (a fake MySQL server plays the
attacker: tests/fake_mysql.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pymysql
import pytest
from tests.fake_mysql import FakeMySQL

from zeroetl.errors import InsecureSourceAuth, SourceAccessDenied, SourceUnavailable
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.prereq import check_source

PASSWORD = "Pw-0f-the-victim!"
ATTACKS = ["clear", "dialog", "sha2_full", "switch_sha2_full", "sha256", "tls_sha2_full"]


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeMySQL]:
    server = FakeMySQL(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("fake", ["clear", "sha2_full", "dialog", "tls_sha2_full"], indirect=True)
def test_the_fake_does_get_the_password_from_a_plain_pymysql_client(fake: FakeMySQL) -> None:
    """The control: pymysql alone hands the password over (so the fake is a real attacker)."""
    with pytest.raises(pymysql.err.MySQLError):
        pymysql.connect(
            host="127.0.0.1", port=fake.port, user="app", password=PASSWORD, connect_timeout=5
        )
    assert fake.leaked(PASSWORD)


@pytest.mark.parametrize("fake", ATTACKS, indirect=True)
def test_no_secret_reaches_a_server_asking_for_it(fake: FakeMySQL) -> None:
    params = SourceParams("127.0.0.1", fake.port, "app", PASSWORD, connect_timeout=5)
    with pytest.raises(InsecureSourceAuth) as e:
        params.connect()
    assert fake.accepted == 1 and fake.received  # the client did talk to it
    assert fake.leaked(PASSWORD) == []
    msg = str(e.value)
    assert PASSWORD not in msg and "refused" in msg
    if fake.mode in ("clear", "dialog"):
        assert "clear text" in msg
    else:
        assert "TLS" in msg and "ssl=verify" in msg
    if fake.mode == "tls_sha2_full":
        assert "not asked for" in msg  # opportunistic TLS was on, and is not enough
    # The prerequisite check (what the API runs before creating an integration) says the same.
    report = check_source(params)
    assert not report.ready and isinstance(report.error, InsecureSourceAuth)
    assert fake.leaked(PASSWORD) == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fake", ["silent", "trickle"], indirect=True)
def test_connecting_to_a_server_that_never_finishes_ends(fake: FakeMySQL) -> None:
    """Without bounds these never return (the test's timeout would fail them)."""
    params = SourceParams("127.0.0.1", fake.port, "app", PASSWORD, connect_timeout=1)
    with pytest.raises(SourceUnavailable) as e:
        params.connect()
    assert PASSWORD not in str(e.value)
    report = check_source(params)
    assert [c.name for c in report.checks] == ["connect"] and not report.ready


@pytest.mark.parametrize("fake", ["garbage"], indirect=True)
def test_a_malformed_greeting_is_a_clear_error(fake: FakeMySQL) -> None:
    params = SourceParams("127.0.0.1", fake.port, "app", PASSWORD, connect_timeout=5)
    with pytest.raises(SourceUnavailable, match="cannot connect to mysql://app:\\*\\*\\*@127"):
        params.connect()


@pytest.mark.parametrize("fake", ["tls_sha2_full"], indirect=True)
def test_what_each_ssl_mode_promises_against_an_impostor(fake: FakeMySQL) -> None:
    """verify: the impostor's certificate is not trusted, nothing is sent. required: TLS the
    user asked for, so full authentication goes on inside it; but required checks no
    certificate, so an impostor at the address reads the password: use verify."""
    base = f"mysql://app@127.0.0.1:{fake.port}"
    verify = replace(SourceParams.from_url(base + "/?ssl=verify"), password=PASSWORD)
    with pytest.raises(SourceUnavailable, match="not trusted"):
        verify.connect()
    assert fake.leaked(PASSWORD) == []
    disabled = replace(SourceParams.from_url(base + "/?ssl=disabled"), password=PASSWORD)
    with pytest.raises(InsecureSourceAuth):
        disabled.connect()
    assert fake.leaked(PASSWORD) == []
    required = replace(SourceParams.from_url(base + "/?ssl=required"), password=PASSWORD)
    with pytest.raises(SourceAccessDenied, match="authentication failed"):
        required.connect()
    assert fake.leaked(PASSWORD) == ["utf-8"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fake", ["mute"], indirect=True)
def test_prerequisite_checks_end_when_the_server_stops_answering(fake: FakeMySQL) -> None:
    params = SourceParams("127.0.0.1", fake.port, "app", PASSWORD, connect_timeout=2)
    report = check_source(replace(params, io_timeout=1.0))
    assert not report.ready and [c.name for c in report.checks] == ["connect"]
    assert "stopped answering" in report.checks[0].actual
    assert isinstance(report.error, SourceUnavailable)
