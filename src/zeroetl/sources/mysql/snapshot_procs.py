"""A parallel snapshot whose readers are child processes (`engine.snapshot_processes`).

The same copy as snapshot_parallel.py (the same ranges, consistency and resume rules; read its
docstring), but reading rows and turning the text protocol into Arrow, the larger part of a
snapshot's CPU, run in `readers` processes of their own (snapshot_worker.py), outside the
engine's interpreter and its GIL. Each child holds its own consistent-snapshot connection and
sends Arrow IPC over a Unix socket; the engine's process only appends Arrow to the warehouse.

Processes are started with exec (subprocess, never a bare fork of a process holding DuckDB and
threads). The source's parameters, password included, go to a child over its socket, never in
argv or the environment (ZEROETL_SOURCE_PASSWORD is removed from the child's).

Memory: a child blocks in `sendall` until the engine reads its chunk, and the engine reads one
chunk at a time and hands it to the writer before reading the next, so at most one chunk per
child waits, plus the one it converts and the one it prefetches.

A child that dies (killed, out of memory) or reports an error ends the copy with
SourceUnavailable (the engine retries: the snapshot resumes from each table's committed cursor)
or SourceError; the other children are stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

import pyarrow as pa

from zeroetl.errors import SourceError, SourceUnavailable, TableChanged, TableFailed
from zeroetl.model import Position, TableId, TableSchema
from zeroetl.sources.base import TableChunk
from zeroetl.sources.mysql.connection import PASSWORD_ENV
from zeroetl.sources.mysql.snapshot import SnapshotReader
from zeroetl.sources.mysql.snapshot_parallel import KeyRange, TableRanges, initial_ranges
from zeroetl.sources.mysql.snapshot_worker import SOCKET_BUFFER

log = logging.getLogger(__name__)

_STOP_WAIT_S = 2.0  # a stopped child gets this long to exit before it is killed


@dataclass
class _Child:
    proc: subprocess.Popen[bytes]
    sock: socket.socket
    conn: Connection
    position: Position | None = None
    busy: KeyRange | None = None
    begun: bool = False

    def describe(self) -> str:
        code = self.proc.poll()
        if code is None:
            how = "closed its connection"
        elif code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        what = f" while reading {self.busy.schema.id}" if self.busy is not None else ""
        return f"snapshot reader process {self.proc.pid} {how}{what}"


class ProcessCopy:
    """Reads `items` over `readers` child processes; `first` (already in its consistent
    snapshot at `at`) only gives the parameters and the position the children align to."""

    def __init__(
        self,
        first: SnapshotReader,
        items: list[tuple[TableSchema, str | None]],
        at: Position,
        readers: int,
    ) -> None:
        self.first = first
        self.at = at
        self.readers_wanted = max(1, readers)
        self._work = initial_ranges(items)
        self._children: list[_Child] = []
        self._started = False

    # -- children ---------------------------------------------------------------------------------

    def _spawn(self) -> _Child:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                mine.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "zeroetl.sources.mysql.snapshot_worker",
                    str(theirs.fileno()),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        finally:
            theirs.close()
        conn = Connection(os.dup(mine.fileno()))
        child = _Child(proc, mine, conn)
        self._children.append(child)
        f = self.first
        conn.send(("init", f.params, f.chunk_rows, f.chunk_bytes, self.at, self.readers_wanted))
        return child

    def _assign(self, child: _Child) -> None:
        if self._work:
            r = child.busy = self._work.pop()
            try:
                child.conn.send(("range", r.schema, r.index, r.after, r.upto))
            except OSError:  # it died since its last message
                raise self._dead(child) from None

    def _recv_exact(self, child: _Child, n: int) -> pa.Buffer:
        buf = pa.allocate_buffer(n)
        view = memoryview(buf)  # type: ignore[arg-type]
        got = 0
        while got < n:
            k = child.sock.recv_into(view[got:], n - got)
            if k == 0:
                raise EOFError
            got += k
        return buf

    def _dead(self, child: _Child) -> SourceUnavailable:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(timeout=_STOP_WAIT_S)
        msg = f"{child.describe()}; the copy resumes from the last committed chunk"
        log.warning("%s", msg)
        return SourceUnavailable(msg)

    # -- the engine's side ------------------------------------------------------------------------

    def chunks(self) -> Iterator[TableChunk]:
        self._started = True
        tables: dict[TableId, TableRanges] = {}
        try:
            for _ in range(self.readers_wanted):
                self._spawn()
            live = list(self._children)
            while live:
                if all(c.begun and c.busy is None for c in live) and not self._work:
                    break  # every range is read
                ready = wait([c.conn for c in live])
                for child in [c for c in live if c.conn in ready]:
                    try:
                        msg = child.conn.recv()
                        kind = msg[0]
                        if kind == "rows":
                            _, table, index, last, pos, zeros, nbytes = msg
                            data = self._recv_exact(child, nbytes)
                    except (EOFError, OSError):
                        raise self._dead(child) from None
                    if kind == "begun":
                        child.begun, child.position = True, msg[1]
                        if msg[1] is None:  # binary log gone meanwhile: no exact position
                            live.remove(child)
                            if not live:
                                raise SourceUnavailable("no snapshot reader got a position")
                            continue
                        if msg[1] != self.at:
                            log.info("snapshot reader consistent at %s (first %s)", msg[1], self.at)
                        self._assign(child)
                    elif kind == "error":
                        _, transient, text = msg
                        raise (SourceUnavailable if transient else SourceError)(
                            f"snapshot reader process {child.proc.pid}: {text}"
                        )
                    elif kind == "split":
                        _, table, bounds, start = msg
                        tables[table] = TableRanges(bounds=bounds, start=start)
                        schema = child.busy.schema if child.busy else None
                        assert schema is not None
                        more = [
                            KeyRange(schema, j, bounds[j - 1], bounds[j])
                            for j in range(1, len(bounds))
                        ]
                        self._work.extend(reversed(more))  # taken next, before other tables
                        child.busy = KeyRange(schema, 0, start, bounds[0])
                        for idle in live:
                            if idle.begun and idle.busy is None:
                                self._assign(idle)
                    elif kind == "rows":
                        st = tables[table]
                        if st.failed:
                            continue
                        rows = pa.ipc.open_stream(data).read_all()
                        yield TableChunk(table, rows, st.wrote(index, last), pos, zeros)
                    elif kind == "failed":
                        _, table, index, changed, reason = msg
                        child.busy = None
                        self._assign(child)
                        st = tables[table]
                        if not st.failed:
                            st.failed = True
                            err = (TableChanged if changed else TableFailed)(str(table), reason)
                            yield TableChunk(table, None, None, None, error=err)
                    else:  # a range is complete
                        _, table, index = msg
                        child.busy = None
                        self._assign(child)
                        if (chunk := tables[table].finished(table, index)) is not None:
                            yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Stop every child: ask, then kill what is still running."""
        for c in self._children:
            with contextlib.suppress(OSError):
                c.conn.send(("stop",))
                # A child blocked sending a chunk nobody will read gets EPIPE and exits.
                c.sock.shutdown(socket.SHUT_RDWR)
        for c in self._children:
            try:
                c.proc.wait(timeout=_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()
            c.conn.close()
            c.sock.close()
        self._children = []

    def pids(self) -> list[int]:
        """Process ids of the reader processes (for tests and diagnostics)."""
        return [c.proc.pid for c in self._children]
