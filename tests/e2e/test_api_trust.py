"""The HTTP API as an attacker with (or without) a token would use it, against a real
`zeroetl serve`: no server file or service secret is ever sent anywhere, no password reaches a
server asking for it in clear, pre-auth input is bounded, and slow sources cannot starve the
API or keep the service from stopping."""

from __future__ import annotations

import json
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.fake_mysql import FakeMySQL
from tests.service_support import Serve, wait_for

pytestmark = pytest.mark.integration

SERVICE_SECRET = "Service-0wn-Env-Pw"  # ZEROETL_SOURCE_PASSWORD in the service's environment
CALLER_PW = "Caller-Given-Pw-42"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(
        tmp_path / "wh", tmp_path / "serve.log", env={"ZEROETL_SOURCE_PASSWORD": SERVICE_SECRET}
    )
    s.start()
    yield s
    s.kill()


def _secrets(svc: Serve) -> list[str]:
    return [
        SERVICE_SECRET,
        (svc.warehouse / "secret.key").read_text().strip(),
        (svc.warehouse / "api.token").read_text().strip(),
        CALLER_PW,
    ]


def test_no_server_file_or_service_secret_is_ever_sent(svc: Serve, tmp_path: Path) -> None:
    clear = FakeMySQL("clear")
    sha2 = FakeMySQL("sha2_full")
    try:
        key_file = svc.warehouse / "secret.key"
        # password_file names a server path: refused without touching it, the same way
        # whether the path exists or not.
        answers = []
        for path in (key_file, svc.warehouse / "no-such-file", Path("/etc/shadow")):
            r = svc.api(
                "POST",
                "/v1/integrations",
                {"name": "steal", "source": f"{clear.url('x')}/?password_file={path}"},
            )
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert err["code"] == "InvalidParameter" and "source_password" in err["message"]
            answers.append(json.dumps(err).replace(str(path), "<path>"))
        assert len(set(answers)) == 1
        r = svc.api(
            "POST",
            "/v1/integrations",
            {"name": "steal", "source": f"{clear.url('x')}/?ssl=verify&ssl_ca={key_file}"},
        )
        assert r.status_code == 400 and "source_ssl_ca" in r.text
        assert clear.accepted == 0  # never even connected

        # No password at all: the service does not lend its own environment's.
        for fake in (clear, sha2):
            r = svc.api("POST", "/v1/integrations", {"name": "nopw", "source": fake.url("x")})
            assert r.status_code == 400, r.text
        # The caller's own password, to servers that ask for it in clear / under their own key.
        for fake in (clear, sha2):
            r = svc.api(
                "POST",
                "/v1/integrations",
                {"name": "given", "source": fake.url("x"), "source_password": CALLER_PW},
            )
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert err["code"] == "InsecureSourceAuth", err
            assert "refused" in err["message"] and err["hint"]
        # The CLI reads ?password_file= on the client and sends the password: still refused.
        pw_file = tmp_path / "pw"
        pw_file.write_text(CALLER_PW)
        out = svc.cli(
            "create", "cli-made", "--source", f"{clear.url('x')}/?password_file={pw_file}"
        )
        assert out.returncode == 1 and "InsecureSourceAuth" in out.stderr, out
        for fake in (clear, sha2):
            assert fake.accepted >= 2
            for secret in _secrets(svc):
                assert fake.leaked(secret) == [], (fake.mode, secret)
        assert svc.ok("GET", "/v1/integrations")["total"] == 0
        log = svc.log.read_text()
        for secret in _secrets(svc):
            assert secret not in log and secret not in "\n".join(svc.seen)
    finally:
        clear.close()
        sha2.close()


def _raw(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send a request's head (and maybe part of its body); return what comes back first."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(head + body)
        s.settimeout(15)
        return s.recv(4096)


def test_pre_auth_input_is_bounded(svc: Serve) -> None:
    big = 50 * 1024 * 1024
    head = (
        f"POST /v1/integrations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {big}\r\n\r\n"
    ).encode()
    # No token: 401 at once, while 49.9 MB of the announced body were never sent (a server
    # that read the body first would still be waiting for it: recv would time out).
    answer = _raw(svc.port, head, b"{" + b" " * 65535)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"Unauthorized" in answer
    # A wrong token and a broken JSON body: still 401, not 400 (the body is not parsed).
    r = httpx.post(
        svc.url + "/v1/integrations",
        content=b"{not json",
        headers={"Authorization": "Bearer wrong", "Content-Type": "application/json"},
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthorized"
    # With the token: bodies over 1 MiB get 413, announced or streamed.
    auth = f"Authorization: Bearer {svc.token}\r\n".encode()
    answer = _raw(svc.port, head.replace(b"Host: x\r\n", b"Host: x\r\n" + auth))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 65536

    r = httpx.post(
        svc.url + "/v1/integrations",
        content=chunks(),
        headers={"Authorization": f"Bearer {svc.token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "PayloadTooLarge"
    # Normal requests are unaffected; /healthz and the console need no token.
    assert svc.api("GET", "/v1/integrations").status_code == 200
    assert httpx.get(svc.url + "/healthz").status_code == 200
    assert httpx.get(svc.url + "/").status_code == 200


@pytest.mark.timeout(120)
def test_silent_sources_starve_nothing_and_sigterm_stops_promptly(svc: Serve) -> None:
    silent = FakeMySQL("silent")
    results: list[int] = []
    try:

        def post(i: int) -> None:
            try:
                r = httpx.post(
                    svc.url + "/v1/integrations",
                    json={"name": f"slow-{i}", "source": silent.url("x"), "source_password": "p"},
                    headers={"Authorization": f"Bearer {svc.token}"},
                    timeout=120,
                )
                results.append(r.status_code)
            except httpx.HTTPError:
                results.append(-1)  # cut off by the service stopping

        threads = [threading.Thread(target=post, args=(i,), daemon=True) for i in range(45)]
        for t in threads:
            t.start()
        wait_for(lambda: silent.accepted >= 8, "the source checks to reach the silent server")
        # Every check slot is held by a silent source; the API still answers, at once.
        assert httpx.get(svc.url + "/healthz", timeout=5).status_code == 200
        assert svc.api("GET", "/v1/integrations").status_code == 200
        assert svc.api("GET", "/metrics").status_code == 200
        # SIGTERM while 45 requests wait on the silent server: the service stops, cleanly.
        assert svc.proc is not None
        svc.proc.send_signal(signal.SIGTERM)
        assert svc.proc.wait(20) == 0, svc.log.read_text()[-2000:]
        assert silent.accepted < 45  # the checks ran with bounded concurrency
    finally:
        silent.close()
    for t in threads:
        t.join(60)
    assert 201 not in results


def test_the_urls_own_password_wins_over_the_clients_environment(svc: Serve, mariadb) -> None:
    out = svc.cli(
        "create",
        "explicit",
        "--source",
        mariadb.url(),  # mysql://zeroetl:zeroetl@...
        env={"ZEROETL_SOURCE_PASSWORD": "a-stale-password"},
    )
    assert out.returncode == 0, out.stderr
    assert svc.ok("GET", "/v1/integrations/explicit")["name"] == "explicit"
