"""The SQL endpoint's certificate files: made once (key 0600), kept, made again near expiry or when
broken; configured files used as given, a half configuration or a bad file a clear error; and a
TLS handshake that checks the generated certificate by name."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from tests.tls_support import make_pki

from zeroetl.errors import ConfigError
from zeroetl.server.pgwire import tls


def test_made_once_and_kept(tmp_path: Path) -> None:
    cert, key = tls.ensure_self_signed(tmp_path)
    assert key.stat().st_mode & 0o777 == 0o600
    first = cert.read_bytes()
    c = x509.load_pem_x509_certificate(first)
    names = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    key.chmod(0o644)
    assert tls.ensure_self_signed(tmp_path) == (cert, key)
    assert cert.read_bytes() == first
    assert key.stat().st_mode & 0o777 == 0o600  # tightened again


def test_made_again_when_broken_or_expiring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, _key = tls.ensure_self_signed(tmp_path)
    first = cert.read_bytes()
    cert.write_text("not a certificate")
    tls.ensure_self_signed(tmp_path)
    second = cert.read_bytes()
    assert second != first and second.startswith(b"-----BEGIN CERTIFICATE-----")
    # pretend we are 800 days later: within RENEW_BEFORE of its end
    monkeypatch.setattr(tls, "RENEW_BEFORE", dt.timedelta(days=tls.VALID_DAYS))
    tls.ensure_self_signed(tmp_path)
    assert cert.read_bytes() != second


def test_configured_files(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    got = tls.server_tls(tmp_path / "wh", tls.TlsSettings(cert=pki.cert, key=pki.key))
    assert not got.self_signed and got.cert == pki.cert
    assert len(got.fingerprint.split(":")) == 32
    assert not (tmp_path / "wh" / tls.CERT_FILE).exists()
    with pytest.raises(ConfigError, match="go together"):
        tls.server_tls(tmp_path, tls.TlsSettings(cert=pki.cert))
    other = make_pki(tmp_path / "other")
    with pytest.raises(ConfigError, match="cannot use"):
        tls.server_tls(tmp_path, tls.TlsSettings(cert=pki.cert, key=other.key))  # not its key
    with pytest.raises(ConfigError, match="cannot use"):
        tls.server_tls(tmp_path, tls.TlsSettings(cert=tmp_path / "nope", key=pki.key))


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_generated_certificate_verifies_as_its_own_root(tmp_path: Path, host: str) -> None:
    server = tls.server_tls(tmp_path, tls.TlsSettings())
    assert server.self_signed
    client = ssl.create_default_context(cafile=str(server.cert))  # verify chain and host name
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve_one() -> None:
            conn, _ = listener.accept()
            with server.context.wrap_socket(conn, server_side=True) as s:
                s.sendall(b"ok")

        t = threading.Thread(target=serve_one, daemon=True)
        t.start()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client.wrap_socket(raw, server_hostname=host) as s,
        ):
            assert s.recv(2) == b"ok"
            assert s.version() in ("TLSv1.2", "TLSv1.3")
        t.join(10)
