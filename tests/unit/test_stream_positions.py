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
