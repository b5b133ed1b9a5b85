"""Redshift's user, group and grant statements, parsed by the endpoint itself.

`CREATE/ALTER/DROP USER`, `CREATE/ALTER/DROP GROUP`, `GRANT` and `REVOKE` never reach DuckDB or
sqlglot: they are recognised by their first words (`is_user_statement`) before any other
processing, parsed here into small commands and run against the user store (users_run.py).
A password is a string literal after PASSWORD: no error message built here contains it, and
`redact` masks it wherever statement text is kept or shown.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from .errors import SqlError

SYNTAX = "42601"
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<open>')                                   # an unterminated string
    | (?P<ident>"(?:[^"]|"")*")
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<number>-?\d+)
    | (?P<punct>[,.;=()*])
    )""",
    re.X,
)
_FIRST = re.compile(r"\s*(CREATE|ALTER|DROP|GRANT|REVOKE)\b(?:\s+(USER|GROUP|ROLE)\b)?", re.I)
_AFTER_PASSWORD = re.compile(r"\bPASSWORD\s*=?\s*[Ee]?$", re.I)
MASK = "'********'"


def is_user_statement(code: str) -> bool:
    """Whether `code` (comments stripped) is one of the statements handled here."""
    m = _FIRST.match(code)
    if not m:
        return False
    return m.group(1).upper() in ("GRANT", "REVOKE") or m.group(2) is not None


def redact(sql: str) -> str:
    from .rewrite import rememberable

    return _redact_cached(sql) if rememberable(sql) else _redact(sql)


@functools.lru_cache(maxsize=1024)  # clients repeat the same statements
def _redact_cached(sql: str) -> str:
    return _redact(sql)


def _redact(sql: str) -> str:
    """`sql` with the literal after every PASSWORD keyword masked (an unterminated one to the
    end; comments between them skipped), strings elsewhere left alone."""
    from .rewrite import segments

    out: list[str] = []
    after_keyword = False
    for is_code, text in segments(sql):
        if is_code:
            after_keyword = bool(_AFTER_PASSWORD.search(text)) or (
                after_keyword and not text.strip()
            )
            out.append(text)
        elif text.startswith(("--", "/*")):
            out.append(text)
        else:
            out.append(MASK if after_keyword else text)
            after_keyword = False
    return "".join(out)


@dataclass(frozen=True)
class Token:
    kind: str  # word | ident | string | number | punct
    text: str  # words upper-cased for keywords; identifiers folded as PostgreSQL does
    raw: str = field(default="", repr=False)

    def __repr__(self) -> str:  # a string token may be a password
        return f"Token({self.kind}, {'***' if self.kind == 'string' else self.text!r})"

    @property
    def name(self) -> str:
        """As an identifier: unquoted words fold to lower case."""
        return self.raw.lower() if self.kind == "word" else self.text


def tokenize(code: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    code = code.rstrip().rstrip(";")
    while pos < len(code):
        m = _TOKEN.match(code, pos)
        if not m or m.end() == pos:
            if code[pos:].strip() == "":
                break
            raise SqlError(SYNTAX, f"syntax error at or near {code[pos]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "open":
            raise SqlError(SYNTAX, "unterminated quoted string")
        if kind == "string":
            out.append(Token("string", raw[1:-1].replace("''", "'"), raw))
        elif kind == "ident":
            out.append(Token("ident", raw[1:-1].replace('""', '"'), raw))
        elif kind == "word":
            out.append(Token("word", raw.upper(), raw))
        else:
            out.append(Token(kind, raw, raw))
    return out


class Tokens:
    """A cursor over tokens with the few helpers a recursive-descent parser needs."""

    def __init__(self, code: str) -> None:
        self.items = tokenize(code)
        self.i = 0

    def peek(self, ahead: int = 0) -> Token | None:
        j = self.i + ahead
        return self.items[j] if j < len(self.items) else None

    def at(self, *words: str) -> bool:
        for k, w in enumerate(words):
            t = self.peek(k)
            if t is None or t.kind not in ("word", "punct") or t.text != w:
                return False
        return True

    def take(self, *words: str) -> bool:
        if self.at(*words):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.take(*words):
            raise self.error(" ".join(words))

    def done(self) -> bool:
        return self.i >= len(self.items)

    def end(self) -> None:
        if not self.done():
            raise self.error("end of statement")

    def error(self, wanted: str) -> SqlError:
        t = self.peek()
        before = self.items[self.i - 1] if self.i > 0 else None
        # a string token may be a password, and so may anything written after PASSWORD
        if t is None:
            near = "end of input"
        elif t.kind == "string" or (before is not None and before.text == "PASSWORD"):
            near = "a string" if t.kind == "string" else "the password"
        else:
            near = t.raw
        return SqlError(SYNTAX, f"syntax error at or near {near!r}: expected {wanted}")

    def name(self, what: str = "a name") -> str:
        t = self.peek()
        if t is None or t.kind not in ("word", "ident") or not t.name:
            raise self.error(what)
        self.i += 1
        return t.name

    def names(self, what: str = "a name") -> list[str]:
        out = [self.name(what)]
        while self.take(","):
            out.append(self.name(what))
        return out

    def dotted(self, what: str) -> tuple[str, ...]:
        parts = [self.name(what)]
        while self.take("."):
            parts.append(self.name(what))
        if len(parts) > 3:
            raise SqlError(SYNTAX, f"improper qualified name (too many dotted names): {what}")
        return tuple(parts)

    def string(self, what: str) -> str:
        t = self.peek()
        if t is None or t.kind != "string":
            raise self.error(what)
        self.i += 1
        return t.text

    def number(self, what: str) -> int:
        t = self.peek()
        if t is None or t.kind != "number":
            raise self.error(what)
        self.i += 1
        return int(t.text)
