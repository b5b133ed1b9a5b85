"""Opportunistic TLS (`ssl=preferred`, pymysql's default) shares one client context per process:
making one loads the system's CA store (~0.1 s of CPU a connection). Contexts that verify or
that the URL asked for are still made for each connection, as pymysql makes them."""

from __future__ import annotations

import ssl

from zeroetl.sources.mysql.auth import GuardedConnection
from zeroetl.sources.mysql.connection import SourceParams


def _conn(**kw: object) -> GuardedConnection:
    return GuardedConnection(host="127.0.0.1", port=1, user="u", defer_connect=True, **kw)


def test_preferred_context_is_shared_and_verifies_nothing() -> None:
    a, b = _conn(), _conn()
    assert a.ctx is b.ctx
    assert a.ssl and not a._ssl_required  # still opportunistic: no TLS offered is fine
    assert a.ctx.verify_mode == ssl.CERT_NONE and not a.ctx.check_hostname


def test_asked_for_contexts_are_not_shared() -> None:
    a = _conn(ssl={"ca": None, "check_hostname": False, "verify_mode": False})
    b = _conn(ssl={"ca": None, "check_hostname": False, "verify_mode": False})
    assert a.ctx is not b.ctx and a._ssl_required
    assert a.ctx is not _conn().ctx


def test_required_and_verify_urls_keep_their_own_contexts() -> None:
    for url in ("mysql://u@h:3306/?ssl=required", "mysql://u@h:3306/?ssl=verify"):
        opts = SourceParams.from_url(url)._tls_options()
        a = _conn(**opts)
        assert a.ctx is opts["ssl"] and a._ssl_required


def test_preferred_context_is_the_default_one_without_the_ca_store() -> None:
    """It never verifies, so the system's CA store (20-80 ms of CPU to load) is not loaded;
    protocol versions, options and flags are those of pymysql's context for `ssl={}`."""
    import pymysql

    from zeroetl.sources.mysql.auth import preferred_context

    ours = preferred_context()
    theirs = pymysql.connections.Connection._create_ssl_ctx(_conn(), {})
    assert ours.cert_store_stats()["x509_ca"] == 0
    assert _conn().ctx.cert_store_stats()["x509_ca"] == 0  # the one connections share
    for attr in ("verify_mode", "check_hostname", "options", "verify_flags", "protocol"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert (ours.minimum_version, ours.maximum_version) == (
        theirs.minimum_version,
        theirs.maximum_version,
    )
