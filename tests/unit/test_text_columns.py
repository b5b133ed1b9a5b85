"""Text columns of other character sets than UTF-8 -> Arrow strings: all-ASCII columns are
taken as they are, anything else is decoded value by value, with the same result."""

from __future__ import annotations

import pytest

from zeroetl.sources.mysql import values

CASES = [
    ("mysql-latin1", [b"abc", None, b"caf\xe9", b"\x80", b""], ["abc", None, "café", "€", ""]),
    ("mysql-latin1", [b"plain", b"ascii", None], ["plain", "ascii", None]),
    ("cp932", ["日本".encode("cp932"), b"ab"], ["日本", "ab"]),
    ("big5", ["中文".encode("big5"), b"x"], ["中文", "x"]),
    ("utf-16-be", ["ab".encode("utf-16-be"), None], ["ab", None]),
    ("utf-16-le", ["ab".encode("utf-16-le")], ["ab"]),
    ("koi8_r", [b"abc"], ["abc"]),
]


@pytest.mark.parametrize(("codec", "col", "text"), CASES)
def test_text_column(codec: str, col: list[bytes | None], text: list[str | None]) -> None:
    arr, zeros = values._text(codec)(col)
    arr.validate(full=True)
    assert arr.to_pylist() == text and zeros == 0
