"""A small MySQL tokenizer for DDL: identifiers (backquoted, doubled quotes, unicode),
strings, comments (`/* */`, `-- `, `#`) and executable comments (`/*!NNNNN ... */`,
`/*M!NNNNNN ... */`, whose content is read as code). Used by `ddl.classify`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    """kind: "w" unquoted word (keyword, name or number), "q" quoted name, "s" string,
    "p" punctuation. `value` is the name a "w"/"q" token denotes (quotes removed, `` undoubled)."""

    kind: str
    text: str
    value: str
    start: int
    end: int


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c in "_$" or ord(c) >= 0x80


def tokenize(
    sql: str, *, ansi_quotes: bool = False, no_backslash_escapes: bool = False
) -> list[Token]:
    """MySQL tokens: comments dropped, except executable ones (`/*!NNNNN ...*/`, MariaDB
    `/*M!NNNNNN ...*/`) whose content the server ran and so are read as code."""
    out: list[Token] = []
    n = len(sql)
    i = 0
    in_exec = False
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif in_exec and sql.startswith("*/", i):
            in_exec = False
            i += 2
        elif sql.startswith("/*", i):
            j = i + 2
            if sql.startswith("!", j) or sql.startswith("M!", j):
                j += 1 if sql[j] == "!" else 2
                k = j
                while k < n and k - j < 6 and sql[k].isdigit():
                    k += 1
                in_exec = True
                i = k
            else:
                end = sql.find("*/", j)
                i = n if end < 0 else end + 2
        elif c == "#" or (sql.startswith("--", i) and (i + 2 >= n or sql[i + 2] <= " ")):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "`" or (c == '"' and ansi_quotes):
            j, value = _quoted(sql, i, c, backslash=False)
            out.append(Token("q", sql[i:j], value, i, j))
            i = j
        elif c in "'\"":
            j, value = _quoted(sql, i, c, backslash=not no_backslash_escapes)
            out.append(Token("s", sql[i:j], value, i, j))
            i = j
        elif _is_word_char(c):
            j = i + 1
            while j < n and _is_word_char(sql[j]):
                j += 1
            out.append(Token("w", sql[i:j], sql[i:j], i, j))
            i = j
        else:
            out.append(Token("p", c, c, i, i + 1))
            i += 1
    return out


def _quoted(sql: str, i: int, q: str, *, backslash: bool) -> tuple[int, str]:
    """End offset and content of the quoted token at i (doubled quote = one quote)."""
    parts: list[str] = []
    j = i + 1
    n = len(sql)
    while j < n:
        c = sql[j]
        if backslash and c == "\\" and j + 1 < n:
            parts.append(sql[j : j + 2])
            j += 2
        elif c == q:
            if j + 1 < n and sql[j + 1] == q:
                parts.append(q)
                j += 2
            else:
                return j + 1, "".join(parts)
        else:
            parts.append(c)
            j += 1
    return n, "".join(parts)  # unterminated: take the rest


def split_statements(tokens: list[Token]) -> list[list[Token]]:
    out: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.kind == "p" and tok.text == ";":
            out.append([])
        else:
            out[-1].append(tok)
    return [s for s in out if s]
