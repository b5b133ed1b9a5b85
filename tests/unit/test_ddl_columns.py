"""ADD COLUMN as the engine needs it: the column's type and position read from the statement,
and the best-effort names of a statement the classifier fails on."""

from __future__ import annotations

import pytest

from zeroetl.model import Kind, LogicalType, TableId
from zeroetl.sources.mysql.ddl import (
    AddColumn,
    AlterTable,
    Other,
    classify,
    schemas_named,
    tables_named,
)


def L(kind: Kind, p: int = 0, s: int = 0) -> LogicalType:
    return LogicalType(kind, p, s)


# Spellings (as written after the column name) -> the logical type; None: not known from the
# statement alone, the engine resyncs. tests/integration/test_ddl_types.py checks every
# non-None answer against what the server itself reports for the column.
SPELLINGS: list[tuple[str, LogicalType | None]] = [
    ("TINYINT", L(Kind.INT8)), ("tinyint(1) unsigned", L(Kind.UINT8)), ("BOOL", L(Kind.INT8)),
    ("BOOLEAN", L(Kind.INT8)), ("SMALLINT(6) ZEROFILL", L(Kind.UINT16)),
    ("MEDIUMINT", L(Kind.INT32)), ("MIDDLEINT UNSIGNED", L(Kind.UINT32)), ("INT", L(Kind.INT32)),
    ("INT(11) UNSIGNED", L(Kind.UINT32)), ("INTEGER SIGNED", L(Kind.INT32)),
    ("BIGINT", L(Kind.INT64)), ("BIGINT UNSIGNED", L(Kind.UINT64)), ("INT1", L(Kind.INT8)),
    ("INT2", L(Kind.INT16)), ("INT3", L(Kind.INT32)), ("INT4", L(Kind.INT32)),
    ("INT8", L(Kind.INT64)),
    ("DECIMAL", L(Kind.DECIMAL, 10, 0)), ("DECIMAL(5)", L(Kind.DECIMAL, 5, 0)),
    ("DECIMAL(12,3)", L(Kind.DECIMAL, 12, 3)), ("decimal(12, 3) unsigned", L(Kind.DECIMAL, 12, 3)),
    ("DECIMAL(50,10)", L(Kind.DECIMAL_TEXT, 50, 10)), ("DEC(9,2)", L(Kind.DECIMAL, 9, 2)),
    ("NUMERIC(10,4)", L(Kind.DECIMAL, 10, 4)), ("FIXED(7,1)", L(Kind.DECIMAL, 7, 1)),
    ("FLOAT", L(Kind.FLOAT32)), ("FLOAT(10)", L(Kind.FLOAT32)), ("FLOAT(30)", L(Kind.FLOAT64)),
    ("FLOAT(7,3)", L(Kind.FLOAT32)), ("FLOAT4", L(Kind.FLOAT32)), ("FLOAT8", L(Kind.FLOAT64)),
    ("DOUBLE", L(Kind.FLOAT64)), ("DOUBLE PRECISION", L(Kind.FLOAT64)),
    ("DOUBLE(10,2) UNSIGNED", L(Kind.FLOAT64)), ("BIT", L(Kind.UINT64)),
    ("BIT(12)", L(Kind.UINT64)),
    ("CHAR(5)", L(Kind.STRING)), ("CHARACTER(3)", L(Kind.STRING)), ("NCHAR(4)", L(Kind.STRING)),
    ("NATIONAL CHAR(2)", L(Kind.STRING)), ("VARCHAR(10)", L(Kind.STRING)),
    ("CHARACTER VARYING(20)", L(Kind.STRING)), ("CHAR VARYING(5)", L(Kind.STRING)),
    ("NVARCHAR(7)", L(Kind.STRING)), ("NATIONAL VARCHAR(8)", L(Kind.STRING)),
    ("NCHAR VARCHAR(9)", L(Kind.STRING)), ("NATIONAL CHARACTER VARYING(3)", L(Kind.STRING)),
    ("VARCHAR(10) CHARACTER SET latin1", L(Kind.STRING)),
    ("VARCHAR(10) CHARSET utf8mb4 COLLATE utf8mb4_bin", L(Kind.STRING)),
    ("VARCHAR(10) BINARY", L(Kind.STRING)), ("VARCHAR(10) CHARACTER SET binary", L(Kind.BINARY)),
    ("CHAR(4) CHARACTER SET 'binary'", L(Kind.BINARY)), ("CHAR(4) BYTE", L(Kind.BINARY)),
    ("CHAR(3) ASCII", L(Kind.STRING)), ("VARCHAR(5) UNICODE", L(Kind.STRING)),
    ("TEXT CHARACTER SET binary", L(Kind.BINARY)), ("TINYTEXT", L(Kind.STRING)),
    ("TEXT", L(Kind.STRING)), ("TEXT(100)", L(Kind.STRING)), ("MEDIUMTEXT", L(Kind.STRING)),
    ("LONGTEXT COLLATE utf8mb4_unicode_ci", L(Kind.STRING)), ("LONG", L(Kind.STRING)),
    ("LONG VARCHAR", L(Kind.STRING)), ("BINARY(4)", L(Kind.BINARY)),
    ("VARBINARY(12)", L(Kind.BINARY)), ("TINYBLOB", L(Kind.BINARY)), ("BLOB", L(Kind.BINARY)),
    ("BLOB(300)", L(Kind.BINARY)), ("MEDIUMBLOB", L(Kind.BINARY)), ("LONGBLOB", L(Kind.BINARY)),
    ("LONG VARBINARY", L(Kind.BINARY)), ("ENUM('a','b,c')", L(Kind.STRING)),
    ("SET('x', 'y') CHARACTER SET latin1", L(Kind.STRING)), ("DATE", L(Kind.DATE)),
    ("DATETIME", L(Kind.TIMESTAMP)), ("DATETIME(6)", L(Kind.TIMESTAMP)), ("TIME", L(Kind.TIME)),
    ("TIME(3)", L(Kind.TIME)), ("YEAR", L(Kind.INT16)), ("YEAR(4)", L(Kind.INT16)),
    ("TIMESTAMP(3) NULL", L(Kind.TIMESTAMPTZ)), ("TIMESTAMP NULL DEFAULT NULL", L(Kind.TIMESTAMPTZ)),
    ("GEOMETRY", L(Kind.BINARY)), ("POINT", L(Kind.BINARY)), ("LINESTRING", L(Kind.BINARY)),
    ("POLYGON", L(Kind.BINARY)), ("MULTIPOINT", L(Kind.BINARY)),
    ("GEOMETRYCOLLECTION", L(Kind.BINARY)),
    # Server settings decide these (REAL_AS_FLOAT, MariaDB's JSON alias of LONGTEXT,
    # explicit_defaults_for_timestamp), or we do not map them.
    ("REAL", None), ("JSON", None), ("TIMESTAMP", None), ("TIMESTAMP(6) DEFAULT NULL", None),
    ("UUID", None), ("INET6", None), ("`mytype`", None), ("NATIONAL TEXT", None),
]  # fmt: skip


def added(sql: str) -> AddColumn:
    (action,) = classify(sql, "db")
    assert isinstance(action, AlterTable)
    (op,) = action.ops
    assert isinstance(op, AddColumn)
    return op


@pytest.mark.parametrize(("spelling", "expected"), SPELLINGS, ids=[s for s, _ in SPELLINGS])
def test_type_of_added_column(spelling: str, expected: LogicalType | None) -> None:
    op = added(f"ALTER TABLE t ADD COLUMN c {spelling}")
    if expected is None:
        assert op.column is None
    else:
        assert op.column is not None and op.column.type == expected
        assert op.column.name == "c" and op.column.nullable


def test_position_of_added_column() -> None:
    assert added("ALTER TABLE t ADD c INT FIRST").first
    op = added("ALTER TABLE t ADD COLUMN `c` INT NULL COMMENT 'after x' AFTER `the id`")
    assert (op.first, op.after) == (False, "the id")
    op = added("ALTER TABLE t ADD c VARCHAR(3) DEFAULT 'FIRST'")
    assert (op.first, op.after) == (False, None)
    (action,) = classify("ALTER TABLE t ADD a INT AFTER id, ADD b INT FIRST, ADD c INT", "db")
    assert isinstance(action, AlterTable)
    assert [(o.name, o.first, o.after) for o in action.ops if isinstance(o, AddColumn)] == [
        ("a", False, "id"),
        ("b", True, None),
        ("c", False, None),
    ]


def test_not_null_and_defaults_still_count() -> None:
    op = added("ALTER TABLE t ADD c INT NOT NULL")
    assert op.not_null and op.column is not None and not op.column.nullable
    assert added("ALTER TABLE t ADD c INT DEFAULT 3").has_default
    assert added("ALTER TABLE t ADD IF NOT EXISTS c INT").if_not_exists


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("ADD PRIMARY KEY (id)", True),
        ("DROP PRIMARY KEY", True),
        ("ADD CONSTRAINT pk PRIMARY KEY (a, b)", True),
        ("DROP INDEX `PRIMARY` ON t", True),
        ("CONVERT TO CHARACTER SET binary", True),
        ("ADD INDEX i (a)", False),
        ("ADD UNIQUE KEY u (a)", False),
        ("ENGINE=InnoDB", False),
        ("ALTER COLUMN a SET DEFAULT 5", False),
        ("COMMENT 'primary'", False),
    ],
)
def test_changes_shape(text: str, shape: bool) -> None:
    assert Other(text).changes_shape is shape


def test_best_effort_names() -> None:
    db = "db"
    assert tables_named("RENAME TABLE a TO `x`.b", db) == (TableId(db, "a"), TableId("x", "b"))
    assert tables_named("ALTER TABLE ``", db) == (TableId(db, ""),)
    assert tables_named("\x00 garbage", db) == ()
    assert schemas_named("FROB `s 1`.t, u.v, w", db) == {db, "s 1", "u"}
    assert schemas_named("DROP DATABASE IF EXISTS `x`", "") == {"x"}
    assert schemas_named("ALTER SCHEMA y CHARSET latin1", db) == {db, "y"}
    assert schemas_named("FROB", "") == set()
