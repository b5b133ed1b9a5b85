"""A fake MySQL server that tries to get the client's password, and records every byte it gets.

It speaks just enough of the protocol (handshake v10, auth switch, caching_sha2_password's
"perform full authentication" and public-key exchange) to play the attacker who runs a server
at an address the victim connects to. Modes:

- ``clear``: greet with mysql_native_password, then switch to ``mysql_clear_password``;
- ``dialog``: switch to MariaDB's ``dialog`` plugin with a "Password: " prompt;
- ``sha2_full``: greet with caching_sha2_password and demand full authentication without TLS,
  handing out its own RSA key when asked;
- ``switch_sha2_full``: greet with mysql_native_password, switch to caching_sha2_password, then
  the same as ``sha2_full``;
- ``sha256``: greet with sha256_password without TLS and hand out its own key;
- ``tls_sha2_full``: offer TLS (its own self-signed certificate), then demand caching_sha2
  full authentication inside it (what a client sends there is recorded in clear);
- ``mute``: let anyone log in (mysql_native_password, no check), answer the session set-up,
  then never answer a query;
- ``silent``: accept and never send a byte;
- ``trickle``: announce a long greeting, then send one byte every half second forever;
- ``garbage``: a greeting that is not one.

`leaked(secret)` searches everything received for the secret in any encoding we can think of,
including what the fake can decrypt with its private key.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import struct
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.tls_support import make_pki

SALT = b"0123456789abcdefghij"  # 20 bytes, no NUL
CAPS = (
    0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000 | 0x100000 | 0x200000
)  # long password, long flag, connect with db, 4.1, transactions, secure conn, multi results,
#    plugin auth, connect attrs, lenenc client data (no SSL: this server offers no TLS)
MODES = (
    "clear",
    "dialog",
    "sha2_full",
    "switch_sha2_full",
    "sha256",
    "tls_sha2_full",
    "mute",
    "silent",
    "trickle",
    "garbage",
)


def _packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


SSL_CAP = 0x800


def greeting(plugin: bytes, salt: bytes = SALT, caps: int = CAPS) -> bytes:
    return (
        b"\x0a"
        + b"8.0.99-fake\0"
        + struct.pack("<I", 7)
        + salt[:8]
        + b"\0"
        + struct.pack("<H", caps & 0xFFFF)
        + bytes([45])  # utf8mb4
        + struct.pack("<H", 2)
        + struct.pack("<H", caps >> 16)
        + bytes([len(salt) + 1])
        + b"\0" * 10
        + salt[8:]
        + b"\0"
        + plugin
        + b"\0"
    )


def _err(seq: int) -> bytes:
    return _packet(seq, b"\xff" + struct.pack("<H", 1045) + b"#28000Access denied (fake)")


class FakeMySQL:
    def __init__(self, mode: str) -> None:
        assert mode in MODES, mode
        self.mode = mode
        self.received = bytearray()
        self.packets: list[bytes] = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        if mode == "tls_sha2_full":
            pki = make_pki(Path(tempfile.mkdtemp(prefix="fake-mysql-")), cn="fake CA")
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(pki.cert, pki.key)
        self._conns: list[socket.socket] = []
        self._closed = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, user: str = "app") -> str:
        return f"mysql://{user}@127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.close()

    def __enter__(self) -> FakeMySQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what it got ----------------------------------------------------------------------

    def leaked(self, secret: str) -> list[str]:
        """How the secret can be read from what this server received (empty: it cannot)."""
        with self._lock:
            data = bytes(self.received)
            packets = list(self.packets)
        raw = secret.encode()
        forms = {
            "utf-8": raw,
            "utf-16-le": secret.encode("utf-16-le"),
            "utf-16-be": secret.encode("utf-16-be"),
            "hex": raw.hex().encode(),
            "HEX": raw.hex().upper().encode(),
            "base64": base64.b64encode(raw).rstrip(b"="),
            "url": quote(secret).encode(),
            "xor-salt": bytes(b ^ SALT[i % len(SALT)] for i, b in enumerate(raw + b"\0")),
        }
        found = [name for name, form in forms.items() if form and form in data]
        for p in packets:  # what the fake's own RSA key opens (the public-key exchange)
            if len(p) != 256:
                continue
            with contextlib.suppress(ValueError):
                plain = self.key.decrypt(
                    p,
                    padding.OAEP(
                        mgf=padding.MGF1(algorithm=hashes.SHA1()),
                        algorithm=hashes.SHA1(),
                        label=None,
                    ),
                )
                opened = bytes(b ^ SALT[i % len(SALT)] for i, b in enumerate(plain))
                if raw in opened or raw in plain:
                    found.append("rsa-with-the-server's-own-key")
        return found

    # --- the server -------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
                self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> tuple[int, bytes] | None:
        head = self._exactly(conn, 4)
        if head is None:
            return None
        length = int.from_bytes(head[:3], "little")
        body = self._exactly(conn, length)
        if body is None:
            return None
        with self._lock:
            self.packets.append(body)
        return head[3], body

    def _exactly(self, conn: socket.socket, n: int) -> bytes | None:
        out = b""
        while len(out) < n:
            try:
                chunk = conn.recv(n - len(out))
            except OSError:
                return None
            if not chunk:
                return None
            with self._lock:
                self.received += chunk
            out += chunk
        return out

    def _mute(self, conn: socket.socket, seq: int) -> None:
        ok = b"\x00\x00\x00\x02\x00\x00\x00"
        conn.sendall(_packet(seq, ok))  # logged in
        for _ in range(3):  # SET NAMES, the init command, autocommit
            got = self._read(conn)
            if got is None:
                return
            conn.sendall(_packet(got[0] + 1, ok))
        self._closed.wait()  # the first real query never gets an answer

    def _serve(self, conn: socket.socket) -> None:
        mode = self.mode
        try:
            if mode == "silent":
                self._closed.wait()
                return
            if mode == "trickle":
                conn.sendall(struct.pack("<I", 0xFFFFF0)[:3] + b"\0")
                while not self._closed.wait(0.5):
                    conn.sendall(b"x")
                return
            if mode == "garbage":
                conn.sendall(_packet(0, b"\x0a\x01"))
                self._read(conn)
                return
            plugin = {
                "sha2_full": b"caching_sha2_password",
                "tls_sha2_full": b"caching_sha2_password",
                "sha256": b"sha256_password",
            }.get(mode, b"mysql_native_password")
            caps = CAPS | (SSL_CAP if self._tls else 0)
            conn.sendall(_packet(0, greeting(plugin, caps=caps)))
            got = self._read(conn)
            if got is None:
                return
            if self._tls is not None and len(got[1]) == 32:  # SSLRequest: go TLS
                conn = self._tls.wrap_socket(conn, server_side=True)
                got = self._read(conn)  # the handshake response, inside TLS
                if got is None:
                    return
            seq = got[0] + 1
            if mode in ("clear", "dialog", "switch_sha2_full"):
                switch = {
                    "clear": b"mysql_clear_password\0",
                    "dialog": b"dialog\0\x04Password: ",
                    "switch_sha2_full": b"caching_sha2_password\0" + SALT + b"\0",
                }[mode]
                conn.sendall(_packet(seq, b"\xfe" + switch))
                got = self._read(conn)
                if got is None:
                    return
                seq = got[0] + 1
            if mode in ("sha2_full", "switch_sha2_full", "tls_sha2_full"):
                conn.sendall(_packet(seq, b"\x01\x04"))  # perform full authentication
                got = self._read(conn)
                if got is None:
                    return
                seq = got[0] + 1
                if got[1] == b"\x02":  # the client asks for the server's public key
                    conn.sendall(_packet(seq, b"\x01" + self.pem))
                    got = self._read(conn)
                    if got is None:
                        return
                    seq = got[0] + 1
            if mode == "sha256":
                conn.sendall(_packet(seq, b"\x01" + self.pem))
                got = self._read(conn)
                if got is None:
                    return
                seq = got[0] + 1
            if mode == "mute":
                self._mute(conn, seq)
                return
            conn.sendall(_err(seq))
            time.sleep(0.1)
        except OSError:
            return
