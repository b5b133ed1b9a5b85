"""The C framer (native/binframe.c) against its Python twin (framing.frame_py).

Both walk a buffer of dump packets and stop, without raising, before anything that is not a
whole plain event with a good checksum; the reader's slow path then raises. The tests feed both
the same recorded-shape, random, truncated and garbled buffers and compare every Event field
and where each stopped.
"""

from __future__ import annotations

import random
import struct

import pytest
from tests.unit.test_binlog_events import event, ok

from zeroetl.native import binframe
from zeroetl.sources.mysql import constants as C
from zeroetl.sources.mysql.binlog import _KINDS
from zeroetl.sources.mysql.events import Event
from zeroetl.sources.mysql.framing import DESCRIPTORS, KIND_COPY, KIND_VIEW, frame_py

pytestmark = pytest.mark.skipif(binframe is None, reason="the C framer is not built")

FILE = "binlog.000042"


def _txn(crc: bool, pos: int = 1000, table_map: bytes = bytes(range(40))) -> bytes:
    """A small source transaction as the dump thread sends it: GTID, TABLE_MAP, rows, XID."""
    evs = [
        (C.GTID_EVENT, struct.pack("<QIB", 9, 0, 0) + b"\0" * 6),
        (C.TABLE_MAP_EVENT, table_map),
        (C.WRITE_ROWS_EVENT, bytes(range(60))),
        (C.UPDATE_ROWS_EVENT, bytes(range(90))),
        (C.XID_EVENT, struct.pack("<Q", 77)),
    ]
    out = []
    for typ, body in evs:
        pos += 19 + len(body) + (4 if crc else 0)
        out.append(ok(event(typ, body, pos, crc=crc)))
    return b"".join(out)


def _fields(ev: Event) -> tuple[object, ...]:
    return (
        ev.type,
        ev.timestamp,
        ev.server_id,
        ev.file,
        ev.end_pos,
        bytes(ev.body),
        ev.flags,
        type(ev.body),
    )


def _both(
    data: bytes,
    checksum: bool,
    pos: int = 0,
    end: int | None = None,
    known: dict[int, bytes] | None = None,
) -> tuple:
    buf = memoryview(bytearray(data))
    stop = len(data) if end is None else end
    assert binframe is not None
    args = (buf, pos, stop, checksum, FILE, _KINDS, DESCRIPTORS)
    c_evs, c_pos, c_last = binframe.frame(*args, known)
    p_evs, p_pos, p_last = frame_py(*args, known)
    assert [_fields(e) for e in c_evs] == [_fields(e) for e in p_evs]
    assert (c_pos, c_last) == (p_pos, p_last)
    assert all(type(e) is Event for e in c_evs)
    return c_evs, c_pos, c_last


@pytest.mark.parametrize("crc", [True, False])
def test_a_transaction_frames_whole_with_views_for_rows_and_copies_for_the_rest(crc: bool) -> None:
    data = _txn(crc) * 3
    evs, pos, last = _both(data, crc)
    assert pos == len(data) and len(evs) == 15
    assert [e.type for e in evs[:5]] == [162, 19, 30, 31, 16]
    assert evs[2].body.obj is not evs[1].body.obj  # the row event is a view of the buffer
    assert bytes(evs[3].body) == bytes(range(90))
    assert last == evs[-1].end_pos
    assert _KINDS[C.WRITE_ROWS_EVENT] == KIND_VIEW and _KINDS[C.XID_EVENT] == KIND_COPY


def test_events_are_usable_like_python_made_ones() -> None:
    evs, _, _ = _both(_txn(True), True)
    ev = evs[-1]
    assert (
        ev
        == frame_py(memoryview(_txn(True)), 0, len(_txn(True)), True, FILE, _KINDS, DESCRIPTORS)[0][
            -1
        ]
    )
    with pytest.raises(AttributeError):
        ev.type = 3  # type: ignore[misc]  # still frozen
    assert repr(ev).startswith("Event(type=16")


@pytest.mark.parametrize(
    "stopper",
    [
        ok(event(C.ROTATE_EVENT, struct.pack("<Q", 4) + b"binlog.000043", 0)),  # control
        ok(event(C.FORMAT_DESCRIPTION_EVENT, b"\0" * 80, 120)),
        b"\x05\0\0\x01\xfe\0\0\0\0",  # EOF packet
        b"\x07\0\0\x01\xff\x12\x34#HY000",  # error packet
        b"\xff\xff\xff\x01\0",  # a continued 16 MiB packet (here cut short)
    ],
)
def test_stops_before_what_the_slow_path_must_read(stopper: bytes) -> None:
    head = _txn(True)
    evs, pos, _ = _both(head + stopper + _txn(True), True)
    assert len(evs) == 5 and pos == len(head)


def test_a_bad_checksum_or_size_stops_before_the_event() -> None:
    head = _txn(True)
    bad = bytearray(ok(event(C.XID_EVENT, b"\1" * 8, 5000)))
    bad[-1] ^= 0x40
    assert _both(head + bad, True)[1] == len(head)
    wrong_size = bytearray(ok(event(C.XID_EVENT, b"\1" * 8, 5000)))
    wrong_size[4 + 1 + 9] += 1  # header's event_size
    assert _both(head + wrong_size, True)[1] == len(head)


def test_every_truncation_stops_at_the_last_whole_packet() -> None:
    data = _txn(True)
    bounds = [0]
    while bounds[-1] < len(data):
        bounds.append(bounds[-1] + 4 + int.from_bytes(data[bounds[-1] : bounds[-1] + 3], "little"))
    for cut in range(len(data) + 1):
        evs, pos, _ = _both(data, True, end=cut)
        assert pos == max(b for b in bounds if b <= cut)
        assert len(evs) == bounds.index(pos)
    for cut in range(len(data)):  # a slice that starts mid-buffer too
        _both(data[cut:], False)


def test_random_and_garbled_buffers_match_and_never_read_past_the_end() -> None:
    rng = random.Random(1201)
    good = _txn(True) * 2
    for _ in range(3000):
        if rng.random() < 0.5:
            data = bytearray(good)
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data = bytearray(rng.randbytes(rng.randint(0, 300)))
            if data and rng.random() < 0.7:
                data[3:5] = b"\x01\x00"  # often an OK packet, to get past the first checks
        end = rng.randint(0, len(data))
        _both(bytes(data), rng.random() < 0.5, end=end)


def test_bad_arguments_are_refused() -> None:
    assert binframe is not None
    buf = memoryview(bytearray(_txn(True)))
    for pos, end in ((-1, 5), (5, 4), (0, len(buf) + 1)):
        with pytest.raises(ValueError):
            binframe.frame(buf, pos, end, True, FILE, _KINDS, DESCRIPTORS)
        with pytest.raises(ValueError):
            frame_py(buf, pos, end, True, FILE, _KINDS, DESCRIPTORS)
    with pytest.raises(TypeError):
        binframe.frame(buf, 0, 4, True, FILE, b"\0" * 10, DESCRIPTORS)
    with pytest.raises(TypeError):
        binframe.frame(buf, 0, 4, True, FILE, _KINDS, (1, 2, 3, 4, 5, 6, 7))
    with pytest.raises(TypeError):
        binframe.frame(buf, 0, 4, True, FILE, _KINDS, DESCRIPTORS, [])  # type: ignore[arg-type]


# --- known TABLE_MAPs: left out while unchanged ------------------------------------------------

MAP_A = bytes(range(40))  # _txn's TABLE_MAP: table id 0x050403020100
MAP_B = bytes(range(1, 41))
ID_A = int.from_bytes(MAP_A[:6], "little")
ID_B = int.from_bytes(MAP_B[:6], "little")


def _with_map(crc: bool, body: bytes, pos: int) -> bytes:
    return _txn(crc, pos, table_map=body)


@pytest.mark.parametrize("crc", [True, False])
def test_known_table_maps_make_no_event_but_their_position_counts(crc: bool) -> None:
    data = _txn(crc, 1000) + _txn(crc, 2000)
    evs, pos, last = _both(data, crc, known={ID_A: MAP_A})
    assert [e.type for e in evs] == [162, 30, 31, 16] * 2 and pos == len(data)
    assert last == evs[-1].end_pos
    only_map = ok(event(C.TABLE_MAP_EVENT, MAP_A, 5000, crc=crc))
    assert _both(only_map * 2, crc, known={ID_A: MAP_A}) == ([], 2 * len(only_map), 5000)
    for other in ({ID_A: MAP_B}, {ID_B: MAP_A}, {ID_A: bytearray(MAP_A)}, {}, None):
        evs, _, _ = _both(data, crc, known=other)  # type: ignore[arg-type]
        assert [e.type for e in evs] == [162, 19, 30, 31, 16] * 2


def test_after_a_returned_table_map_every_table_map_comes_through() -> None:
    # A, then B (not known: returned), then A again: the consumer's maps may have changed
    # with B (the same table id could even have been remapped), so A is returned too.
    data = _txn(True, 1000) + _with_map(True, MAP_B, 2000) + _txn(True, 3000)
    evs, _, _ = _both(data, True, known={ID_A: MAP_A})
    assert [e.type for e in evs] == [162, 30, 31, 16] + [162, 19, 30, 31, 16] * 2
    assert bytes(evs[5].body) == MAP_B and bytes(evs[10].body) == MAP_A


def test_known_table_maps_with_truncated_random_and_garbled_buffers() -> None:
    rng = random.Random(1202)
    good = _txn(True, 1000) + _with_map(True, MAP_B, 2000) + _txn(True, 3000)
    short = ok(event(C.TABLE_MAP_EVENT, MAP_A[:5], 900))  # too short to hold a table id
    knowns: list[dict[int, bytes]] = [{ID_A: MAP_A}, {ID_A: MAP_A, ID_B: MAP_B}, {ID_B: MAP_B}]
    _both(short + good, True, known={int.from_bytes(MAP_A[:5], "little"): MAP_A[:5]})
    for cut in range(len(good) + 1):
        _both(good, True, end=cut, known=knowns[cut % 3])
    for _ in range(2000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        crc = rng.random() < 0.5
        _both(bytes(data), crc, end=rng.randint(0, len(data)), known=rng.choice(knowns))
