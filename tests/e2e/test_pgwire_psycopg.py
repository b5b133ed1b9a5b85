"""psycopg 3 against the SQL endpoint (real server, real DuckDB, the test stand-in SQL layer)."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from tests.pgwire_standin import EXPECTED_ROW1, Endpoint, make_database

LONG_QUERY = "select sum(a.range * b.range) from range(200000) a, range(200000) b"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    con = make_database(Path(tmp_path_factory.mktemp("pgwire")) / "w.duckdb")
    yield con
    con.close()


@pytest.fixture(scope="module")
def endpoint(db: object) -> Iterator[Endpoint]:
    ep = Endpoint(db)  # type: ignore[arg-type]
    yield ep
    ep.close()


def test_connect_and_query(endpoint: Endpoint) -> None:
    with psycopg.connect(endpoint.dsn(), autocommit=True) as conn:
        assert conn.info.server_version >= 150000
        assert conn.info.parameter_status("client_encoding") == "UTF8"
        assert conn.execute("select 40 + 2").fetchone() == (42,)
        cur = conn.execute("create table made_here (a int)")
        assert cur.statusmessage == "CREATE TABLE"
        assert conn.execute("insert into made_here values (1), (2)").statusmessage == "INSERT 0 2"
        assert conn.execute("select * from made_here").statusmessage == "SELECT 2"


def test_wrong_password_and_unknown_database(endpoint: Endpoint) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(endpoint.dsn(password="nope"))
    with pytest.raises(psycopg.OperationalError, match='database "nope" does not exist'):
        psycopg.connect(endpoint.dsn(dbname="nope"))


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_every_common_type_round_trips(endpoint: Endpoint, binary: bool) -> None:
    with psycopg.connect(endpoint.dsn(), autocommit=True) as conn:
        cur = conn.cursor(binary=binary)
        cur.execute("select * from types order by id")
        names = [d.name for d in cur.description]
        oids = [d.type_code for d in cur.description]
        assert oids == [
            23,
            16,
            21,
            23,
            20,
            700,
            701,
            1700,
            25,
            17,
            1082,
            1083,
            1114,
            1184,
            114,
            2950,
            1186,
            1007,
        ]
        r1, r2, r3 = (dict(zip(names, row, strict=True)) for row in cur.fetchall())
    for k, v in EXPECTED_ROW1.items():
        assert r1[k] == v, k
    assert r1["n"] == Decimal("12345.678") and r2["n"] == Decimal("-0.001")
    assert r1["u"] == uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    assert r1["iv"] == dt.timedelta(days=365 + 60 + 3, hours=4, minutes=5, seconds=6.5)
    assert r2["f8"] == -1e100 and r2["t"] == "" and r2["bt"] == b"" and r2["li"] == []
    assert r2["iv"] == dt.timedelta(hours=-3) and r2["j"] == []
    assert r2["tz"] == dt.datetime(1999, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)
    assert all(v is None for k, v in r3.items() if k != "id")


@pytest.mark.parametrize("marker", ["%s", "%b"], ids=["text-params", "binary-params"])
def test_prepared_statements_with_parameters(endpoint: Endpoint, marker: str) -> None:
    values = [
        7,
        -(2**40),
        1.25,
        Decimal("-12.500"),
        "héllo",
        b"\x00\x01",
        True,
        dt.date(2024, 2, 29),
        dt.datetime(2024, 1, 2, 3, 4, 5, 6),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        uuid.UUID(int=12345),
        dt.time(1, 2, 3),
    ]
    with psycopg.connect(endpoint.dsn(), autocommit=True) as conn:
        for v in values:
            got = conn.execute(f"select {marker} as v", (v,), prepare=True).fetchone()
            assert got is not None and got[0] == v, v
        # one prepared statement executed many times (psycopg prepares after 5 runs by default)
        for i in range(8):
            row = conn.execute(f"select label from big where id = {marker}", (i,)).fetchone()
            assert row == (f"row {i}",)
        rows = conn.execute(
            f"select id from types where i4 > {marker} and t <> {marker} order by id", (0, "x")
        ).fetchall()
        assert rows == [(1,)]


def test_server_side_cursor(endpoint: Endpoint) -> None:
    with psycopg.connect(endpoint.dsn()) as conn:
        for binary in (False, True):
            with conn.transaction(), conn.cursor("big_cur", binary=binary) as cur:
                cur.itersize = 5000
                cur.execute("select id, label from big where id >= %s order by id", (10,))
                assert cur.description is not None and [d.name for d in cur.description] == [
                    "id",
                    "label",
                ]
                assert cur.fetchmany(3) == [(10, "row 10"), (11, "row 11"), (12, "row 12")]
                cur.scroll(100)
                assert cur.fetchone() == (113, "row 113")
                rest = cur.fetchall()
                assert len(rest) == 300000 - 114 and rest[-1] == (299999, "row 299999")


def test_cancel_long_query(endpoint: Endpoint) -> None:
    with psycopg.connect(endpoint.dsn(), autocommit=True) as conn:
        timer = threading.Timer(0.5, conn.cancel_safe)
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(errors.QueryCanceled) as err:
            conn.execute(LONG_QUERY)
        assert err.value.sqlstate == "57014"
        assert time.monotonic() - t0 < 10
        assert conn.execute("select 1").fetchone() == (1,)  # the session carries on


def test_concurrent_sessions_and_a_slow_one(endpoint: Endpoint) -> None:
    slow = psycopg.connect(endpoint.dsn(), autocommit=True)
    outcome: list[BaseException] = []

    def run_slow() -> None:
        try:
            slow.execute(LONG_QUERY)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=run_slow)
    t.start()
    time.sleep(0.3)
    results: dict[int, int] = {}

    def quick(i: int) -> None:
        with psycopg.connect(
            endpoint.dsn(user="analyst", password="analyst-pw"), autocommit=True
        ) as c:
            for _ in range(5):
                row = c.execute("select count(*) from big where id %% 8 = %s", (i,)).fetchone()
                assert row is not None
                results[i] = row[0]

    t0 = time.monotonic()
    workers = [threading.Thread(target=quick, args=(i,)) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    quick_s = time.monotonic() - t0
    assert t.is_alive(), "the slow query should still be running"
    slow.cancel_safe()
    t.join(30)
    slow.close()
    assert results == dict.fromkeys(range(8), 37500)
    assert quick_s < 15
    assert outcome and isinstance(outcome[0], errors.QueryCanceled)


def test_large_result_is_streamed(endpoint: Endpoint) -> None:
    n = 3_000_000
    with psycopg.connect(endpoint.dsn(), autocommit=True) as conn:
        session = endpoint.sessions[-1]
        stream = conn.cursor().stream(
            f"select range as id, repeat('x', 100) as pad from range({n})"
        )
        first = next(stream)
        assert first[0] == 0
        time.sleep(0.5)
        produced = session.batches_produced
        total_batches = n // 2048
        # the server produced only what the socket buffers hold, not the whole result
        assert produced < total_batches // 4, (produced, total_batches)
        count = 1 + sum(1 for _ in stream)
        assert count == n
        assert session.batches_produced >= total_batches


def _tls_context(tmp: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return ctx


def test_tls_on_and_off(db: object, endpoint: Endpoint, tmp_path: Path) -> None:
    tls = Endpoint(db, ssl_context=_tls_context(tmp_path))  # type: ignore[arg-type]
    try:
        with psycopg.connect(tls.dsn(sslmode="require")) as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.execute("select label from big where id = 5").fetchone() == ("row 5",)
        with psycopg.connect(tls.dsn(sslmode="disable")) as conn:
            assert not conn.pgconn.ssl_in_use
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        tls.close()
    # a server without a certificate refuses TLS; sslmode=prefer falls back to plain text
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(endpoint.dsn(sslmode="require"))
    with psycopg.connect(endpoint.dsn(sslmode="prefer")) as conn:
        assert not conn.pgconn.ssl_in_use
