"""Classify the SQL of a binlog QUERY event into the schema changes the engine applies.

With binlog_format=ROW, data arrives as row events; QUERY events carry BEGIN/COMMIT and DDL. The
engine needs to know which tables a DDL touches and how, so `classify` turns the statement text
into `DdlAction` values. Table names matter most (a wrong one silently skips a schema change),
so this is a small MySQL tokenizer plus a recursive-descent reader of the DDL forms that change
tables, not a general SQL parser: sqlglot gives up (`Command`) on ALTER ONLINE, RENAME TABLE,
MariaDB's WAIT/NOWAIT and more. Column definitions are only scanned for the few facts the engine
needs (DEFAULT, NOT NULL). A table DDL we cannot read becomes `Unknown` naming every table we
can find in it, so the engine can resync them rather than guess.
"""

from __future__ import annotations

import itertools
import re

from zeroetl.model import (
    AddColumn,
    AlterOp,
    AlterTable,
    CreateDatabase,
    CreateTable,
    DdlAction,
    DropColumn,
    DropDatabase,
    DropTable,
    ModifyColumn,
    OtherAlter,
    RenameColumn,
    RenameTable,
    TableId,
    TruncateTable,
    Unknown,
)
from zeroetl.sources.mysql import ddl_columns
from zeroetl.sources.mysql.ddl_lexer import Token, split_statements, tokenize

# The action types live in model.py (the engine reads them); re-exported for this module's users.
__all__ = [
    "AddColumn", "AlterOp", "AlterTable", "CreateDatabase", "CreateTable", "DdlAction",
    "DropColumn", "DropDatabase", "DropTable", "ModifyColumn", "Other", "RenameColumn",
    "RenameTable", "TruncateTable", "Unknown", "classify", "schemas_named", "tables_named",
]  # fmt: skip


# First words of ALTER operations that change rows without writing row events.
_ROW_CHANGING = (
    ("DROP", "PARTITION"),
    ("TRUNCATE", "PARTITION"),
    ("EXCHANGE", "PARTITION"),
    ("CONVERT", "PARTITION"),
    ("CONVERT", "TABLE"),
    ("DISCARD",),
    ("IMPORT",),
)


def _changes_rows(text: str) -> bool:
    """True when the operation adds or removes rows with no row events (DROP/TRUNCATE/
    EXCHANGE/CONVERT PARTITION, DISCARD/IMPORT TABLESPACE): the table needs a resync."""
    words = tuple(w.upper() for w in text.split()[:2])
    return any(words[: len(p)] == p for p in _ROW_CHANGING)


def _changes_shape(text: str) -> bool:
    """True when the operation may change the primary key or column types (ADD/DROP
    PRIMARY KEY, CREATE/DROP INDEX `PRIMARY`, CONVERT TO CHARACTER SET): the replicated
    table's recorded shape would go stale."""
    words = [w.strip("`").upper() for w in re.split(r"[\s(]+", text) if w]
    head = tuple(words[:3])
    if head[:2] == ("CONVERT", "TO"):
        return True
    if "PRIMARY" not in words:
        return False
    return head[0] in ("ADD", "DROP", "CREATE")


class Other(OtherAlter):
    """Any other ALTER operation (index, engine, options, partitioning), as written, with
    what MySQL's syntax tells about it (model.OtherAlter)."""

    def __init__(self, text: str) -> None:
        super().__init__(text, _changes_rows(text), _changes_shape(text))


class _ParseError(Exception):
    pass


def tables_named(sql: str, default_schema: str) -> tuple[TableId, ...]:
    """Best effort, for a statement `classify` failed on: the names after TABLE, TABLES, ON,
    LIKE and TO. Never raises."""
    try:
        return _Reader(tokenize(sql), sql, default_schema, False).mentioned_tables()
    except Exception:
        return ()


_QUALIFIER = re.compile(r"`((?:[^`]|``)+)`\s*\.|([\w$]+)\s*\.")


def schemas_named(sql: str, default_schema: str) -> set[str]:
    """Best effort, for a statement `classify` failed on: its default schema, every name
    used as a qualifier (`name.`) and the name after DATABASE or SCHEMA. Never raises."""
    out = {default_schema} if default_schema else set()
    try:
        toks = tokenize(sql)
        for a, b in itertools.pairwise(toks):
            if a.kind in ("w", "q") and b.kind == "p" and b.text == ".":
                out.add(a.value)
        words = [t for t in toks if t.kind in ("w", "q")]
        for j, t in enumerate(words):
            if t.kind == "w" and t.text.upper() in ("DATABASE", "SCHEMA"):
                rest = [w for w in words[j + 1 :] if w.text.upper() not in ("IF", "NOT", "EXISTS")]
                if rest:
                    out.add(rest[0].value)
    except Exception:
        for m in _QUALIFIER.finditer(sql):
            out.add(m.group(1).replace("``", "`") if m.group(1) else m.group(2))
    return out


def classify(
    sql: str,
    default_schema: str,
    *,
    ansi_quotes: bool = False,
    no_backslash_escapes: bool = False,
    lower_case_table_names: int = 0,
) -> list[DdlAction]:
    """The schema changes `sql` makes, [] when it makes none we replicate.

    `default_schema` is the QUERY event's database. The keyword flags come from the event's
    sql_mode (ANSI_QUOTES, NO_BACKSLASH_ESCAPES) and the server's lower_case_table_names (1:
    names are stored lower-cased). Only consecutive table DDL statements are read: a statement
    that is not one ends the scan (stored-program bodies contain `;`).
    """
    tokens = tokenize(sql, ansi_quotes=ansi_quotes, no_backslash_escapes=no_backslash_escapes)
    fold = lower_case_table_names == 1
    out: list[DdlAction] = []
    for stmt in split_statements(tokens):
        reader = _Reader(stmt, sql, default_schema, fold)
        try:
            actions = reader.statement()
        except _ParseError:
            actions = [Unknown(reader.mentioned_tables(), sql)]
        if not actions:
            break
        out.extend(actions)
    return out


# Words after CREATE / DROP / ALTER that name objects we do not replicate.
_SKIP_HEAD = {"BEGIN", "COMMIT", "ROLLBACK", "XA", "SAVEPOINT", "RELEASE", "SET", "USE"}
_INDEX_WORDS = {"INDEX", "KEY"}
_ADD_NON_COLUMN = {
    "INDEX", "KEY", "PRIMARY", "UNIQUE", "FULLTEXT", "SPATIAL", "FOREIGN", "CONSTRAINT", "CHECK",
    "PARTITION",
}  # fmt: skip
_DROP_NON_COLUMN = {"PRIMARY", "INDEX", "KEY", "FOREIGN", "CHECK", "CONSTRAINT", "PARTITION"}
_PARTITION_VERBS = {
    "ADD", "DROP", "DISCARD", "IMPORT", "TRUNCATE", "EXCHANGE", "COALESCE", "REORGANIZE", "REBUILD",
    "OPTIMIZE", "ANALYZE", "CHECK", "REPAIR", "CONVERT",
}  # fmt: skip
_HINTS = {"ALGORITHM", "LOCK"}


class _Reader:
    """Recursive descent over one statement's tokens."""

    def __init__(self, toks: list[Token], sql: str, schema: str, fold: bool) -> None:
        self.t = toks
        self.i = 0
        self.sql = sql
        self.schema = schema
        self.fold = fold

    # -- token helpers ------------------------------------------------------------------------
    def word(self, k: int = 0) -> str:
        """The upper-cased unquoted word at offset k, or "" (quoted names are never keywords)."""
        j = self.i + k
        if j < len(self.t) and self.t[j].kind == "w":
            return self.t[j].text.upper()
        return ""

    def at(self, *words: str) -> bool:
        return all(self.word(k) == w for k, w in enumerate(words))

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.i += len(words)
            return True
        return False

    def punct(self, p: str) -> bool:
        if self.i < len(self.t) and self.t[self.i].kind == "p" and self.t[self.i].text == p:
            self.i += 1
            return True
        return False

    def ident(self) -> str:
        if self.i >= len(self.t) or self.t[self.i].kind not in ("w", "q"):
            raise _ParseError("identifier expected")
        self.i += 1
        return self.t[self.i - 1].value

    def table(self) -> TableId:
        first = self.ident()
        if self.punct("."):
            schema, name = first, self.ident()
        else:
            schema, name = self.schema, first
        if self.fold:
            schema, name = schema.lower(), name.lower()
        return TableId(schema, name)

    def if_exists(self) -> bool:
        return self.accept("IF", "EXISTS")

    def if_not_exists(self) -> bool:
        return self.accept("IF", "NOT", "EXISTS")

    def skip_wait(self) -> None:
        """MariaDB's `WAIT n` / `NOWAIT` lock-timeout clause."""
        if self.accept("WAIT"):
            self.i += 1
        else:
            self.accept("NOWAIT")

    def text(self, toks: list[Token]) -> str:
        return self.sql[toks[0].start : toks[-1].end] if toks else ""

    def mentioned_tables(self) -> tuple[TableId, ...]:
        """Best effort for `Unknown`: names after TABLE/TABLES/ON/LIKE/TO."""
        found: list[TableId] = []
        for j, tok in enumerate(self.t):
            if tok.kind == "w" and tok.text.upper() in ("TABLE", "TABLES", "ON", "LIKE", "TO"):
                self.i = j + 1
                self.if_exists() or self.if_not_exists()
                try:
                    tid = self.table()
                except _ParseError:
                    continue
                if tid not in found:
                    found.append(tid)
        return tuple(found)

    # -- statements ---------------------------------------------------------------------------
    def statement(self) -> list[DdlAction]:
        head = self.word()
        if head == "CREATE":
            self.i += 1
            return self.create()
        if head == "DROP":
            self.i += 1
            return self.drop()
        if head == "ALTER":
            self.i += 1
            return self.alter()
        if head == "RENAME" and self.word(1) in ("TABLE", "TABLES"):
            self.i += 2
            return self.rename()
        if head == "TRUNCATE":
            self.i += 1
            self.accept("TABLE")
            return [TruncateTable(self.table())]
        return []

    def create(self) -> list[DdlAction]:
        replace = self.accept("OR", "REPLACE")
        if self.accept("DATABASE") or self.accept("SCHEMA"):
            self.if_not_exists()
            return [CreateDatabase(self.ident())]
        if self.at("TEMPORARY"):
            return []
        if self.accept("TABLE"):
            ine = self.if_not_exists()
            table = self.table()
            like = None
            if self.accept("LIKE") or (self.punct("(") and self.accept("LIKE")):
                like = self.table()
            created = CreateTable(table, like, ine)
            # CREATE OR REPLACE TABLE (MariaDB) drops any existing table first.
            return [DropTable(table), created] if replace else [created]
        self.accept("ONLINE") or self.accept("OFFLINE")
        while self.word() in ("UNIQUE", "FULLTEXT", "SPATIAL", "VECTOR"):
            self.i += 1
        if self.accept("INDEX"):
            return self.index_statement()
        return []  # VIEW, TRIGGER, PROCEDURE, FUNCTION, EVENT, USER, SEQUENCE, ...

    def index_statement(self) -> list[DdlAction]:
        """After CREATE ... INDEX / DROP INDEX: `[IF [NOT] EXISTS] name [USING t] ON table`."""
        start = self.t[0]
        self.if_not_exists() or self.if_exists()
        self.ident()
        if self.accept("USING") or self.accept("TYPE"):
            self.ident()
        if not self.accept("ON"):
            raise _ParseError("ON expected")
        table = self.table()
        return [AlterTable(table, (Other(self.sql[start.start : self.t[-1].end]),))]

    def drop(self) -> list[DdlAction]:
        if self.accept("DATABASE") or self.accept("SCHEMA"):
            self.if_exists()
            return [DropDatabase(self.ident())]
        if self.at("TEMPORARY"):
            return []
        if self.accept("TABLE") or self.accept("TABLES"):
            self.if_exists()
            out: list[DdlAction] = [DropTable(self.table())]
            while self.punct(","):
                out.append(DropTable(self.table()))
            return out
        self.accept("ONLINE") or self.accept("OFFLINE")
        if self.accept("INDEX"):
            return self.index_statement()
        return []

    def rename(self) -> list[DdlAction]:
        out: list[DdlAction] = []
        while True:
            self.if_exists()
            old = self.table()
            self.skip_wait()
            if not self.accept("TO"):
                raise _ParseError("TO expected")
            out.append(RenameTable(old, self.table()))
            if not self.punct(","):
                return out

    def alter(self) -> list[DdlAction]:
        while self.word() in ("ONLINE", "OFFLINE", "IGNORE"):
            self.i += 1
        if not self.accept("TABLE"):
            return []  # DATABASE (charset only), VIEW, USER, EVENT, SEQUENCE, ...
        self.if_exists()
        table = self.table()
        self.skip_wait()
        ops: list[AlterOp] = []
        rename_to: TableId | None = None
        extra: list[DdlAction] = []
        for chunk in _alter_chunks(self.t[self.i :]):
            sub = _Reader(chunk, self.sql, self.schema, self.fold)
            op = sub.alter_op()
            if isinstance(op, TableId):
                rename_to = op
            elif op is not None:
                ops.append(op)
                extra.extend(sub.partition_side_effects(op))
        return [AlterTable(table, tuple(ops), rename_to), *extra]

    # -- ALTER TABLE operations (one comma-separated chunk each) -----------------------------
    def alter_op(self) -> AlterOp | TableId | None:
        w = self.word()
        if w in _HINTS:
            return None  # ALGORITHM= / LOCK= say how, not what
        if self.accept("ADD"):
            return self.add_op()
        if self.accept("DROP"):
            return self.drop_op()
        if self.accept("CHANGE"):
            self.accept("COLUMN")
            self.if_exists()
            old, new = self.ident(), self.ident()
            return ModifyColumn(old, None if new == old else new)
        if self.accept("MODIFY"):
            self.accept("COLUMN")
            self.if_exists()
            return ModifyColumn(self.ident())
        if self.at("ALTER") and self.word(1) not in ("INDEX", "KEY", "CHECK", "CONSTRAINT"):
            # ALTER [COLUMN] c SET DEFAULT / DROP DEFAULT / SET [IN]VISIBLE: no row changes.
            return self.other()
        if self.accept("RENAME"):
            if self.accept("COLUMN"):
                old = self.ident()
                if not self.accept("TO"):
                    raise _ParseError("TO expected")
                return RenameColumn(old, self.ident())
            if self.word() in _INDEX_WORDS:
                return self.other()
            self.accept("TO") or self.accept("AS")
            return self.table()
        return self.other()

    def other(self) -> Other:
        return Other(self.text(self.t))

    def add_op(self) -> AlterOp:
        explicit = self.accept("COLUMN")
        if not explicit and (
            self.word() in _ADD_NON_COLUMN
            or self.word(1) in _INDEX_WORDS  # FULLTEXT KEY, VECTOR INDEX, ...
            or self.at("PERIOD", "FOR")
            or self.at("SYSTEM", "VERSIONING")
        ):
            return self.other()
        ine = self.if_not_exists()
        if self.punct("("):
            raise _ParseError("parenthesised ADD handled by the caller")
        return self.column_def(ine)

    def column_def(self, if_not_exists: bool = False) -> AddColumn:
        name = self.ident()
        definition = self.t[self.i :]
        has_default = not_null = False
        depth = 0
        for j in range(self.i, len(self.t)):
            tok = self.t[j]
            if tok.kind == "p":
                depth += {"(": 1, ")": -1}.get(tok.text, 0)
                continue
            if depth or tok.kind != "w":
                continue
            w = tok.text.upper()
            nxt = self.t[j + 1] if j + 1 < len(self.t) else None
            nxt_w = nxt.text.upper() if nxt is not None and nxt.kind == "w" else ""
            prev_set = j > 0 and self.t[j - 1].kind == "w" and self.t[j - 1].text.upper() == "SET"
            if w == "DEFAULT" and nxt_w != "NULL" and not prev_set:  # not ON DELETE SET DEFAULT
                has_default = True
            elif w in ("AUTO_INCREMENT", "GENERATED", "SERIAL") or (
                w == "AS" and nxt is not None and nxt.text == "("
            ):
                has_default = True
                not_null = not_null or w == "SERIAL"
            elif (w == "NOT" and nxt_w == "NULL") or w == "PRIMARY":
                not_null = True
        first, after = ddl_columns.position(definition)
        column = ddl_columns.column_type(name, definition, not_null)
        return AddColumn(name, has_default, not_null, if_not_exists, first, after, column)

    def drop_op(self) -> AlterOp:
        explicit = self.accept("COLUMN")
        if not explicit and (
            self.word() in _DROP_NON_COLUMN
            or self.at("SYSTEM", "VERSIONING")
            or self.at("PERIOD", "FOR")
        ):
            return self.other()
        if_exists = self.if_exists()
        return DropColumn(self.ident(), if_exists)

    def partition_side_effects(self, op: AlterOp) -> list[DdlAction]:
        """Other tables a partition operation changes: EXCHANGE swaps rows with a table,
        MariaDB's CONVERT PARTITION creates one and CONVERT TABLE consumes one."""
        if not isinstance(op, Other):
            return []
        self.i = 0
        if self.accept("EXCHANGE", "PARTITION"):
            self.ident()
            if self.accept("WITH", "TABLE"):
                return [AlterTable(self.table(), (op,))]
        elif self.accept("CONVERT", "PARTITION"):
            self.ident()
            if self.accept("TO", "TABLE"):
                return [CreateTable(self.table())]
        elif self.accept("CONVERT", "TABLE"):
            return [DropTable(self.table())]
        return []


def _standalone(first: str, second: str) -> bool:
    """Partition and tablespace operations: the only operation of their ALTER TABLE, with
    comma-separated lists of their own (`DROP PARTITION p0, p1`)."""
    return (second in ("PARTITION", "PARTITIONS", "TABLESPACE") and first in _PARTITION_VERBS) or (
        first,
        second,
    ) in (("CONVERT", "TABLE"), ("REMOVE", "PARTITIONING"), ("PARTITION", "BY"))


def _alter_chunks(toks: list[Token]) -> list[list[Token]]:
    """Split ALTER TABLE operations at top-level commas. A trailing `PARTITION BY` or
    `REMOVE PARTITIONING` (written after the operations without a comma) starts a new chunk."""
    words = [t.text.upper() if t.kind == "w" else "" for t in toks] + ["", ""]
    chunks: list[list[Token]] = []
    cur: list[Token] = []
    depth = 0
    standalone = False
    for j, tok in enumerate(toks):
        if depth == 0 and _standalone(words[j], words[j + 1]) and not standalone:
            if cur and words[j] in ("PARTITION", "REMOVE"):
                chunks.append(cur)
                cur = []
            standalone = standalone or not cur
        if tok.kind == "p" and tok.text in "()":
            depth += 1 if tok.text == "(" else -1
        if depth == 0 and not standalone and tok.kind == "p" and tok.text == ",":
            chunks.append(cur)
            cur = []
            continue
        cur.append(tok)
    chunks.append(cur)
    return _expand_paren_adds([c for c in chunks if c])


def _expand_paren_adds(chunks: list[list[Token]]) -> list[list[Token]]:
    """`ADD [COLUMN] (a INT, b INT)` -> one `ADD` chunk per column."""
    out: list[list[Token]] = []
    for chunk in chunks:
        k = 1
        if len(chunk) > 1 and chunk[1].kind == "w" and chunk[1].text.upper() == "COLUMN":
            k = 2
        is_add = chunk[0].kind == "w" and chunk[0].text.upper() == "ADD"
        if not (is_add and len(chunk) > k and chunk[k].text == "(" and chunk[k].kind == "p"):
            out.append(chunk)
            continue
        depth = 0
        cur: list[Token] = [chunk[0]]
        for tok in chunk[k + 1 :]:
            if tok.kind == "p" and tok.text in "()":
                depth += 1 if tok.text == "(" else -1
                if depth < 0:
                    break
            if depth == 0 and tok.kind == "p" and tok.text == ",":
                out.append(cur)
                cur = [chunk[0]]
                continue
            cur.append(tok)
        out.append(cur)
    return out


# -- lexer ------------------------------------------------------------------------------------
