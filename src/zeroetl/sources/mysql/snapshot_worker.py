"""A snapshot reader process: reads key ranges in its own consistent snapshot, converts them to
Arrow and sends them to the engine's process as Arrow IPC (snapshot_procs.py is the other end).

Run as ``python -m zeroetl.sources.mysql.snapshot_worker FD``: FD is one end of a Unix socket
pair. Everything else, the source's credentials included, arrives over that socket (pickled),
so nothing secret is in the process's argv or environment.

Messages to the engine (pickled, `multiprocessing.connection` framing):

  ("begun", position | None)         the consistent snapshot this process reads in
  ("split", table, bounds, start)    a table's key ranges (answer to a range of index -1)
  ("rows", table, index, last, position, zero_dates, nbytes)
                                     followed by `nbytes` raw bytes: one Arrow IPC stream
  ("failed", table, index, changed, reason)
  ("range", table, index)            the range is complete; the process waits for the next
  ("error", transient, message)      the process cannot go on (it exits)

and from it: ("init", params, chunk_rows, chunk_bytes, at, readers), then ("range", schema,
index, after, upto) any number of times, then ("stop",). A range is read with the next chunk
fetched while this one is converted and sent; `sendall` blocks while the engine is busy, so a
process holds at most about two chunks: memory stays bounded by the socket, not by a queue.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa

from zeroetl.errors import SourceUnavailable, TableChanged, TableFailed
from zeroetl.model import INTEGER_KINDS, Position, TableSchema
from zeroetl.sources.mysql.connection import SourceParams, scrub
from zeroetl.sources.mysql.snapshot import SnapshotReader
from zeroetl.sources.mysql.textcast import quote_ident

ALIGN_TRIES = 5  # times a reader begins again to get the first reader's position
SOCKET_BUFFER = 4 * 2**20  # bytes; the kernel caps it (net.core.wmem_max / rmem_max)


def split_bounds(
    reader: SnapshotReader, schema: TableSchema, after: tuple | None, readers: int
) -> list[tuple | None]:
    """Upper bounds of a table's key ranges (the last None: the end of the table). Only a
    one-column integer key whose span holds several chunks is split; MIN/MAX are read inside
    the snapshot."""
    key = schema.primary_key
    col = schema.column(key[0]) if len(key) == 1 else None
    if col is None or col.type is None or col.type.kind not in INTEGER_KINDS:
        return [None]
    k = quote_ident(key[0])
    name = f"{quote_ident(schema.id.schema)}.{quote_ident(schema.id.table)}"
    where = f" WHERE {k} > {int(after[0])}" if after else ""
    try:
        row = reader.query_one(f"SELECT MIN({k}), MAX({k}) FROM {name}{where}")
    except SourceUnavailable:
        raise
    except Exception:  # no split: reading the range reports a real failure
        return [None]
    if row is None or row[0] is None:
        return [None]
    lo, hi = int(row[0]), int(row[1])
    n = min(4 * readers, (hi - lo) // reader.chunk_rows)
    if n < 2:
        return [None]
    return [(lo + (hi - lo) * j // n,) for j in range(1, n)] + [None]


def begin_aligned(reader: SnapshotReader, at: Position | None) -> Position | None:
    """Begin a consistent snapshot, again (a few times) until it is at `at`: on a source
    without writes in between, every reader then sees the same view."""
    pos = reader.begin_consistent()
    for _ in range(ALIGN_TRIES):
        if pos is None or at is None or pos == at:
            break
        reader.end()
        pos = reader.begin_consistent()
    return pos


def ipc_bytes(rows: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema) as w:
        w.write_table(rows)
    return sink.getvalue()


class Worker:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn = Connection(sock.fileno(), readable=True, writable=True)
        self.reader: SnapshotReader | None = None
        self.position: Position | None = None
        self.readers = 1
        self.password = ""

    def send_rows(
        self, schema: TableSchema, index: int, rows: pa.Table, last: tuple, zeros: int
    ) -> None:
        buf = ipc_bytes(rows)
        self.conn.send(("rows", schema.id, index, last, self.position, zeros, buf.size))
        self.sock.sendall(memoryview(buf))  # type: ignore[arg-type]

    def read(self, schema: TableSchema, index: int, after: Any, upto: Any) -> None:
        reader = self.reader
        assert reader is not None
        self.position = reader.table_view() or self.position  # begun again now and then
        if index < 0:
            bounds = split_bounds(reader, schema, after, self.readers)
            self.conn.send(("split", schema.id, bounds, after))
            index, upto = 0, bounds[0]
        try:
            seen = reader.zero_dates
            for rows, last in reader.read_range(schema, after, upto, prefetch=True):
                zeros, seen = reader.zero_dates - seen, reader.zero_dates
                self.send_rows(schema, index, rows, last, zeros)
        except TableFailed as exc:
            changed = isinstance(exc, TableChanged)
            self.conn.send(("failed", schema.id, index, changed, exc.reason))
            return
        self.conn.send(("range", schema.id, index))

    def run(self) -> None:
        _, params, chunk_rows, chunk_bytes, at, readers = self.conn.recv()
        assert isinstance(params, SourceParams)
        self.password, self.readers = params.password, readers
        try:
            self.reader = SnapshotReader(params, chunk_rows=chunk_rows, chunk_bytes=chunk_bytes)
            self.position = begin_aligned(self.reader, at)
            self.conn.send(("begun", self.position))
            while True:
                msg = self.conn.recv()
                if msg[0] != "range":
                    break
                _, schema, index, after, upto = msg
                self.read(schema, index, after, upto)
        except (EOFError, BrokenPipeError, ConnectionResetError):
            return  # the engine went away or stopped the copy: nothing to tell
        except SourceUnavailable as exc:
            self._error(True, str(exc))
        except Exception as exc:  # a bug or a server error outside a table: the copy stops
            self._error(False, f"{type(exc).__name__}: {exc}")
        finally:
            if self.reader is not None:
                self.reader.close()

    def _error(self, transient: bool, message: str) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("error", transient, scrub(message, self.password)))


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[1]))
    for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
    Worker(sock).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
