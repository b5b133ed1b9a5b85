"""Framing a buffer of dump packets into Events in one call (the reader's hot path).

`frame` walks the complete packets of a receive buffer and returns the Events of the plain ones
(OK packet, one whole event, not a control event, good checksum). It stops, never raising, at
the first packet that is anything else: `BinlogReader._stream` then reads that packet the slow
way, which raises the usual errors, so hostile bytes are refused the same way whichever framer
ran. The C twin (native/binframe.c) does the same with ~3x less CPU per event; a small source
transaction is ~7 events, and the framing was the reader thread's largest cost.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

from zeroetl.native import binframe
from zeroetl.sources.mysql.events import HEADER, Event, make_event

KIND_COPY = 1  # the body gets its own bytes (small: frees the big receive buffer sooner)
KIND_VIEW = 2  # the body is a view into the receive buffer (row events: no copy)
TABLE_MAP = 19
_U32 = struct.Struct("<I").unpack_from
_FIELDS = ("type", "timestamp", "server_id", "file", "end_pos", "body", "flags")
DESCRIPTORS: tuple[Any, ...] = tuple(Event.__dict__[name] for name in _FIELDS)


def kinds_table(control: frozenset[int] | set[int], zero_copy: frozenset[int]) -> bytes:
    """256 bytes indexed by event type: 0 (stop: control events), KIND_COPY or KIND_VIEW."""
    return bytes(
        0 if t in control else KIND_VIEW if t in zero_copy else KIND_COPY for t in range(256)
    )


FrameResult = tuple[list[Event], int, int]


def frame_py(
    buf: memoryview,
    pos: int,
    end: int,
    checksum: bool,
    file: str,
    kinds: bytes,
    descriptors: tuple[Any, ...],
    known: dict[int, bytes] | None = None,
) -> FrameResult:
    """The Python twin of binframe.frame: (events, position after them, last non-zero log_pos).

    `known` ({table id: TABLE_MAP body}): TABLE_MAPs equal to their table id's entry make no
    Event (their position still counts) until one TABLE_MAP has been returned: from that one on
    the consumer's maps may differ from `known`."""
    del descriptors  # the C twin builds Events through them; make_event does it here
    unpack_header = HEADER.unpack_from
    crc32 = zlib.crc32
    u32 = _U32
    make = make_event
    events: list[Event] = []
    last = 0
    if pos < 0 or end < pos or end > len(buf):
        raise ValueError("frame(): pos/end outside the buffer")
    while end - pos >= 4:
        length = u32(buf, pos)[0] & 0xFFFFFF
        if length == 0xFFFFFF or end - pos - 4 < length or length < 20:
            break
        p = pos + 4
        stop = p + length
        if buf[p] != 0:
            break
        p += 1
        ts, typ, server_id, size, log_pos, flags = unpack_header(buf, p)
        kind = kinds[typ]
        if not kind or size != stop - p:
            break
        if checksum:
            if stop - p < 23:
                break
            stop -= 4
            if u32(buf, stop)[0] != crc32(buf[p:stop]):
                break
        if typ == TABLE_MAP and known is not None:
            if stop - p - 19 >= 6:
                have = known.get(int.from_bytes(buf[p + 19 : p + 25], "little"))
                if isinstance(have, bytes) and have == buf[p + 19 : stop]:
                    if log_pos:
                        last = log_pos
                    pos += 4 + length
                    continue
            known = None
        body = buf[p + 19 : stop]
        if kind == KIND_COPY:
            body = memoryview(bytes(body))
        events.append(make(typ, ts, server_id, file, log_pos, body, flags))
        if log_pos:
            last = log_pos
        pos += 4 + length
    return events, pos, last


Framer = Callable[
    [memoryview, int, int, bool, str, bytes, tuple[Any, ...], dict[int, bytes] | None],
    FrameResult,
]
frame: Framer = binframe.frame if binframe is not None else frame_py
