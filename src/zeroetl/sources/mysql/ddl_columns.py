"""The type and position of a column in `ALTER TABLE ... ADD COLUMN`, read from the statement.

Adding a column in place needs its logical type when the DDL event arrives, not with the next
row event (which may never come). The type is read from the definition and mapped by the same
function INFORMATION_SCHEMA rows go through (`types.logical_type`), so both agree. Only
spellings whose meaning does not depend on server settings are read; for the rest (`REAL`,
which REAL_AS_FLOAT turns into FLOAT; `JSON`, text on MariaDB but its own type on MySQL;
`TIMESTAMP` without an explicit NULL, which explicit_defaults_for_timestamp=OFF makes NOT NULL
with a default; anything unmapped) the answer is None and the engine resyncs the table instead.
A misreading cannot last: the next row event's TABLE_MAP is compared with the warehouse table.
"""

from __future__ import annotations

from zeroetl.model import ColumnSchema
from zeroetl.sources.mysql.ddl_lexer import Token
from zeroetl.sources.mysql.types import GEOMETRY_TYPES, logical_type

# First word of a type -> INFORMATION_SCHEMA DATA_TYPE.
_TYPE_WORDS = {
    "TINYINT": "tinyint", "INT1": "tinyint", "BOOL": "tinyint", "BOOLEAN": "tinyint",
    "SMALLINT": "smallint", "INT2": "smallint",
    "MEDIUMINT": "mediumint", "INT3": "mediumint", "MIDDLEINT": "mediumint",
    "INT": "int", "INTEGER": "int", "INT4": "int",
    "BIGINT": "bigint", "INT8": "bigint",
    "DECIMAL": "decimal", "DEC": "decimal", "NUMERIC": "decimal", "FIXED": "decimal",
    "FLOAT": "float", "FLOAT4": "float", "FLOAT8": "double", "DOUBLE": "double",
    "BIT": "bit",
    "CHAR": "char", "CHARACTER": "char", "NCHAR": "char",
    "VARCHAR": "varchar", "VARCHARACTER": "varchar", "NVARCHAR": "varchar",
    "TINYTEXT": "tinytext", "TEXT": "text", "MEDIUMTEXT": "mediumtext", "LONGTEXT": "longtext",
    "BINARY": "binary", "VARBINARY": "varbinary",
    "TINYBLOB": "tinyblob", "BLOB": "blob", "MEDIUMBLOB": "mediumblob", "LONGBLOB": "longblob",
    "ENUM": "enum", "SET": "set",
    "DATE": "date", "DATETIME": "datetime", "TIME": "time", "YEAR": "year",
    "TIMESTAMP": "timestamp",
    **{g.upper(): g for g in GEOMETRY_TYPES},
}  # fmt: skip
_CHAR_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}


def _word(t: Token | None) -> str:
    return t.text.upper() if t is not None and t.kind == "w" else ""


def column_type(name: str, toks: list[Token], not_null: bool) -> ColumnSchema | None:
    """The column `name` whose definition (after the name) is `toks`, or None when its type
    cannot be known from the statement alone (see the module docstring)."""
    i = 0

    def at(k: int = 0) -> Token | None:
        return toks[i + k] if i + k < len(toks) else None

    first = _word(at())
    if not first:
        return None
    i += 1
    dtype = _TYPE_WORDS.get(first)
    # Two-word spellings.
    nxt = _word(at())
    if first == "DOUBLE" and nxt == "PRECISION":
        i += 1
    elif first == "LONG":
        i += nxt in ("VARCHAR", "VARBINARY", "VARCHARACTER")
        dtype = "mediumblob" if nxt == "VARBINARY" else "mediumtext"
    elif first == "NATIONAL":
        if nxt not in ("CHAR", "CHARACTER", "VARCHAR", "VARCHARACTER"):
            return None
        dtype = "varchar" if nxt.startswith("VARCHAR") else "char"
        i += 1
    if dtype in ("char", "varchar") and _word(at()) in ("VARYING", "VARCHAR"):
        dtype = "varchar"
        i += 1
    if dtype is None:
        return None  # REAL, JSON, SERIAL, UUID, INET6, VECTOR, user-defined types...
    args: list[str] = []
    tok = at()
    if tok is not None and tok.kind == "p" and tok.text == "(":
        depth = 0
        while (tok := at()) is not None:
            i += 1
            if tok.kind == "p" and tok.text == "(":
                depth += 1
            elif tok.kind == "p" and tok.text == ")":
                depth -= 1
                if depth == 0:
                    break
            elif depth == 1 and tok.kind == "w":
                args.append(tok.text)
    unsigned = False
    charset: str | None = None
    while (w := _word(at())) in (
        "UNSIGNED", "SIGNED", "ZEROFILL", "CHARACTER", "CHARSET", "CHAR", "ASCII", "UNICODE",
        "BYTE", "BINARY", "COLLATE",
    ):  # fmt: skip
        i += 1
        if w in ("UNSIGNED", "ZEROFILL"):
            unsigned = True
        elif w in ("CHARACTER", "CHAR", "CHARSET"):
            if w != "CHARSET" and _word(at()) == "SET":
                i += 1
            tok = at()
            if tok is None or tok.kind not in ("w", "q", "s"):
                return None
            charset = tok.value.lower()
            i += 1
        elif w == "BYTE":
            charset = "binary"
        elif w == "COLLATE":
            i += 1  # the collation's name; with it, the charset is the collation's own
        # ASCII / UNICODE (latin1 / ucs2) and BINARY (a _bin collation) keep a text type.
    if dtype == "timestamp" and (not_null or not _explicit_null(toks[i:])):
        return None
    if dtype == "float" and first == "FLOAT" and len(args) == 1 and args[0].isdigit():
        dtype = "double" if int(args[0]) > 24 else "float"
    if dtype in _CHAR_TYPES and charset == "binary":
        dtype = {"char": "binary", "varchar": "varbinary"}.get(dtype, dtype.replace("text", "blob"))
    column_type_text = dtype
    if args and dtype not in ("enum", "set"):
        column_type_text += "(" + ",".join(args) + ")"
    if unsigned:
        column_type_text += " unsigned"
    lt = logical_type(dtype, column_type_text, charset)
    if lt is None:
        return None
    return ColumnSchema(name, lt, nullable=not not_null, source_type=column_type_text)


def _explicit_null(toks: list[Token]) -> bool:
    """A bare `NULL` attribute (not `NOT NULL`, not `DEFAULT NULL`)."""
    for j, t in enumerate(toks):
        if _word(t) == "NULL" and (j == 0 or _word(toks[j - 1]) not in ("NOT", "DEFAULT")):
            return True
    return False


def position(toks: list[Token]) -> tuple[bool, str | None]:
    """(`FIRST`, `AFTER` column) at the end of a column definition."""
    if toks and _word(toks[-1]) == "FIRST":
        return True, None
    if len(toks) >= 2 and _word(toks[-2]) == "AFTER" and toks[-1].kind in ("w", "q"):
        return False, toks[-1].value
    return False, None
