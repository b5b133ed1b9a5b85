"""DuckDB errors worded as PostgreSQL/Redshift word them, never naming zeroetl's internal objects.

DuckDB's messages name what it sees, which is the translated statement: macros of the catalog
emulation (`zeroetl_getdate`), its schema (`_zeroetl_pg`), the bookkeeping (`_zeroetl.tables`),
DuckDB's own functions and catalogs, and internal aliases (`zq_*`). A user asked for `tabels` was
told 'Did you mean "information_schema.tables or shp2_wh._zeroetl.tables"?'. Here:
- the common catalog/binder errors get PostgreSQL's wording and SQLSTATE (`relation "x" does not
  exist`, `column "x" does not exist`, `function x does not exist`, `schema "x" does not exist`),
  with DuckDB's suggestions as a hint, keeping only the names a user can use;
- internal names left anywhere else in the text become the user's name for them (`getdate`) or
  are taken out; DuckDB's `LINE 1: ...` excerpt (of the translated statement) is dropped.
"""

from __future__ import annotations

import re

import duckdb

from .errors import SqlError

# Internal names with a user-facing spelling (the macros GETDATE() and SYSDATE become).
USER_NAMES = {"zeroetl_getdate": "getdate", "zeroetl_sysdate": "sysdate"}
_INTERNAL_PREFIXES = ("zeroetl_", "_zeroetl", "zq_", "duckdb_", "pragma_", "__")
_INTERNAL_CATALOGS = {"system", "temp", "memory"}

_SUGGEST = re.compile(r'\s*Did you mean "([^"]*)"\??', re.S)
_CANDIDATES = re.compile(r"\s*Candidate (?:bindings|tables): (.*)$", re.S)
_LINE = re.compile(r"\n+LINE \d+:.*$", re.S)
_WORD = re.compile(r"\b[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)*\b")

_NO_TABLE = re.compile(r'^Table with name "?([^"!]+?)"? does not exist!?$')
_NO_TABLE_SCHEMA = re.compile(
    r'^Table with name "([^"]+)" does not exist because schema "([^"]+)" does not exist\.?$'
)
_NO_SCHEMA = re.compile(r'^Schema with name "?([^"!]+?)"? does not exist!?$')
_NO_FUNCTION = re.compile(
    r"^(?:Scalar |Table |Aggregate |Pragma )?(?:Function|Macro Function|Macro) with name "
    r'"?([^"!]+?)"? does not exist!?$'
)
_NO_COLUMN = re.compile(r'^Referenced column "([^"]+)" not found in FROM clause!?$')
_OUT_OF_RANGE = re.compile(r"out of range for the destination type (\w+)")
_PG_INTS = {"INT64": "bigint", "INT32": "integer", "INT16": "smallint"}
_NO_TABLE_COLUMN = re.compile(r'^Table "([^"]+)" does not have a column named "([^"]+)"$')
_NO_MATCH = re.compile(
    r"^No function matches the given name and argument types '([\w.]+)\((.*)\)'\.", re.S
)
_BAD_INPUT = re.compile(r"^Could not convert string '(.*)' to (\w+)", re.S)
# DuckDB type names (as in its messages) -> PostgreSQL's
_PG_TYPES = {
    "INT8": "smallint", "INT16": "smallint", "INT32": "integer", "INT64": "bigint",
    "TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint",
    "HUGEINT": "numeric", "INT128": "numeric", "DOUBLE": "double precision", "FLOAT": "real",
    "DECIMAL": "numeric", "VARCHAR": "character varying", "BOOLEAN": "boolean", "BOOL": "boolean",
    "DATE": "date", "TIME": "time without time zone", "TIMESTAMP": "timestamp without time zone",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone", "INTERVAL": "interval",
    "BLOB": "bytea", "UUID": "uuid", "JSON": "json", "INTEGER_LITERAL": "integer",
    "STRING_LITERAL": "unknown", "NULL": "unknown",
}  # fmt: skip
_NO_REF_TABLE = re.compile(r'^Referenced table "([^"]+)" not found!?$')


def internal(name: str, home: str = "") -> bool:
    """Whether a (possibly qualified) name is one of zeroetl's or DuckDB's internal objects."""
    parts = [p.strip('"').lower() for p in name.split(".")]
    if any(p.startswith(_INTERNAL_PREFIXES) and p not in USER_NAMES for p in parts):
        return True
    return len(parts) == 3 and (parts[0] in _INTERNAL_CATALOGS or parts[0] == home.lower())


def visible(names: list[str], home: str = "") -> list[str]:
    out = []
    for n in names:
        n = n.strip().strip('"')
        if not n or internal(n, home):
            continue
        n = USER_NAMES.get(n.lower(), n)
        if n not in out:
            out.append(n)
    return out


def scrub(text: str, home: str = "") -> str:
    """`text` with internal names replaced by the user's (`getdate`) or by `?` when none."""

    def one(m: re.Match[str]) -> str:
        word = m.group(0)
        if word.lower() in USER_NAMES:
            return USER_NAMES[word.lower()]
        return "?" if internal(word, home) else word

    return _WORD.sub(one, text)


def _hint(suggestions: list[str]) -> str:
    if not suggestions:
        return ""
    return "Did you mean " + " or ".join(f'"{s}"' for s in suggestions) + "?"


def _split(msg: str, home: str) -> tuple[str, list[str]]:
    """DuckDB's first line and its suggestions (visible ones only)."""
    names: list[str] = []
    m = _SUGGEST.search(msg)
    if m:
        names = re.split(r"\s+or\s+|,\s*", m.group(1))
        msg = msg[: m.start()] + msg[m.end() :]
    m = _CANDIDATES.search(msg)
    if m:
        names = re.findall(r'"([^"]+)"', m.group(1))
        msg = msg[: m.start()]
    return msg.strip(), visible(names, home)


def translate(e: duckdb.Error, msg: str, home: str = "") -> SqlError:
    """The SqlError for DuckDB error `e` whose text (without DuckDB's 'X Error: ') is `msg`."""
    msg = _LINE.sub("", msg)
    head, suggestions = _split(msg, home)
    hint = _hint(suggestions)
    text = str(e)
    if isinstance(e, duckdb.CatalogException):
        if m := _NO_TABLE_SCHEMA.match(head):  # PostgreSQL names the relation, as written
            why = f'schema "{scrub(m.group(2), home)}" does not exist'
            return SqlError(
                "42P01", f'relation "{scrub(m.group(1), home)}" does not exist', hint=hint or why
            )
        if m := _NO_TABLE.match(head):
            return SqlError(
                "42P01", f'relation "{scrub(m.group(1), home)}" does not exist', hint=hint
            )
        if m := _NO_SCHEMA.match(head):
            return SqlError(
                "3F000", f'schema "{scrub(m.group(1), home)}" does not exist', hint=hint
            )
        if m := _NO_FUNCTION.match(head):
            name = USER_NAMES.get(m.group(1).lower(), m.group(1))
            return SqlError("42883", f"function {scrub(name, home)} does not exist", hint=hint)
        if "Function" in text or "function" in text:
            return SqlError("42883", scrub(head, home), hint=hint)
        if "Schema" in text:
            return SqlError("3F000", scrub(head, home), hint=hint)
        return SqlError("42P01", scrub(head, home), hint=hint)
    if isinstance(e, duckdb.BinderException):
        if m := _NO_TABLE_COLUMN.match(head):
            column = f"{scrub(m.group(1), home)}.{scrub(m.group(2), home)}"
            return SqlError("42703", f"column {column} does not exist", hint=hint)
        if m := _NO_MATCH.match(head):
            args = ", ".join(_pg_type(a) for a in m.group(2).split(",") if a.strip())
            name = USER_NAMES.get(m.group(1).lower(), m.group(1))
            return SqlError(
                "42883",
                f"function {scrub(name, home)}({args}) does not exist",
                hint="No function matches the given name and argument types. You might need to"
                " add explicit type casts.",
            )
        if m := _NO_COLUMN.match(head):
            return SqlError(
                "42703", f'column "{scrub(m.group(1), home)}" does not exist', hint=hint
            )
        if m := _NO_REF_TABLE.match(head):
            return SqlError(
                "42P01",
                f'missing FROM-clause entry for table "{scrub(m.group(1), home)}"',
                hint=hint,
            )
        state = "42703" if "column" in text.lower() else "42804"
        return SqlError(state, _scrub_lines(head, home), hint=hint)
    if isinstance(e, duckdb.ParserException):
        return SqlError("42601", scrub(head, home), hint=hint)
    if isinstance(e, duckdb.ConversionException):
        if m := _OUT_OF_RANGE.search(head):  # e.g. a SUM past BIGINT, as PostgreSQL words it
            return SqlError("22003", f"{_PG_INTS.get(m.group(1), 'value')} out of range")
        if m := _BAD_INPUT.match(head):
            value = m.group(1).replace('"', '\\"')
            return SqlError(
                "22P02", f'invalid input syntax for type {_pg_type(m.group(2))}: "{value}"'
            )
        return SqlError("22P02", scrub(head, home), hint=hint)
    if isinstance(e, duckdb.OutOfRangeException):
        return SqlError("22003", scrub(head, home), hint=hint)
    if isinstance(e, duckdb.TransactionException):
        return SqlError("40001", scrub(head, home), hint=hint)
    return SqlError("XX000", scrub(head, home), hint=hint)


def _pg_type(duck: str) -> str:
    base = re.sub(r"\(.*$", "", duck.strip()).upper()
    return _PG_TYPES.get(base, base.lower())


def _scrub_lines(text: str, home: str) -> str:
    """Candidate lists (one per line after the first) lose the lines naming internal objects."""
    first, *rest = text.splitlines() or [""]
    kept = [ln for ln in rest if not _names_internal(ln, home)]
    if kept and kept[-1].strip().startswith("Candidate") and kept[-1].strip().endswith(":"):
        kept.pop()  # a heading whose every candidate was internal
    return scrub("\n".join([first, *kept]), home)


def _names_internal(line: str, home: str) -> bool:
    return any(
        internal(w, home) and w.lower() not in USER_NAMES for w in _WORD.findall(line.strip())
    )
