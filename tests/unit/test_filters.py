"""Data filter: Amazon's documented semantics, the parser's errors, and str() round-trips."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeroetl.engine.filters import SYSTEM_SCHEMAS, DataFilter, Part, Rule, _part
from zeroetl.errors import ConfigError
from zeroetl.model import TableId


def inc(f: str, name: str) -> bool:
    db, _, table = name.partition("|") if "|" in name else name.partition(".")
    return DataFilter.parse(f).includes(TableId(db, table))


# (filter, table, included?) -- the examples of Amazon's "Data filtering for Aurora zero-ETL
# integrations" page first, then our own.
SEMANTICS = [
    (None, "any.thing", True),
    ("", "any.thing", True),
    ("   ", "any.thing", True),
    ("include: *.*", "any.thing", True),
    ("include: books.*", "books.x", True),
    ("include: books.*", "films.x", False),  # any rule -> implicit exclude: *.* first
    ("include: *.*, exclude: *.mystery", "books.mystery", False),
    ("include: *.*, exclude: *.mystery", "books.mystery2", True),
    ("include: books.stephen_king, include: books.carolyn_keene", "books.carolyn_keene", True),
    ("include: books.stephen_king, include: books.carolyn_keene", "books.other", False),
    ("include: books.*, exclude: books./.*mystery.*/", "books.a_mystery_b", False),
    ("include: books.*, exclude: books./.*mystery.*/", "books.thriller", True),
    ("include: books.*, exclude: books./mystery.*/", "books.mystery_x", False),
    ("include: books.*, exclude: books./mystery.*/", "books.x_mystery", True),  # anchored
    ("include: books.*, exclude: books./.*mystery/", "books.x_mystery", False),
    ("include: books.*, exclude: books./.*mystery/", "books.mystery_x", True),
    ("include: books./table_.*/, exclude: books.table_stephen_king", "books.table_movies", True),
    (
        "include: books./table_.*/, exclude: books.table_stephen_king",
        "books.table_stephen_king",
        False,
    ),
    ("include: books.stephenking, exclude: books.*", "books.stephenking", False),  # last wins
    ("exclude: books.*, include: books.stephenking", "books.stephenking", True),
    ("exclude: *.*, include: demodb.*", "demodb.sales", True),
    ("exclude: *.*, include: demodb.*", "other.sales", False),
    ("exclude: foodb.tbl", "foodb.other", False),  # a lone exclude excludes everything
    ("include: foodb.*, exclude: foodb.tbl, exclude: foodb./table_\\d+/", "foodb.table_12", False),
    ("include: foodb.*, exclude: foodb.tbl, exclude: foodb./table_\\d+/", "foodb.table_x", True),
    # case-sensitive
    ("include: Demo.*", "demo.t", False),
    ("include: Demo.*", "Demo.t", True),
    ("include: demo./T.*/", "demo.t1", False),
    # wildcards inside names, quoting
    ("include: sales_*.*", "sales_2024.t", True),
    ("include: sales_*.*", "sales.t", False),
    ("include: *_db.fact_*", "x_db.fact_sales", True),
    ("include: `my.db`.`a, b`", "my.db|a, b", True),
    ("include: `my.db`.*", "my.dbx|t", False),
    ("include: `we``ird`.*", "we`ird.t", True),
    ("include: 'q''s'.\"d\"\"q\"", "q's.d\"q", True),
    ("include: `lit*`.*", "literal.t", False),  # quoted * is literal
    ("include: `lit*`.*", "lit*.t", True),
    ("include: Ünï.表", "Ünï.表", True),
    # whole-name regex, regexes holding commas, dots, slashes and spaces
    ("include: /demo\\.(a|b)/", "demo.a", True),
    ("include: /demo\\.(a|b)/", "demo.c", False),
    ("include: /d.{1,3}\\.t/", "dxy.t", True),
    ("include: db./a\\/b/", "db.a/b", True),
    ("include: db./x y/", "db.x y", True),
    ("include: /[a-z]+/./[0-9]+/", "abc.123", True),
    ("include: /[a-z]+/./[0-9]+/", "abc.12x", False),
    # the console form: patterns without a keyword take the previous one
    ("include: mydb.mytable, mydb./table_\\d+/", "mydb.table_7", True),
    ("include: a.*, exclude: a.x, a.y", "a.y", False),
    ("INCLUDE : a.*", "a.t", True),
    ("include: a.*,", "a.t", True),
]


@pytest.mark.parametrize(("text", "table", "expected"), SEMANTICS)
def test_semantics(text: str | None, table: str, expected: bool) -> None:
    assert inc(text, table) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize("schema", [*sorted(SYSTEM_SCHEMAS), "MYSQL", "Information_Schema"])
@pytest.mark.parametrize("text", [None, "include: *.*", "include: mysql.*, include: sys.*"])
def test_system_schemas_never_included(schema: str, text: str | None) -> None:
    assert not DataFilter.parse(text).includes(TableId(schema, "user"))


ERRORS = [
    ("demodb.*", 1, "'include:' or 'exclude:'"),
    ("blacklist: a.b", 1, "'include' or 'exclude'"),
    ("include: demodb", 16, "'.' between database and table"),
    ("include: a.b exclude: c.d", 14, "',' or end of filter"),
    ("include: .b", 10, "a name"),
    ("include: a.", 12, "a name"),
    ("include: a./unterminated", 12, "closing '/'"),
    ("include: a.//", 12, "non-empty regular expression"),
    ("include: a./(/", 13, "bad regular expression"),
    ("include: a./x[/", 14, "bad regular expression"),
    ("include: `a.b", 10, "closing `"),
    ("include: ``.b", 10, "non-empty name"),
    ("include: a.b, , include: c.d", 15, "a name"),
    ("include: a.b.c", 13, "',' or end"),
    ("include a.b", 1, "'include:' or 'exclude:'"),
]


@pytest.mark.parametrize(("text", "pos", "expected"), ERRORS)
def test_errors_say_where_and_what(text: str, pos: int, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        DataFilter.parse(text)
    assert f"position {pos}:" in str(e.value)
    assert expected in str(e.value)


def test_canonical_text() -> None:
    f = DataFilter.parse("  INCLUDE:mydb.mytable ,mydb./table_\\d+/,exclude : `a b`.`c``d`")
    assert str(f) == "include: mydb.mytable, include: mydb./table_\\d+/, exclude: `a b`.`c``d`"
    assert str(DataFilter.parse(None)) == ""
    assert not DataFilter.parse("") and DataFilter.parse("include: *.*")


# -- round trips ------------------------------------------------------------------------------
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
globs = st.lists(st.text(st.sampled_from("ab_$1é-"), max_size=3), min_size=2, max_size=4).map(
    "*".join
)
regexes = st.one_of(
    names.map(lambda s: re.escape(s).replace("/", "\\/")),
    st.sampled_from(
        ["a,b", "x.y{1,3}", "table_\\d+", "(a|b)/?".replace("/", "\\/"), ".*", "a\\\\"]
    ),
)
parts = st.one_of(
    st.just(Part("any")),
    names.map(lambda s: Part("name", s)),
    globs.filter(lambda g: g != "*" and g.strip() == g).map(lambda g: _part("glob", g)),
    regexes.map(lambda r: _part("regex", r)),
)
rules = st.one_of(
    st.builds(Rule, st.booleans(), parts, parts),
    st.builds(Rule, st.booleans(), regexes.map(lambda r: _part("regex", r)), st.none()),
)
filters = st.lists(rules, max_size=6).map(lambda rs: DataFilter(tuple(rs)))


@given(filters)
def test_str_round_trips(f: DataFilter) -> None:
    text = str(f)
    back = DataFilter.parse(text)
    assert back == f
    assert str(back) == text


@given(filters, names, names)
def test_round_trip_keeps_meaning(f: DataFilter, db: str, table: str) -> None:
    t = TableId(db, table)
    assert DataFilter.parse(str(f)).includes(t) == f.includes(t)


@given(names, names)
def test_quoted_names_match_exactly(db: str, table: str) -> None:
    text = "include: " + str(Part("name", db)) + "." + str(Part("name", table))
    f = DataFilter.parse(text)
    assert f.includes(TableId(db, table)) or db.lower() in SYSTEM_SCHEMAS
    assert not f.includes(TableId(db + "x", table))


# -- bounded cost (a filter is evaluated for every table the binlog mentions) -----------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "glob", ["*" * 40 + "x", "a*" * 40 + "b", "*a" * 20 + "*" * 20, "*_*_*_*_*_*_*_*_*_*z"]
)
def test_many_stars_match_in_linear_time(glob: str) -> None:
    """A backtracking regex takes longer than the age of the universe on these (the test's
    timeout fails it); a glob matcher is linear."""
    f = DataFilter.parse(f"include: {glob}.{glob}")
    names = ["a" * n + "_" * (n % 5) for n in range(1, 64)]
    for db in names:
        for table in names[:8]:
            assert not f.includes(TableId(db, table))
    assert f.includes(TableId("x", "x")) is (glob == "*" * 40 + "x")


@pytest.mark.parametrize(
    ("glob", "name", "expected"),
    [
        ("a**b", "ab", True),
        ("a**b", "axxb", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "acb", False),
        ("*ab", "aab", True),
        ("*ab", "aba", False),
        ("ab*", "ab", True),
        ("a*a*a*a*b", "a" * 30, False),
        ("a*a*a*a*b", "a" * 30 + "b", True),
        ("sales_*", "sales_", True),
        ("sales_*", "sales", False),
        ("*", "", True),
        ("x*", "x\ny", True),  # * matches any character, newline included
    ],
)
def test_glob_semantics(glob: str, name: str, expected: bool) -> None:
    assert _part("glob", glob).matches(name) is expected


@pytest.mark.parametrize(
    "regex",
    [
        "(a+)+b",  # nested repetition: exponential
        "(a*)*",
        "(.*a){5}",
        "(a|aa)*b",  # alternation under repetition: exponential
        "(x)\\1",  # back-reference
        ".*a.*b.*c.*d",  # four repetitions in a row: n^4
        "a?b?c?d?",
    ],
)
def test_regexes_that_can_backtrack_without_end_are_refused(regex: str) -> None:
    with pytest.raises(ConfigError, match=r"backtrack|back-reference"):
        DataFilter.parse(f"include: db./{regex}/")


def test_filter_size_is_bounded() -> None:
    with pytest.raises(ConfigError, match="at most"):
        DataFilter.parse(", ".join(f"include: db.t{i}" for i in range(200)))
    with pytest.raises(ConfigError, match="at most"):
        DataFilter.parse("include: db." + "x" * 300)
    with pytest.raises(ConfigError, match="at most"):
        DataFilter.parse("include: " + "a" * 20_000 + ".b")
    DataFilter.parse(", ".join(f"include: db.t{i}" for i in range(100)))  # the limit itself


def test_each_table_is_decided_once() -> None:
    f = DataFilter.parse("include: db./t_[0-9]+/, exclude: db.t_9*")
    t = TableId("db", "t_12")
    assert f.includes(t) and f.includes(t)
    assert not f.includes(TableId("db", "t_99"))
    assert f.decided() == 2  # per-event cost afterwards: one dict lookup
