"""A test-only HTTP front for embedded ClickHouse, so that the `clickhouse://` transport
(clickhouse-connect over HTTP) runs against a real ClickHouse engine: chDB 26.9 answers every
statement. It speaks the part of ClickHouse's HTTP interface the client uses (the query in the
URL or the body, settings as URL parameters, data after an `INSERT ... FORMAT`, errors as
status 500 with the exception text). It is not ClickHouse's own HTTP server.

Run: python -m tests.destinations.chdb_http DIR PORT (prints "ready" when it listens).
"""

from __future__ import annotations

import re
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# Parameters of the HTTP interface that are not settings.
_NOT_SETTINGS = {
    "query", "database", "session_id", "session_timeout", "query_id", "default_format",
    "compress", "decompress", "user", "password", "session_check", "role",
    "wait_end_of_query", "enable_http_compression", "send_progress_in_http_headers",
}  # fmt: skip
_FORMAT = re.compile(r"\s+FORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(.+?)\s+FORMAT\s+(\w+)\s*$", re.IGNORECASE | re.DOTALL)


def serve(path: str, port: int) -> None:
    from chdb import session

    db = session.Session(path)
    spool = Path(tempfile.mkdtemp(prefix="chdb_http_"))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def _answer(self, status: int, body: bytes, fmt: str = "") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-ClickHouse-Server-Display-Name", "chdb-http")
            self.send_header("X-ClickHouse-Timezone", "UTC")
            if fmt:
                self.send_header("X-ClickHouse-Format", fmt)
            if status != 200:
                self.send_header("X-ClickHouse-Exception-Code", "1")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size) if size else b""
            if url.path == "/ping":
                return self._answer(200, b"Ok.\n")
            query = params.get("query")
            data = b""
            if query is None:
                query = body.decode()
            else:
                data = body
            settings = {k: v for k, v in params.items() if k not in _NOT_SETTINGS}
            clause = ""
            if settings:
                clause = " SETTINGS " + ", ".join(f"{k} = '{v}'" for k, v in settings.items())
            try:
                m = _INSERT.match(query)
                if m and data:
                    f = spool / "insert.data"
                    f.write_bytes(data)
                    target, fmt = m.group(1), m.group(2)
                    db.query(
                        f"INSERT INTO {target} SELECT * FROM file('{f}', {fmt}){clause}", "CSV"
                    )
                    return self._answer(200, b"")
                f = _FORMAT.search(query)
                fmt = f.group(1) if f else params.get("default_format", "TabSeparated")
                sql = query[: f.start()] if f else query
                result = db.query(
                    sql + (clause if sql.lstrip()[:6].upper() in ("SELECT", "WITH  ") else ""), fmt
                )
                return self._answer(200, result.bytes() if result is not None else b"", fmt)
            except Exception as e:  # the engine's error, as ClickHouse reports it
                return self._answer(500, f"Code: 1. DB::Exception: {e}".encode())

    server = HTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
