"""Row changes logged as statements: which tables a DML statement in a QUERY event writes.

With `binlog_format=STATEMENT` or `MIXED` (globally or for one session) the server logs an
INSERT, UPDATE, DELETE, REPLACE or LOAD DATA as its SQL text instead of row events; replaying
the text is not possible (it depends on the source's data), so the tables it writes must be
re-copied. This module only has to name those tables, and it errs on the side of naming too
many: every table of a multi-table UPDATE/DELETE counts, and a statement it cannot read
(`SELECT f()` of a stored function that writes, unknown syntax) names no table, meaning
"any table" (`tables is None`).
"""

from __future__ import annotations

from dataclasses import dataclass

from zeroetl.model import TableId
from zeroetl.sources.mysql.ddl_lexer import Token, split_statements, tokenize

# First words of statements that change rows. SELECT and DO reach the binlog only when they call
# a stored function that writes (statement format logs the call, not the writes).
DML_WORDS = frozenset({"INSERT", "REPLACE", "UPDATE", "DELETE", "LOAD", "SELECT", "DO", "WITH"})
_JOIN_WORDS = frozenset(
    {"JOIN", "INNER", "CROSS", "LEFT", "RIGHT", "OUTER", "NATURAL", "STRAIGHT_JOIN"}
)
_CLAUSE_END = frozenset({"SET", "WHERE", "ORDER", "LIMIT", "RETURNING"})
_INDEX_HINTS = frozenset({"USE", "IGNORE", "FORCE"})
# The tables come first in every form; a multi-MB INSERT is not tokenized to its end.
_HEAD_CHARS = 65_536


@dataclass(frozen=True)
class StatementDml:
    verb: str  # INSERT, UPDATE, DELETE, REPLACE, LOAD DATA, ...
    tables: tuple[TableId, ...] | None  # None: cannot tell which tables (treat as all)


class _Unreadable(Exception):
    pass


def might_be_dml(sql: str) -> bool:
    """A cheap pre-check on the raw text (QUERY events are mostly BEGIN/COMMIT and DDL)."""
    head = sql.lstrip()[:16].upper()
    return not head[:1].isalpha() or head.split(None, 1)[0].rstrip(";") in DML_WORDS | {"SET"}


def statement_dml(sql: str, default_schema: str) -> StatementDml | None:
    """The rows-changing statement in `sql` (one QUERY event), or None when it changes no rows."""
    truncated = len(sql) > _HEAD_CHARS
    stmts = split_statements(tokenize(sql[:_HEAD_CHARS] if truncated else sql))
    if not stmts:
        return None
    r = _Reader(stmts[0], default_schema, truncated)
    r.skip_set_statement()
    verb = r.word()
    if verb not in DML_WORDS:
        return None
    try:
        tables = r.statement()
    except (_Unreadable, IndexError):
        tables = None
    verb = r.verb or verb
    shown = "LOAD DATA" if verb == "LOAD" else verb
    if tables is not None and not tables:
        tables = None
    return StatementDml(shown, tables)


class _Reader:
    def __init__(self, toks: list[Token], schema: str, truncated: bool = False) -> None:
        self.t = toks
        self.i = 0
        self.schema = schema
        self.truncated = truncated  # the tokens stop at _HEAD_CHARS, not at the statement's end
        self.verb = ""  # the statement's own verb (after any WITH clause)

    def word(self, k: int = 0) -> str:
        j = self.i + k
        if j < len(self.t) and self.t[j].kind == "w":
            return self.t[j].text.upper()
        return ""

    def is_punct(self, p: str) -> bool:
        return self.i < len(self.t) and self.t[self.i].kind == "p" and self.t[self.i].text == p

    def skip(self, *words: str) -> None:
        while self.word() in words:
            self.i += 1

    def done(self) -> bool:
        return self.i >= len(self.t)

    def skip_parens(self) -> None:
        """At "(": move past its matching ")"."""
        depth = 0
        while not self.done():
            tok = self.t[self.i]
            self.i += 1
            if tok.kind == "p" and tok.text == "(":
                depth += 1
            elif tok.kind == "p" and tok.text == ")":
                depth -= 1
                if depth == 0:
                    return
        raise _Unreadable("unbalanced parentheses")

    def skip_set_statement(self) -> None:
        """MariaDB's `SET STATEMENT var=value, ... FOR <statement>`."""
        if self.word() != "SET" or self.word(1) != "STATEMENT":
            return
        while not self.done():
            if self.is_punct("("):
                self.skip_parens()
            elif self.word() == "FOR":
                self.i += 1
                return
            else:
                self.i += 1

    def table(self) -> TableId:
        if self.done() or self.t[self.i].kind not in ("w", "q"):
            raise _Unreadable("table name expected")
        first = self.t[self.i].value
        self.i += 1
        if self.is_punct(".") and self.i + 1 < len(self.t) and self.t[self.i + 1].kind in "wq":
            name = self.t[self.i + 1].value
            self.i += 2
            return TableId(first, name)
        if not self.schema:
            raise _Unreadable("unqualified table without a default database")
        return TableId(self.schema, first)

    # -- statements ---------------------------------------------------------------------------
    def statement(self) -> tuple[TableId, ...] | None:
        verb = self.verb = self.word()
        self.i += 1
        if verb in ("INSERT", "REPLACE"):
            self.skip("LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO")
            return (self.table(),)
        if verb == "UPDATE":
            self.skip("LOW_PRIORITY", "IGNORE")
            return self.table_references()
        if verb == "DELETE":
            return self.delete()
        if verb == "LOAD":
            return self.load()
        if verb == "WITH":
            return self.with_()
        return None  # SELECT/DO: a stored function may write anything

    def delete(self) -> tuple[TableId, ...]:
        self.skip("LOW_PRIORITY", "QUICK", "IGNORE")
        if self.word() == "FROM":
            self.i += 1
            first = self.table()
            self.skip_star()
            if self.is_punct(",") or self.word() == "USING":
                # DELETE FROM t1, t2 USING <table references>: the tables are in the references
                while not self.done() and self.word() != "USING":
                    self.i += 1
                self.i += 1
                return self.table_references()
            return (first,)
        # DELETE t1, t2 FROM <table references>: the targets are named (or aliased) in them
        while not self.done() and self.word() != "FROM":
            if self.is_punct("("):
                raise _Unreadable("unexpected parenthesis")
            self.i += 1
        self.i += 1
        return self.table_references()

    def skip_star(self) -> None:
        if self.is_punct(".") and self.i + 1 < len(self.t) and self.t[self.i + 1].text == "*":
            self.i += 2

    def load(self) -> tuple[TableId, ...]:
        while not self.done() and not (self.word() == "INTO" and self.word(1) == "TABLE"):
            self.i += 1
        if self.done():
            raise _Unreadable("LOAD without INTO TABLE")
        self.i += 2
        return (self.table(),)

    def with_(self) -> tuple[TableId, ...] | None:
        """`WITH [RECURSIVE] name [(cols)] AS (...) [, ...] <statement>`."""
        self.skip("RECURSIVE")
        while True:
            self.table()  # the CTE's name
            if self.is_punct("("):
                self.skip_parens()
            if self.word() != "AS":
                raise _Unreadable("AS expected in WITH")
            self.i += 1
            if not self.is_punct("("):
                raise _Unreadable("( expected in WITH")
            self.skip_parens()
            if not self.is_punct(","):
                break
            self.i += 1
        if self.word() not in ("UPDATE", "DELETE", "INSERT", "REPLACE"):
            return None
        return self.statement()

    def table_references(self) -> tuple[TableId, ...]:
        """Every table named in a FROM-like list: factors separated by commas and joins, with
        aliases, PARTITION (...), index hints, ON/USING conditions. Parenthesised joins are
        read inside; a derived table (subquery) contributes nothing (it cannot be written)."""
        found: list[TableId] = []
        expect_factor = True
        while not self.done():
            w = self.word()
            if w in _CLAUSE_END and not expect_factor:
                break
            if self.is_punct(","):
                expect_factor = True
                self.i += 1
            elif w in _JOIN_WORDS:
                expect_factor = w in ("JOIN", "STRAIGHT_JOIN") or expect_factor
                self.i += 1
            elif w in ("ON", "USING") and not expect_factor:
                self.skip_condition()
            elif expect_factor:
                if self.is_punct("("):
                    self.nested(found)
                else:
                    found.append(self.table())
                    self.factor_tail()
                expect_factor = False
            else:
                raise _Unreadable(f"unexpected token {self.t[self.i].text!r}")
        if self.done() and self.truncated:
            raise _Unreadable("the table list goes on past what was read")
        return tuple(dict.fromkeys(found))

    def nested(self, found: list[TableId]) -> None:
        start = self.i
        self.skip_parens()
        inner = self.t[start + 1 : self.i - 1]
        if inner and inner[0].kind == "w" and inner[0].text.upper() in ("SELECT", "WITH"):
            self.factor_tail()  # a derived table: its alias follows
            return
        sub = _Reader(inner, self.schema)  # complete: its closing parenthesis was read
        found.extend(sub.table_references())
        self.factor_tail()

    def factor_tail(self) -> None:
        """PARTITION (...), [AS] alias, index hints after a table factor."""
        if self.word() == "PARTITION":
            self.i += 1
            if self.is_punct("("):
                self.skip_parens()
        if self.word() == "AS":
            self.i += 1
        if not self.done() and self.t[self.i].kind == "q":
            self.i += 1
        elif self.word() and self.word() not in (
            _JOIN_WORDS | _CLAUSE_END | _INDEX_HINTS | {"ON", "USING"}
        ):
            self.i += 1  # an alias
        while self.word() in _INDEX_HINTS and self.word(1) in ("INDEX", "KEY"):
            self.i += 2
            if self.word() == "FOR":
                self.i += 1
                self.skip("JOIN", "ORDER", "GROUP", "BY")
            if self.is_punct("("):
                self.skip_parens()
            if self.is_punct(",") and self.word(1) in _INDEX_HINTS:
                self.i += 1

    def skip_condition(self) -> None:
        """ON <expr> / USING (cols): up to the next comma, join or clause at this depth."""
        self.i += 1
        while not self.done():
            if self.is_punct("("):
                self.skip_parens()
                continue
            w = self.word()
            if self.is_punct(",") or w in _JOIN_WORDS or w in _CLAUSE_END:
                return
            self.i += 1
