"""The sample analytics' titles promise what their SQL returns, and the printer never hides a
cut: "Top N" titles have LIMIT N, and a truncated result says how much was left out."""

from __future__ import annotations

import re

from zeroetl.cli.output import SHOW_ROWS, print_rows
from zeroetl.sandbox.tickit_queries import SAMPLE_QUERIES


def test_top_n_titles_match_their_limit_and_fit_the_default_display() -> None:
    tops = 0
    for title, sql in SAMPLE_QUERIES:
        m = re.match(r"Top (\d+) ", title)
        if m:
            tops += 1
            n = int(m.group(1))
            assert re.search(rf"\bLIMIT {n}\b", sql), title
            assert n <= SHOW_ROWS, title  # shown whole by the demo and `tickit queries`
    assert tops >= 3


def test_print_rows_counts_what_it_leaves_out(capsys) -> None:  # type: ignore[no-untyped-def]
    print_rows("Sales by date", ["d", "n"], ((f"2008-01-{i:02}", i) for i in range(1, 31)), 5)
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "-- Sales by date" and len(out) == 2 + 1 + 5 + 1
    assert out[-1] == "(5 of 30 rows shown)"
    print_rows("Top 3", ["x"], [(1,), (2,), (3,)], 5)
    assert capsys.readouterr().out.splitlines()[-1] == "(3 rows)"
