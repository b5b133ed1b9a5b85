"""Text-protocol result sets: the C splitter (zeroetl/native/textrows.c) against its Python twin.

Row packets are built here byte by byte and read back through `query_raw` over a reader that
hands them out in arbitrary pieces, as a socket does. Both paths must give the same columns; a
malformed row (a length past its row, trailing bytes, a bad prefix) must be refused with a
DecodeError by both, never read out of bounds.
"""

from __future__ import annotations

import io
import random
import struct

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeroetl.errors import DecodeError
from zeroetl.native import native_status, textrows
from zeroetl.sources.mysql import resultset

MAX = 0xFFFFFF


def test_the_extensions_are_built() -> None:
    # CI builds them (setup.py); a silent fallback to the Python twins would hide a slowdown.
    missing = [name for name, built in native_status().items() if not built]
    assert not missing, f"zeroetl.native extensions not built: {missing}"


def lenenc(n: int) -> bytes:
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def row_payload(values: list[bytes | None]) -> bytes:
    return b"".join(b"\xfb" if v is None else lenenc(len(v)) + v for v in values)


def packets(payload: bytes, seq: int) -> tuple[bytes, int]:
    """One row as packets: a payload of 16 MiB or more continues in the next packet(s)."""
    out = b""
    while True:
        part, payload = payload[:MAX], payload[MAX:]
        out += struct.pack("<I", len(part))[:3] + bytes([seq % 256]) + part
        seq += 1
        if len(part) < MAX:
            return out, seq


def result_stream(rows: list[list[bytes | None]], tail: bytes = b"") -> bytes:
    """Row packets then the closing EOF packet (and what follows it on the socket)."""
    out, seq = b"", 3
    for row in rows:
        data, seq = packets(row_payload(row), seq)
        out += data
    eof = b"\xfe\x00\x00\x22\x00"
    return out + struct.pack("<I", len(eof))[:3] + bytes([seq % 256]) + eof + tail


class Pieces(io.RawIOBase):
    """A socket's reads: the stream in pieces of random sizes."""

    def __init__(self, data: bytes, seed: int) -> None:
        self.data = data
        self.pos = 0
        self.rng = random.Random(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        n = min(len(b), self.rng.choice([1, 3, 7, 100, 4096, 1 << 20]), len(self.data) - self.pos)
        b[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


class Conn:
    """What query_raw's row reading touches of a pymysql connection, over `Pieces`."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._rfile = io.BufferedReader(Pieces(data, seed), buffer_size=8192)
        self._next_seq_id = 0
        self.closed = False

    def _force_close(self) -> None:
        self.closed = True


def read(data: bytes, ncols: int, native: bool, seed: int = 0) -> tuple[list[pa.Array], int, int]:
    conn = Conn(data, seed)
    names = [f"c{i}" for i in range(ncols)]
    if native:
        raw = resultset._query_native(conn, names)  # type: ignore[arg-type]
        return raw.columns, raw.num_rows, conn._next_seq_id
    buf, starts, ends = resultset._read_rows(conn)  # type: ignore[arg-type]
    cols = resultset._split_columns(buf, starts, ends, ncols)
    return cols, len(starts), conn._next_seq_id


def expected(rows: list[list[bytes | None]], ncols: int) -> list[pa.Array]:
    return [pa.array([r[j] for r in rows], pa.binary()) for j in range(ncols)]


value = st.one_of(
    st.none(),
    st.binary(max_size=8),
    st.integers(0, 70_000).map(lambda n: bytes([n % 251]) * n),  # 1-, 3- and 4-byte prefixes
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ncols=st.integers(1, 5),
    data=st.data(),
    seed=st.integers(0, 1000),
)
def test_native_equals_python_twin(ncols: int, data: st.DataObject, seed: int) -> None:
    rows = data.draw(st.lists(st.lists(value, min_size=ncols, max_size=ncols), max_size=40))
    stream = result_stream(rows, tail=b"next result")
    want = expected(rows, ncols)
    for native in (True, False):
        cols, n, seq = read(stream, ncols, native, seed)
        assert n == len(rows)
        assert [c.to_pylist() for c in cols] == [w.to_pylist() for w in want]
        assert seq == (3 + len(rows) + 1) % 256  # the EOF's sequence id, plus one
        for c in cols:
            c.validate(full=True)


def test_a_row_over_16_mib_spans_packets() -> None:
    big = bytes(range(256)) * (MAX // 256 + 100)  # > 16 MiB: an 8-byte prefix, 2 packets
    rows: list[list[bytes | None]] = [[b"a", None], [big, b"z"], [None, b""]]
    stream = result_stream(rows)
    for native in (True, False):
        cols, n, _ = read(stream, 2, native, seed=1)
        assert n == 3
        assert cols[0].to_pylist() == [b"a", big, None]
        assert cols[1].to_pylist() == [None, b"z", b""]


def test_an_error_packet_mid_result_raises_the_servers_error() -> None:
    good, seq = packets(row_payload([b"1"]), 3)
    err = b"\xff" + struct.pack("<H", 1317) + b"#70100Query execution was interrupted"
    stream = good + struct.pack("<I", len(err))[:3] + bytes([seq]) + err
    import pymysql

    for native in (True, False):
        with pytest.raises(pymysql.err.OperationalError, match="interrupted"):
            read(stream, 1, native)


def test_a_cut_connection_raises_lost_connection() -> None:
    stream = result_stream([[b"x" * 1000]])[:500]
    import pymysql

    for native in (True, False):
        with pytest.raises(pymysql.err.OperationalError, match="Lost connection"):
            read(stream, 1, native)


HOSTILE = {
    "a length past its row": lenenc(200) + b"short",
    "a 3-byte length past the buffer": b"\xfd\xff\xff\x7f",
    "an 8-byte length past everything": b"\xfe" + b"\xff" * 8,
    "a truncated prefix": b"\xfc\x01",
    "an 0xFF prefix": b"\x01a\xff",
    "bytes after the last column": lenenc(1) + b"a" + lenenc(1) + b"b" + b"junk",
    "too few columns": lenenc(1) + b"a",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_malformed_rows_are_refused(case: str) -> None:
    stream = result_stream([[b"ok", b"ok"]])
    bad, _ = packets(HOSTILE[case], 4)
    good_row, _ = packets(row_payload([b"ok", b"ok"]), 3)
    stream = good_row + bad + stream[len(good_row) :]
    for native in (True, False):
        with pytest.raises(DecodeError, match="malformed result set"):
            read(stream, 2, native)


def test_split_checks_its_arguments() -> None:
    assert textrows is not None
    with pytest.raises(ValueError):
        textrows.split(b"\x01a", struct.pack("<q", 5), b"", 1)  # a row start past the buffer
    with pytest.raises(ValueError):
        textrows.split(b"\x00" * 8, struct.pack("<q", 1), struct.pack("<q", 99), 1)
    with pytest.raises(ValueError):
        textrows.split(b"", b"", b"", 0)
