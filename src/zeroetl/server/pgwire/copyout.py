"""COPY ... TO STDOUT: a read whose rows travel as CopyData messages (psql's `\\copy ... to file`).

Only the STDOUT form is recognised here, like DECLARE in portals.py: the wire layer takes
`COPY (query) TO STDOUT [options]` or `COPY table [(columns)] TO STDOUT [options]` apart, the SQL
layer runs only the query (`SELECT cols FROM table` for the second form) through the same guard as
any statement, and this module formats its rows in PostgreSQL's text or CSV format. Any other COPY
(to or from a server file or program, FROM STDIN) is not recognised and reaches the SQL layer,
which refuses it (42501): sessions never touch the server's files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zeroetl.errors import ZeroEtlError


class CopyError(ZeroEtlError):
    """A COPY TO STDOUT with options we do not support or that are malformed."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate, self.message = sqlstate, message


@dataclass(frozen=True)
class CopyOut:
    query: str
    csv: bool = False
    header: bool = False
    delimiter: str = "\t"
    null: str = "\\N"
    quote: str = '"'


_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_NAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}}"
_TABLE_FORM = re.compile(
    rf"^(?P<name>{_NAME})\s*(?:\((?P<cols>\s*{_IDENT}(?:\s*,\s*{_IDENT})*\s*)\))?\s*(?P<rest>.*)$",
    re.DOTALL,
)
_TO_STDOUT = re.compile(r"^TO\s+STDOUT\b(?P<opts>.*?)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_COPY = re.compile(r"^\s*COPY\b\s*", re.IGNORECASE)


def _matching_paren(text: str, start: int) -> int:
    """Index of the ')' closing the '(' at `start`, skipping quotes and comments; -1 if none."""
    depth, i, n = 0, start, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            end = text.find(ch, i + 1)
            while end != -1 and end + 1 < n and text[end + 1] == ch:  # doubled quote
                end = text.find(ch, end + 2)
            if end == -1:
                return -1
            i = end
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end == -1 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                return -1
            i = end + 1
        elif ch == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
            if m:
                end = text.find(m.group(0), i + len(m.group(0)))
                if end == -1:
                    return -1
                i = end + len(m.group(0)) - 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def parse_copy_to_stdout(sql: str) -> CopyOut | None:
    """The query and format of a `COPY ... TO STDOUT`; None for any other statement."""
    head = _COPY.match(sql)
    if head is None:
        return None
    body = sql[head.end() :]
    if body.startswith("("):
        close = _matching_paren(body, 0)
        if close < 0:
            return None
        query, rest = body[1:close].strip(), body[close + 1 :].strip()
    else:
        m = _TABLE_FORM.match(body)
        if m is None:
            return None
        cols = ", ".join(c.strip() for c in m.group("cols").split(",")) if m.group("cols") else "*"
        query, rest = f"SELECT {cols} FROM {m.group('name')}", m.group("rest").strip()
    to = _TO_STDOUT.match(rest)
    if to is None:
        return None
    return _options(query, to.group("opts"))


_OPT_WORDS = re.compile(
    r"""\s*(?:(?P<word>[A-Za-z_]+)|(?P<str>E?'(?:[^']|'')*')|(?P<punct>[(),=]))""", re.DOTALL
)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _OPT_WORDS.match(text, pos)
        if m is None or m.end() == pos:
            raise CopyError("42601", f"syntax error in COPY options near {text[pos:][:20]!r}")
        out.append(m.group(0).strip())
        pos = m.end()
    return out


def _string(tok: str) -> str:
    if not tok.startswith(("'", "E'", "e'")):
        raise CopyError("42601", f"COPY option value must be a string literal, not {tok}")
    return tok[tok.index("'") + 1 : -1].replace("''", "'")


def _bool(tok: str | None) -> bool:
    if tok is None:
        return True
    word = tok.strip("'").lower()
    if word in ("true", "on", "1"):
        return True
    if word in ("false", "off", "0"):
        return False
    raise CopyError("22023", f"HEADER requires a Boolean value, not {tok}")


def _options(query: str, text: str) -> CopyOut:
    toks = _tokens(text)
    if toks and toks[0].upper() == "WITH":
        toks = toks[1:]
    opts: dict[str, str | None] = {}
    if toks and toks[0] == "(":  # COPY ... WITH (FORMAT csv, HEADER true, ...)
        if toks[-1] != ")":
            raise CopyError("42601", "syntax error in COPY options: missing )")
        items: list[list[str]] = [[]]
        for t in toks[1:-1]:
            if t == ",":
                items.append([])
            else:
                items[-1].append(t)
        for item in items:
            if not item:
                raise CopyError("42601", "syntax error in COPY options")
            opts[item[0].lower()] = item[1] if len(item) > 1 else None
    else:  # psql's \copy and older servers: CSV HEADER DELIMITER 'x' NULL 'y' ...
        i = 0
        while i < len(toks):
            word = toks[i].lower()
            if word in ("csv", "binary"):
                opts["format"] = word
            elif word == "header":
                opts["header"] = None
            elif word in ("delimiter", "null", "quote", "escape", "encoding"):
                i += 1
                if i < len(toks) and toks[i].lower() == "as":
                    i += 1
                if i >= len(toks):
                    raise CopyError("42601", f"COPY option {word.upper()} needs a value")
                opts[word] = toks[i]
            else:
                raise CopyError("42601", f'option "{toks[i]}" not recognized')
            i += 1
    return _spec(query, opts)


def _spec(query: str, opts: dict[str, str | None]) -> CopyOut:
    fmt = (opts.pop("format", None) or "text").strip("'").lower()
    if fmt == "binary":
        raise CopyError("0A000", "COPY BINARY is not supported; use FORMAT text or csv")
    if fmt not in ("text", "csv"):
        raise CopyError("22023", f'COPY format "{fmt}" not recognized')
    csv = fmt == "csv"
    header = _bool(opts.pop("header")) if "header" in opts else False
    delimiter = _string(opts.pop("delimiter") or "") if "delimiter" in opts else None
    null = _string(opts.pop("null") or "") if "null" in opts else None
    quote = _string(opts.pop("quote") or "") if "quote" in opts else '"'
    encoding = opts.pop("encoding", None)
    if encoding is not None and _string(encoding).upper().replace("-", "") != "UTF8":
        raise CopyError("0A000", "COPY TO STDOUT sends UTF8 only")
    escape = opts.pop("escape", None)
    if escape is not None and _string(escape) != quote:
        raise CopyError("0A000", "COPY ESCAPE other than the QUOTE character is not supported")
    if opts:
        raise CopyError("42601", f'option "{next(iter(opts))}" not recognized')
    delimiter = delimiter if delimiter is not None else ("," if csv else "\t")
    if len(delimiter) != 1 or len(quote) != 1:
        raise CopyError("0A000", "COPY delimiter and quote must be a single one-byte character")
    if delimiter in "\r\n\\" or (csv and delimiter == quote):
        raise CopyError("22023", "COPY delimiter cannot be a newline, backslash or the quote")
    return CopyOut(
        query,
        csv=csv,
        header=header,
        delimiter=delimiter,
        null=null if null is not None else ("" if csv else "\\N"),
        quote=quote,
    )


# --------------------------------------------------------------------------- formatting
# Values are escaped as bytes, and only those that need it (most need nothing): UTF-8 keeps every
# special character a single byte that never occurs inside another character.

_TEXT_ESCAPES = {b"\\": b"\\\\", b"\n": b"\\n", b"\r": b"\\r", b"\t": b"\\t", b"\b": b"\\b",
                 b"\f": b"\\f", b"\v": b"\\v"}  # fmt: skip


def _text_escaper(delimiter: bytes) -> Callable[[bytes], bytes]:
    special = re.compile(b"[" + re.escape(b"\\\n\r\t\b\f\v" + delimiter) + b"]")

    def sub(m: re.Match[bytes]) -> bytes:
        ch = m.group(0)
        return _TEXT_ESCAPES.get(ch, b"\\" + ch)

    def escape(v: bytes) -> bytes:
        return special.sub(sub, v) if special.search(v) else v

    return escape


def _csv_escaper(spec: CopyOut) -> Callable[[bytes], bytes]:
    """PostgreSQL quotes a CSV value holding the delimiter, the quote, CR or LF, one equal to the
    NULL string (so it reads back as a value), and `\\.` (the old end-of-data marker)."""
    q = spec.quote.encode()
    special = re.compile(b"[" + re.escape(b"\n\r" + spec.delimiter.encode() + q) + b"]")
    null = spec.null.encode()

    def escape(v: bytes) -> bytes:
        if special.search(v) or v == null or v == b"\\.":
            return q + v.replace(q, q + q) + q
        return v

    return escape


def _escaper(spec: CopyOut) -> Callable[[bytes], bytes]:
    return _csv_escaper(spec) if spec.csv else _text_escaper(spec.delimiter.encode())


def header_line(spec: CopyOut, names: Sequence[str]) -> bytes:
    escape = _escaper(spec)
    return spec.delimiter.encode().join(escape(n.encode("utf-8")) for n in names) + b"\n"


def rows(spec: CopyOut, columns: Sequence[Sequence[bytes | None]], nrows: int) -> list[bytes]:
    """One line per row from each column's PostgreSQL text values (None = NULL)."""
    if not columns:
        return [b"\n"] * nrows
    escape, null = _escaper(spec), spec.null.encode()
    cols = [[null if v is None else escape(v) for v in col] for col in columns]
    sep = spec.delimiter.encode()
    return [sep.join(r) + b"\n" for r in zip(*cols, strict=True)]
