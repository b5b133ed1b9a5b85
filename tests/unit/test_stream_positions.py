"""The change stream's per-transaction position: the same values as the plain constructors."""

from __future__ import annotations

import copy
import pickle

from zeroetl.model import Position
from zeroetl.sources.mysql.gtid import MariaGtidState
from zeroetl.sources.mysql.stream import ChangeStream


def test_mariadb_gtid_text_one_and_several_domains() -> None:
    one = MariaGtidState.parse("0-1-42")
    assert str(one) == "0-1-42"
    one.add(0, 2, 43)
    assert str(one) == "0-2-43"
    several = MariaGtidState.parse("5-1-9, 0-1-42")
    assert str(several) == "0-1-42,5-1-9"  # sorted by domain
    assert str(MariaGtidState()) == ""


def test_positions_equal_the_dataclass_ones() -> None:
    state = MariaGtidState.parse("0-1-42")
    pos = ChangeStream._pos("mysql-bin.000003", 1234, state, None)
    plain = Position("mysql-bin.000003", 1234, "0-1-42")
    assert pos == plain and hash(pos) == hash(plain) and repr(pos) == repr(plain)
    assert pos < Position("mysql-bin.000003", 1235, "") and pos.file_index == 3
    assert pickle.loads(pickle.dumps(pos)) == plain and copy.deepcopy(pos) == plain
    assert ChangeStream._pos("f.000001", 4, None, None) == Position("f.000001", 4, "")


def _maria_items(txns: list[tuple[int, int]]) -> list[object]:
    """ChangeStream items of MariaDB transactions, one (domain, seq) each, from server 7."""
    import contextlib
    import struct

    from tests.unit.test_binlog_events import event, fde_body, ok, rotate_body, stream_reader
    from tests.unit.test_binlog_faults import _rows_v2, _table_map

    from zeroetl.errors import SourceUnavailable
    from zeroetl.sources.mysql import constants as C

    events = [
        ok(
            event(
                C.ROTATE_EVENT, rotate_body("mariadb-bin.000002"), 0, flags=C.LOG_EVENT_ARTIFICIAL_F
            )
        ),
        ok(event(C.FORMAT_DESCRIPTION_EVENT, fde_body(version="10.11.6-MariaDB-log"), 256)),
    ]
    pos = 300
    for domain, seq in txns:
        gtid = struct.pack("<QIB", seq, domain, 0) + bytes(6)
        events += [
            ok(event(C.GTID_EVENT, gtid, pos)),
            ok(event(C.TABLE_MAP_EVENT, _table_map(77, "shop"), pos + 60)),
            ok(event(C.WRITE_ROWS_EVENT, _rows_v2(77, (seq, seq)), pos + 110)),
            ok(event(C.XID_EVENT, struct.pack("<Q", seq), pos + 150)),
        ]
        pos += 200
    reader, _peer = stream_reader(b"".join(events))
    start = Position("mariadb-bin.000002", 4, "0-7-41")
    stream = ChangeStream.from_reader(reader, start, wanted=lambda t: t.schema == "shop")
    items: list[object] = []
    with contextlib.suppress(SourceUnavailable):
        for item in stream.items():
            items.append(item)
    return items


def test_mariadb_commit_positions_are_those_of_their_transaction() -> None:
    """A MariaDB commit's position is made when first read, after the stream has moved on:
    it is still its own transaction's GTID state (domains in order), equal to the eager one."""
    from zeroetl.sources.mysql.stream import CommitItem

    items = _maria_items([(0, 42), (0, 43), (5, 9), (0, 44)])
    commits = [i for i in items if isinstance(i, CommitItem)]
    assert len(commits) == 4 and all(c._position is None for c in commits)  # not made yet
    assert [c.position.gtid_set for c in commits] == [
        "0-7-42",
        "0-7-43",
        "0-7-43,5-7-9",
        "0-7-44,5-7-9",
    ]
    assert [c.position.offset for c in commits] == [450, 650, 850, 1050]
    # the header's whole second narrowed by the receive time: ts + 1 for a past event
    assert all(c.timestamp == 1_700_000_001.0 for c in commits)
    first = commits[0]
    eager = CommitItem(Position("mariadb-bin.000002", 450, "0-7-42"), first.timestamp)
    assert first == eager and repr(first) == repr(eager) and first != commits[1]
    assert first.position is first.position  # made once
