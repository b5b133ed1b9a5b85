"""TLS of the SQL endpoint: a configured certificate, or a self-signed one made at first start.

Redshift drivers and BI tools default to TLS, so the endpoint always offers it (answers an
SSLRequest with 'S'). Without a configured certificate and key, the service makes a self-signed
certificate in the warehouse (`sql-tls.crt`, key `sql-tls.key` mode 0600) naming localhost, this
host's name and its loopback addresses; it is made again when it is about to expire. A client that
verifies certificates trusts it by pointing at that file (`sslrootcert=<warehouse>/sql-tls.crt`
for libpq; `SSL_CERT_FILE` for redshift_connector), or the operator configures a certificate from
the company's CA (`--sql-tls-cert/--sql-tls-key`). `sslmode=disable` stays accepted unless
`--sql-require-tls`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from zeroetl.errors import ConfigError

log = logging.getLogger("zeroetl.pgwire")

CERT_FILE = "sql-tls.crt"
KEY_FILE = "sql-tls.key"
VALID_DAYS = 825  # Apple's TLS stack refuses server certificates valid for longer
RENEW_BEFORE = dt.timedelta(days=30)
CERT_ENV, KEY_ENV = "ZEROETL_SQL_TLS_CERT", "ZEROETL_SQL_TLS_KEY"
REQUIRE_ENV = "ZEROETL_SQL_REQUIRE_TLS"


@dataclass(frozen=True)
class TlsSettings:
    cert: Path | None = None  # PEM certificate (chain); None: the self-signed one
    key: Path | None = None  # its PEM private key
    require: bool = False  # refuse start-ups without TLS (28000)


@dataclass(frozen=True)
class ServerTls:
    context: ssl.SSLContext
    cert: Path
    self_signed: bool
    fingerprint: str  # SHA-256 of the certificate, for an analyst to compare


def server_tls(warehouse: Path, settings: TlsSettings) -> ServerTls:
    """The endpoint's TLS context from the configured files, else from the self-signed ones."""
    if (settings.cert is None) != (settings.key is None):
        raise ConfigError(
            "the SQL endpoint's TLS certificate and key go together",
            hint=f"give both --sql-tls-cert and --sql-tls-key ({CERT_ENV}, {KEY_ENV}), or neither"
            " for a self-signed certificate",
        )
    if settings.cert is not None and settings.key is not None:
        cert, key, self_signed = settings.cert.expanduser(), settings.key.expanduser(), False
    else:
        cert, key = ensure_self_signed(Path(warehouse))
        self_signed = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot use the SQL endpoint's TLS certificate {cert} with key {key}: "
            f"{getattr(exc, 'strerror', None) or exc}",
            hint="both must be PEM files readable by the service, the key unencrypted and"
            " matching the certificate",
        ) from None
    return ServerTls(ctx, cert, self_signed, _fingerprint(cert))


def _fingerprint(cert: Path) -> str:
    der = x509.load_pem_x509_certificate(cert.read_bytes()).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in der)


def ensure_self_signed(warehouse: Path) -> tuple[Path, Path]:
    """`<warehouse>/sql-tls.crt` and `.key`, made when missing, unreadable or near expiry."""
    cert, key = warehouse / CERT_FILE, warehouse / KEY_FILE
    if cert.exists() and key.exists():
        try:
            expires = x509.load_pem_x509_certificate(cert.read_bytes()).not_valid_after_utc
            if expires - dt.datetime.now(dt.UTC) > RENEW_BEFORE:
                if key.stat().st_mode & 0o077:
                    key.chmod(0o600)  # someone loosened it: a private key stays private
                return cert, key
            log.info(
                "SQL endpoint: the self-signed certificate expires %s; making a new one", expires
            )
        except ValueError:
            log.warning("SQL endpoint: %s is not a PEM certificate; making a new one", cert)
    _make(cert, key)
    return cert, key


def _names() -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    host = socket.gethostname()
    fqdn = socket.getfqdn()
    for h in dict.fromkeys([host, fqdn]):
        if h and h != "localhost" and all(c.isalnum() or c in "-." for c in h):
            names.append(x509.DNSName(h))
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    return names


def _make(cert_path: Path, key_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "zeroetl SQL endpoint (self-signed)"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names()), critical=False)
        # CA:TRUE, as `openssl req -x509` makes it: a client can trust this very certificate as
        # its root (sslrootcert / SSL_CERT_FILE); path length 0: it signs nothing else.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for path in (key_path, cert_path):
        path.unlink(missing_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("SQL endpoint: made a self-signed TLS certificate %s", cert_path)
