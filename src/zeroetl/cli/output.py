"""Small result tables on stdout (the demo's and `tickit queries`' sample analytics)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

SHOW_ROWS = 10  # rows shown per sample query by default: the "Top 10" queries show all of theirs


def _fmt(v: object) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


def print_rows(
    title: str, cols: list[str], rows: Iterable[tuple[Any, ...]], limit: int = SHOW_ROWS
) -> None:
    """The title, the header and the first `limit` rows; when the result has more, a last line
    says how many were left out, so a title ("Top 10 ...") never disagrees silently with what
    is shown."""
    shown: list[tuple[Any, ...]] = []
    total = 0
    for r in rows:
        total += 1
        if len(shown) < limit:
            shown.append(r)
    click.echo(f"\n-- {title}")
    widths = [
        max(len(c), *(len(_fmt(r[i])) for r in shown)) if shown else len(c)
        for i, c in enumerate(cols)
    ]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for r in shown:
        click.echo("  ".join(_fmt(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    if total > len(shown):
        click.echo(f"({len(shown)} of {total:,} rows shown)")
    else:
        click.echo(f"({total:,} row{'' if total == 1 else 's'})")
