"""The data filter of an integration: which source tables are replicated (PRODUCT.md section 4).

Syntax (Amazon's zero-ETL data filters, which use Maxwell's filter syntax)::

    filter  := rule ("," rule)* [","]
    rule    := [("include" | "exclude") ":"] pattern    # keyword optional after the first rule
    pattern := part "." part | /regex/                  # /regex/ alone: the whole "db.table"
    part    := * | name-with-*-wildcards | `quoted name` | /regex/

Semantics, as Amazon documents them for Aurora MySQL zero-ETL integrations:

- No filter (None or empty text) means `include: *.*`: every table is replicated.
- With at least one rule, evaluation starts from an implicit `exclude: *.*`, so a table that no
  rule matches is *not* replicated (`include: db.t1, include: db.t2` replicates two tables).
- Rules are evaluated in order and the last rule that matches a table decides.
- A regular expression must match the whole name: `books./mystery.*/` means "tables starting
  with mystery", `books./.*mystery.*/` "containing mystery" (Amazon's examples). Maxwell itself
  searches unanchored; we follow Amazon's documented examples.
- Matching is case-sensitive (identifiers keep their case, PRODUCT.md section 2).

Beyond Amazon: `*` may appear inside a name (`sales_*`); names with special characters can be
quoted with backquotes (or ' or "), doubling the quote to include it; a rule without a keyword
takes the previous rule's (the console's `include: a.b, c.d` form). `str()` gives the canonical
text with every keyword written out, and `DataFilter.parse(str(f)) == f`.

System schemas (mysql, information_schema, performance_schema, sys) are never replicated,
whatever the filter says: they are the server's own bookkeeping and their tables have no keys.

Cost: the filter is consulted for every table the binlog mentions, so it must be cheap whatever
an API caller writes. `*` wildcards are matched by a linear-time glob matcher (not a `.*`
regex, which backtracks exponentially on `a*a*a*...b`); a `/regex/` is refused when it could
backtrack without end (see `_check_backtracking`); a filter holds at most MAX_RULES rules of
at most MAX_PART characters; and each table's decision is remembered, so after its first
event a table costs one dict lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from re import _constants as _C  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

from zeroetl.errors import ConfigError
from zeroetl.model import TableId

# Bounds on a filter: MySQL names are at most 64 characters, so these are generous.
MAX_TEXT = 16_384
MAX_RULES = 100
MAX_PART = 256
MAX_CHOICES = 3
MAX_DECIDED = 100_000  # tables whose decision is remembered (then the memo starts over)
_REPEATS = (_C.MAX_REPEAT, _C.MIN_REPEAT, _C.POSSESSIVE_REPEAT)

SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})

# Characters that end an unquoted name (and so must be quoted in str()).
_SPECIAL = set(",.:/`'\"")
_KEYWORDS = ("include", "exclude")


@dataclass(frozen=True)
class Part:
    """One side of `db.table`. kind: "any" (*), "glob" (name with *), "name", "regex"."""

    kind: str
    text: str = ""
    _match: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)

    def matches(self, value: str) -> bool:
        if self.kind == "any":
            return True
        if self.kind == "name":
            return value == self.text
        assert self._match is not None
        return self._match(value)

    def __str__(self) -> str:
        if self.kind == "any":
            return "*"
        if self.kind == "regex":
            return f"/{self.text}/"
        if self.kind == "glob" or _bare_ok(self.text):
            return self.text
        return "`" + self.text.replace("`", "``") + "`"


def _bare_ok(name: str) -> bool:
    return bool(name) and "*" not in name and not any(c in _SPECIAL or c.isspace() for c in name)


def _part(kind: str, text: str) -> Part:
    if len(text) > MAX_PART:
        raise ConfigError(
            f"a data filter pattern may hold at most {MAX_PART} characters "
            f"(got {len(text)}: {text[:20]!r}...)"
        )
    if kind == "glob":
        return Part(kind, text, _glob(text))
    if kind == "regex":
        compiled = re.compile(text)
        _check_backtracking(text)
        return Part(kind, text, lambda value: compiled.fullmatch(value) is not None)
    return Part(kind, text)


def _glob(text: str) -> Callable[[str], bool]:
    """`*` matches any run of characters. Literal pieces between stars are found leftmost
    first, which is enough for such patterns: time linear in the name per piece, never the
    exponential backtracking a `.*`-per-star regular expression can take."""
    first, *middle, last = text.split("*")
    pieces = [m for m in middle if m]
    least = len(first) + len(last)

    def match(value: str) -> bool:
        if len(value) < least or not value.startswith(first) or not value.endswith(last):
            return False
        pos, end = len(first), len(value) - len(last)
        for piece in pieces:
            found = value.find(piece, pos, end)
            if found < 0:
                return False
            pos = found + len(piece)
        return True

    return match


def _check_backtracking(text: str) -> None:
    """Python's regular expressions backtrack: some patterns take exponential (or high
    polynomial) time on a name that does not match, and there is no timeout to stop them.
    Refuse what makes that possible: repetition or alternation inside a repeated group,
    back-references, more than MAX_CHOICES choice points (`*`, `+`, `?`, `{m,n}`, `|`) in one
    expression (n**3 steps on a 129-character name is still a fraction of a millisecond)."""
    hint = "split it into several rules, or use * wildcards (matched in linear time)"

    def walk(items: Any) -> int:
        choices = 0
        for op, av in items:
            if op in (_C.GROUPREF, _C.GROUPREF_EXISTS):
                raise ConfigError(f"regular expression /{text}/ uses a back-reference", hint=hint)
            if op in _REPEATS:
                low, high, body = av
                inner = walk(body)
                if high > 1 and inner:
                    raise ConfigError(
                        f"regular expression /{text}/ repeats a group that itself repeats or "
                        "alternates: it could backtrack for a very long time",
                        hint=hint,
                    )
                choices += inner + (low != high)
            elif op is _C.BRANCH:
                choices += 1 + sum(walk(b) for b in av[1])
            elif op is _C.SUBPATTERN:
                choices += walk(av[-1])
            elif op in (_C.ASSERT, _C.ASSERT_NOT):
                choices += walk(av[1])
            elif op is _C.ATOMIC_GROUP:
                choices += walk(av)
        return choices

    if walk(_parser.parse(text)) > MAX_CHOICES:
        raise ConfigError(
            f"regular expression /{text}/ has more than {MAX_CHOICES} repetitions or "
            "alternatives: it could backtrack for a very long time",
            hint=hint,
        )


@dataclass(frozen=True)
class Rule:
    """`include`/`exclude` of `db.table`, or of a regex over the whole name (`table` None)."""

    include: bool
    db: Part
    table: Part | None

    def matches(self, t: TableId) -> bool:
        if self.table is None:
            return self.db.matches(f"{t.schema}.{t.table}")
        return self.db.matches(t.schema) and self.table.matches(t.table)

    def __str__(self) -> str:
        kw = "include" if self.include else "exclude"
        return f"{kw}: {self.db}" + ("" if self.table is None else f".{self.table}")


@dataclass(frozen=True)
class DataFilter:
    rules: tuple[Rule, ...] = ()
    # table -> decision: the binlog names the same tables over and over, so after the first
    # event of a table its cost is one dict lookup whatever the patterns.
    _decided: dict[TableId, bool] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    @classmethod
    def parse(cls, text: str | None) -> DataFilter:
        if text is None or not text.strip():
            return cls()
        if len(text) > MAX_TEXT:
            raise ConfigError(f"a data filter may hold at most {MAX_TEXT} characters")
        rules = _Parser(text).rules()
        if len(rules) > MAX_RULES:
            raise ConfigError(
                f"a data filter may hold at most {MAX_RULES} rules (got {len(rules)})",
                hint="a /regex/ or a * wildcard can stand for many tables",
            )
        return cls(tuple(rules))

    def includes(self, table: TableId) -> bool:
        decided = self._decided.get(table)
        if decided is None:
            decided = self._decide(table)
            if len(self._decided) >= MAX_DECIDED:
                self._decided.clear()
            self._decided[table] = decided
        return decided

    def decided(self) -> int:
        """How many tables' decisions are remembered."""
        return len(self._decided)

    def _decide(self, table: TableId) -> bool:
        if table.schema.lower() in SYSTEM_SCHEMAS:
            return False
        for rule in reversed(self.rules):
            if rule.matches(table):
                return rule.include
        return not self.rules  # no filter: everything; any filter: implicit `exclude: *.*` first

    def __str__(self) -> str:
        return ", ".join(str(r) for r in self.rules)

    def __bool__(self) -> bool:
        """False for the empty filter (everything included)."""
        return bool(self.rules)


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def fail(self, expected: str, at: int | None = None) -> ConfigError:
        at = self.i if at is None else at
        found = repr(self.s[at : at + 12]) if at < len(self.s) else "end of text"
        return ConfigError(
            f"invalid data filter at position {at + 1}: expected {expected}, found {found}",
            hint="example: 'exclude: *.*, include: demodb.*, exclude: demodb./tmp_.*/'",
        )

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.s[self.i] if self.i < len(self.s) else ""

    def rules(self) -> list[Rule]:
        out: list[Rule] = []
        include: bool | None = None
        while True:
            kw = self.keyword()
            if kw is not None:
                include = kw
            elif include is None:
                raise self.fail("'include:' or 'exclude:'")
            out.append(self.pattern(include))
            c = self.peek()
            if c == "":
                return out
            if c != ",":
                raise self.fail("',' or end of filter")
            self.i += 1
            if self.peek() == "":
                return out  # a trailing comma is harmless

    def keyword(self) -> bool | None:
        """`include:` / `exclude:` if next, else None (a bare pattern)."""
        self.skip_ws()
        m = re.compile(r"([A-Za-z]+)\s*:").match(self.s, self.i)
        if m is None:
            return None
        word = m.group(1).lower()
        if word not in _KEYWORDS:
            raise self.fail("'include' or 'exclude'")
        self.i = m.end()
        return word == "include"

    def pattern(self, include: bool) -> Rule:
        db = self.part()
        if self.peek() != ".":
            if db.kind == "regex":
                return Rule(include, db, None)
            raise self.fail("'.' between database and table (a pattern is database.table)")
        self.i += 1
        return Rule(include, db, self.part())

    def part(self) -> Part:
        c = self.peek()
        start = self.i
        if c == "/":
            return self.regex()
        if c in ("`", "'", '"'):
            return _part("name", self.quoted(c))
        j = self.i
        while j < len(self.s) and self.s[j] not in _SPECIAL and not self.s[j].isspace():
            j += 1
        word = self.s[self.i : j]
        if not word:
            raise self.fail("a name, '*', a `quoted name` or a /regex/", start)
        self.i = j
        if word == "*":
            return Part("any")
        return _part("glob" if "*" in word else "name", word)

    def quoted(self, q: str) -> str:
        start = self.i
        j = self.i + 1
        out: list[str] = []
        while j < len(self.s):
            if self.s[j] == q:
                if self.s.startswith(q + q, j):
                    out.append(q)
                    j += 2
                    continue
                self.i = j + 1
                if not out:
                    raise self.fail("a non-empty name", start)
                return "".join(out)
            out.append(self.s[j])
            j += 1
        raise self.fail(f"closing {q}", start)

    def regex(self) -> Part:
        """`/.../`: ends at the first `/` not escaped by a backslash; may hold , . and spaces."""
        start = self.i
        j = self.i + 1
        while j < len(self.s) and self.s[j] != "/":
            j += 2 if self.s[j] == "\\" else 1
        if j >= len(self.s):
            raise self.fail("closing '/' of the regular expression", start)
        body = self.s[start + 1 : j]
        self.i = j + 1
        if not body:
            raise self.fail("a non-empty regular expression", start)
        try:
            return _part("regex", body)
        except re.error as e:
            raise ConfigError(
                f"invalid data filter at position {start + 2 + (e.pos or 0)}: "
                f"bad regular expression /{body}/: {e.msg}",
                hint="regular expressions use Python syntax and must match the whole name",
            ) from None
