"""Statement splitting, interception of session statements, and the pg_catalog rewrites.

Text-level rewrites run on code only (never inside strings, quoted identifiers, comments or
dollar quotes): `pg_catalog.` qualifiers go (the emulation objects are on the search path, see
catalog.py), `OPERATOR(pg_catalog.~)` becomes `~`, `COLLATE pg_catalog.default` disappears, and
GETDATE()/SYSDATE become UTC macros. AST rewrites then turn regclass/regtype/regnamespace/oid
casts into lookups and name result columns the way PostgreSQL does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


def segments(sql: str) -> Iterator[tuple[bool, str]]:
    """(is_code, text) pieces of `sql`; quotes, comments and dollar quotes are not code."""
    i, n, start = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        end = -1
        if ch in "'\"":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                if ch == "'" and sql[j] == "\\" and i > 0 and sql[i - 1] in "eE":
                    j += 2
                    continue
                j += 1
            end = min(j + 1, n)
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            end = n if j < 0 else j
        elif sql.startswith("/*", i):
            depth, j = 0, i
            while j < n:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                    if depth == 0:
                        break
                else:
                    j += 1
            end = j
        elif ch == "$" and (m := _DOLLAR.match(sql, i)) and not (i > 0 and sql[i - 1].isalnum()):
            j = sql.find(m.group(0), m.end())
            end = n if j < 0 else j + len(m.group(0))
        if end < 0:
            i += 1
            continue
        if start < i:
            yield True, sql[start:i]
        yield False, sql[i:end]
        i = start = end
    if start < n:
        yield True, sql[start:]


def split(sql: str) -> list[str]:
    """Split a simple-query string into statements (empty ones dropped)."""
    out: list[str] = []
    current: list[str] = []
    for is_code, text in segments(sql):
        if not is_code:
            current.append(text)
            continue
        parts = text.split(";")
        for k, part in enumerate(parts):
            current.append(part)
            if k < len(parts) - 1:
                out.append("".join(current))
                current = []
    out.append("".join(current))
    return [s.strip() for s in out if strip_comments(s).strip()]


def strip_comments(sql: str) -> str:
    return "".join(
        t if code or not t.startswith(("--", "/*")) else " " for code, t in segments(sql)
    )


_CODE_RULES = [
    (re.compile(r"OPERATOR\s*\(\s*(?:pg_catalog\s*\.\s*)?([~!<>=*+\-/@#%^&|`?]+)\s*\)", re.I), r" \1 "),
    (re.compile(r"COLLATE\s+pg_catalog\s*\.\s*(?:\"default\"|default|\"C\"|C)\b", re.I), " "),
    (re.compile(r"\bpg_catalog\s*\.\s*", re.I), ""),
    (re.compile(r"\bgetdate\s*\(\s*\)", re.I), "zeroetl_getdate()"),
    (re.compile(r"\bsysdate\b(?!\s*\()", re.I), "zeroetl_sysdate()"),
]  # fmt: skip


def normalize(sql: str) -> str:
    out: list[str] = []
    drop_dot = False
    for is_code, text in segments(sql):
        if is_code:
            if drop_dot:
                text = re.sub(r"^\s*\.\s*", "", text)
            for rx, repl in _CODE_RULES:
                text = rx.sub(repl, text)
        drop_dot = not is_code and text.lower() == '"pg_catalog"'
        out.append("" if drop_dot else text)
    return "".join(out)


# --- session statements --------------------------------------------------------------------


@dataclass(frozen=True)
class Intercepted:
    kind: str  # begin | commit | rollback | savepoint | release | rollback_to | set | reset |
    #            show | discard | noop | create_db | alter_db | drop_db
    name: str = ""
    value: str = ""
    tag: str = ""
    scope: str = ""  # SET: SESSION, LOCAL, GLOBAL or VARIABLE as written ("" when none)


_SET = re.compile(
    r"^SET\s+(?:(SESSION|LOCAL|GLOBAL|VARIABLE)\s+)?(?!TRANSACTION\b|SESSION\s+CHARACTERISTICS\b)"
    r"([\w.\"]+)\s*(?:=|\bTO\b)\s*(.*?)\s*$",
    re.I | re.S,
)
_SET_TZ = re.compile(r"^SET\s+(?:SESSION\s+|LOCAL\s+)?TIME\s+ZONE\s+(.*?)\s*$", re.I | re.S)


def intercept(sql: str) -> Intercepted | None:
    text = strip_comments(sql).strip().rstrip(";").strip()
    words = text.split(None, 3)
    if not words:
        return Intercepted("noop", tag="")
    first = words[0].upper()
    second = words[1].upper() if len(words) > 1 else ""
    if first in ("BEGIN", "START"):
        return Intercepted("begin", tag="BEGIN")
    if first in ("COMMIT", "END"):
        return Intercepted("commit", tag="COMMIT")
    if first in ("ROLLBACK", "ABORT"):
        if second == "TO":
            return Intercepted("rollback_to", tag="ROLLBACK")
        return Intercepted("rollback", tag="ROLLBACK")
    if first == "SAVEPOINT":
        return Intercepted("savepoint", tag="SAVEPOINT")
    if first == "RELEASE":
        return Intercepted("release", tag="RELEASE")
    if first == "SHOW":
        rest = text[4:].strip()
        return Intercepted("show", name=_unquote(rest).lower(), tag="SHOW")
    if first == "RESET":
        return Intercepted("reset", name=_unquote(text[5:].strip()).lower(), tag="RESET")
    if first == "DISCARD":
        return Intercepted("discard", tag="DISCARD " + second)
    if first == "SET":
        if m := _SET_TZ.match(text):
            return Intercepted("set", name="timezone", value=_unquote(m.group(1)), tag="SET")
        if m := _SET.match(text):
            scope = (m.group(1) or "").upper()
            name = _unquote(m.group(2)).lower()
            return Intercepted("set", name=name, value=m.group(3), tag="SET", scope=scope)
        return Intercepted("noop", tag="SET")  # SET TRANSACTION ... and friends: accepted, no-op
    if first in ("DEALLOCATE", "CLOSE", "LISTEN", "UNLISTEN", "NOTIFY"):
        return Intercepted("noop", tag=first + (" ALL" if second == "ALL" else ""))
    if first in ("CREATE", "ALTER", "DROP") and second == "DATABASE":
        return Intercepted({"CREATE": "create_db", "ALTER": "alter_db", "DROP": "drop_db"}[first])
    return None


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1].replace(v[0] * 2, v[0])
    return v


# --- AST rewrites --------------------------------------------------------------------------

_TYPE_NAMES = {
    "regclass": "regclass", "regtype": "regtype", "regnamespace": "regnamespace", "regproc":
    "oid", "regprocedure": "oid", "oid": "oid", "name": "VARCHAR", "char": "VARCHAR",
    "bpchar": "VARCHAR", "text": "VARCHAR", "int2": "SMALLINT", "int4": "INTEGER",
    "int8": "BIGINT", "float4": "FLOAT", "float8": "DOUBLE", "bool": "BOOLEAN",
    "xid": "BIGINT", "regrole": "VARCHAR", "aclitem": "VARCHAR",
}  # fmt: skip


def _type_name(to: exp.DataType) -> str:
    if to.this == exp.DataType.Type.USERDEFINED:
        kind = to.args.get("kind")
        return (kind.name if isinstance(kind, exp.Dot) else str(kind)).strip('"').lower()
    if isinstance(to, exp.ObjectIdentifier):
        return str(to.this).lower()
    if to.this == exp.DataType.Type.NAME:
        return "name"
    return ""


def _is_lookup_operand(node: exp.Expression) -> bool:
    """Names (strings, parameters, function results) are looked up; columns are oids."""
    return not isinstance(node, exp.Column | exp.Cast)


def pg_rewrite(
    tree: exp.Expression, *, database: str, user: str, schemas: list[str] | None = None
) -> exp.Expression:
    """`schemas`: the session's search path as the user sees it (existing schemas, `public` by
    that name); current_schema() and current_schemas() answer from it, never DuckDB's own path
    (which holds the catalog emulation's internal schema)."""
    for cast in list(tree.find_all(exp.Cast)):
        to = cast.args.get("to")
        if to is None:
            continue
        name = _type_name(to)
        if to.this == exp.DataType.Type.ARRAY and to.expressions:
            inner = _type_name(to.expressions[0])
            if inner in _TYPE_NAMES:
                to.set("expressions", [exp.DataType.build(_TYPE_NAMES[inner])])
            continue
        if name not in _TYPE_NAMES:
            continue
        arg = cast.this
        target = _TYPE_NAMES[name]
        if target == "regclass":
            lookup = "zeroetl_regclass_oid" if _is_lookup_operand(arg) else "zeroetl_regclass_name"
            cast.replace(exp.Anonymous(this=lookup, expressions=[arg.copy()]))
        elif target == "regtype":
            if _is_lookup_operand(arg):
                new: exp.Expression = exp.Anonymous(
                    this="zeroetl_regtype_oid", expressions=[arg.copy()]
                )
            else:
                new = exp.Anonymous(this="format_type", expressions=[arg.copy(), exp.null()])
            cast.replace(new)
        elif target == "regnamespace":
            cast.replace(exp.Anonymous(this="zeroetl_regnamespace_name", expressions=[arg.copy()]))
        elif target == "oid":
            cast.set("to", exp.DataType.build("BIGINT"))
        else:
            cast.set("to", exp.DataType.build(target))
    for fn in list(tree.find_all(exp.Anonymous)):
        if str(fn.this).lower() in ("json_build_object", "jsonb_build_object"):
            args = [
                exp.cast(a.copy(), exp.DataType.Type.VARCHAR) if i % 2 == 0 else a.copy()
                for i, a in enumerate(fn.expressions)
            ]
            fn.replace(exp.Anonymous(this="json_object", expressions=args))
    for user_fn in list(tree.find_all(exp.CurrentUser, exp.SessionUser)):
        user_fn.replace(exp.Literal.string(user))
    for node in list(tree.find_all(exp.Anonymous, exp.Column, exp.Func)):
        nm = node.name.lower() if isinstance(node, exp.Column) else _fname(node)
        if nm == "current_database" and not isinstance(node, exp.Column):
            node.replace(exp.Literal.string(database))
        elif schemas is not None and nm in ("current_schema", "current_schemas"):
            if isinstance(node, exp.Column) and (node.table or nm == "current_schemas"):
                continue
            node.replace(_schemas_value(node, nm, schemas))
        elif (
            nm in ("current_user", "session_user", "user")
            and isinstance(node, exp.Column)
            and not node.table
        ):
            node.replace(exp.Literal.string(user))
    return tree


def _schemas_value(node: exp.Expr, name: str, schemas: list[str]) -> exp.Expr:
    if name == "current_schema":
        first = exp.Literal.string(schemas[0]) if schemas else exp.null()
        return exp.cast(first, exp.DataType.Type.VARCHAR)
    if isinstance(node, exp.Anonymous):
        args = list(node.expressions)
    else:
        args = [a for a in (node.args.get("this"),) if a is not None]
    if len(args) != 1:
        return node.copy()  # DuckDB says what is wrong with the call
    implicit = exp.Array(expressions=[exp.Literal.string(s) for s in ["pg_catalog", *schemas]])
    explicit = exp.Array(expressions=[exp.Literal.string(s) for s in schemas])
    varchar_list = exp.DataType.build("VARCHAR[]")
    return exp.Case(
        ifs=[exp.If(this=args[0].copy(), true=exp.cast(implicit, varchar_list))],
        default=exp.cast(explicit, varchar_list),
    )


def _fname(node: object) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return ""


def name_columns(tree: exp.Expression) -> None:
    """Alias unnamed top-level select items as PostgreSQL names them (`count`, `?column?`)."""
    select = tree
    while isinstance(select, exp.Union | exp.Subquery):
        select = select.this
    if not isinstance(select, exp.Select):
        return
    items = []
    for item in select.expressions:
        if isinstance(item, exp.Alias | exp.Column | exp.Star) or item.find(exp.Star) is item:
            items.append(item)
            continue
        if isinstance(item, exp.Cast) and isinstance(item.this, exp.Column):
            items.append(exp.alias_(item, item.this.name, quoted=True))
            continue
        if isinstance(item, exp.Func) and not isinstance(item, exp.Cast):
            name = _fname(item)
            if isinstance(item, exp.Count):
                name = "count"
            items.append(exp.alias_(item, name or "?column?", quoted=True))
            continue
        items.append(exp.alias_(item, "?column?", quoted=True))
    select.set("expressions", items)
