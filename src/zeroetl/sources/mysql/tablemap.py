"""TABLE_MAP events (with binlog_row_metadata=FULL optional metadata) -> TableMap.

A TableMap is everything the row decoder needs for one table at one binlog position: column types
and their metadata, nullability, names, signedness, charsets, ENUM/SET values and the primary key.
`TableMap.table_schema()` maps it to logical types exactly as `types.py` maps INFORMATION_SCHEMA.
"""

from __future__ import annotations

from dataclasses import dataclass

from zeroetl.errors import BinlogFault, DecodeError
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema
from zeroetl.sources.mysql import coltypes as T
from zeroetl.sources.mysql.types import decimal_type

# Optional metadata field types (MySQL's Table_map_log_event::Optional_metadata_field_type).
_SIGNEDNESS = 1
_DEFAULT_CHARSET = 2
_COLUMN_CHARSET = 3
_COLUMN_NAME = 4
_SET_STR_VALUE = 5
_ENUM_STR_VALUE = 6
_GEOMETRY_TYPE = 7
_SIMPLE_PRIMARY_KEY = 8
_PRIMARY_KEY_WITH_PREFIX = 9
_ENUM_AND_SET_DEFAULT_CHARSET = 10
_ENUM_AND_SET_COLUMN_CHARSET = 11
_COLUMN_VISIBILITY = 12

_INT_KINDS = {
    T.TINY: (Kind.INT8, Kind.UINT8, "tinyint"),
    T.SHORT: (Kind.INT16, Kind.UINT16, "smallint"),
    T.INT24: (Kind.INT32, Kind.UINT32, "mediumint"),
    T.LONG: (Kind.INT32, Kind.UINT32, "int"),
    T.LONGLONG: (Kind.INT64, Kind.UINT64, "bigint"),
}
_SIMPLE_KINDS = {
    T.FLOAT: Kind.FLOAT32, T.DOUBLE: Kind.FLOAT64, T.BIT: Kind.UINT64, T.DATE: Kind.DATE,
    T.NEWDATE: Kind.DATE, T.DATETIME: Kind.TIMESTAMP, T.DATETIME2: Kind.TIMESTAMP,
    T.TIMESTAMP: Kind.TIMESTAMPTZ, T.TIMESTAMP2: Kind.TIMESTAMPTZ, T.TIME: Kind.TIME,
    T.TIME2: Kind.TIME, T.YEAR: Kind.INT16, T.JSON: Kind.JSON, T.ENUM: Kind.STRING,
    T.SET: Kind.STRING, T.GEOMETRY: Kind.BINARY,
}  # fmt: skip
_BLOB_NAMES = {1: "tiny", 2: "", 3: "medium", 4: "long"}


class _Reader:
    """Cursor over a bytes object with MySQL's packed (length-encoded) integers."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise DecodeError("TABLE_MAP event is truncated")
        b = self.buf[self.pos : self.pos + n]
        self.pos += n
        return b

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def packed(self) -> int:
        first = self.uint(1)
        if first < 251:
            return first
        if first == 252:
            return self.uint(2)
        if first == 253:
            return self.uint(3)
        if first == 254:
            return self.uint(8)
        raise DecodeError(f"bad packed integer prefix {first} in TABLE_MAP event")

    def packed_bytes(self) -> bytes:
        return self.take(self.packed())


@dataclass(frozen=True)
class TableMap:
    table_id: int
    schema: str
    table: str
    column_types: tuple[int, ...]  # MYSQL_TYPE_* (the real type for STRING-typed ENUM/SET)
    # Per type: VARCHAR max bytes; CHAR/BINARY max bytes; ENUM/SET storage bytes; BLOB/JSON/
    # GEOMETRY length-prefix bytes; FLOAT/DOUBLE size; NEWDECIMAL precision<<8|scale;
    # BIT (whole bytes)<<8|(extra bits); DATETIME2/TIMESTAMP2/TIME2 fsp; others 0.
    column_meta: tuple[int, ...]
    nullable: tuple[bool, ...]
    column_names: tuple[str, ...]
    primary_key: tuple[int, ...]
    unsigned: tuple[bool, ...]
    collations: tuple[int | None, ...]  # collation id of character and ENUM/SET columns
    enum_values: tuple[tuple[str, ...] | None, ...]  # ENUM or SET member names, in order
    geometry_types: tuple[int | None, ...]

    def table_schema(self) -> TableSchema:
        cols = tuple(self._column(i) for i in range(len(self.column_types)))
        pk = tuple(self.column_names[i] for i in self.primary_key)
        return TableSchema(TableId(self.schema, self.table), cols, pk)

    def charset(self, i: int) -> str | None:
        coll = self.collations[i]
        return None if coll is None else T.COLLATIONS.get(coll)

    def _column(self, i: int) -> ColumnSchema:
        t, meta, name = self.column_types[i], self.column_meta[i], self.column_names[i]
        lt: LogicalType | None = None
        why = ""
        source = T.TYPE_NAMES.get(t, f"type {t}")
        if t in _INT_KINDS:
            signed, unsigned, source = _INT_KINDS[t]
            lt = LogicalType(unsigned if self.unsigned[i] else signed)
        elif t == T.NEWDECIMAL:
            lt = decimal_type(meta >> 8, meta & 0xFF)
            source = f"decimal({meta >> 8},{meta & 0xFF})"
        elif t in _SIMPLE_KINDS:
            lt = LogicalType(_SIMPLE_KINDS[t])
        elif t in T.CHARACTER_TYPES:
            charset = self.charset(i)
            if t in T.BLOB_TYPES:
                kind = "blob" if charset == "binary" else "text"
                source = _BLOB_NAMES.get(meta, "") + kind
            elif charset == "binary":
                source = "varbinary" if t != T.STRING else "binary"
            if charset == "binary":
                lt = LogicalType(Kind.BINARY)
            elif charset in T.CODECS:
                lt = LogicalType(Kind.STRING)
            else:
                why = f"unsupported character set {charset or self.collations[i]}"
        else:
            why = f"unsupported type {source}"
        if lt is None and not why:
            why = f"unsupported type {source}"
        if self.unsigned[i] and t in T.NUMERIC_TYPES:
            source += " unsigned"
        return ColumnSchema(name, lt, self.nullable[i], source, why)


def rows_table_id(body: memoryview) -> int:
    """The table id of a rows event (first 6 bytes of its post-header)."""
    return int.from_bytes(body[:6], "little")


def table_map_id(body: memoryview) -> TableId:
    """The database and table a TABLE_MAP names (its fixed part, present whatever the metadata)."""
    r = _Reader(bytes(body[: 8 + 256 + 2 + 256]), 8)
    schema = r.take(r.uint(1)).decode("utf-8", "replace")
    r.take(1)
    return TableId(schema, r.take(r.uint(1)).decode("utf-8", "replace"))


def parse_table_map(body: memoryview, flavor: str | None = None) -> TableMap:
    """Parse a TABLE_MAP body. `flavor` ("mysql"/"mariadb") settles the one place where the two
    servers' optional metadata differ (MariaDB gives GEOMETRY columns a charset); when None it is
    inferred from the charset lists themselves."""
    r = _Reader(bytes(body))
    table_id = r.uint(6)
    r.uint(2)  # flags
    schema = r.take(r.uint(1)).decode("utf-8", "replace")
    r.take(1)
    table = r.take(r.uint(1)).decode("utf-8", "replace")
    r.take(1)
    n = r.packed()
    raw_types = r.take(n)
    meta_block = _Reader(r.packed_bytes())
    types: list[int] = []
    metas: list[int] = []
    for t in raw_types:
        t, meta = _read_meta(t, meta_block)
        types.append(t)
        metas.append(meta)
    null_bits = int.from_bytes(r.take((n + 7) // 8), "little")
    nullable = tuple(bool(null_bits >> i & 1) for i in range(n))
    opt = _parse_optional(r, types, n, flavor)
    if opt.names is None:
        raise BinlogFault(
            f"TABLE_MAP for {schema}.{table} has no column names: binlog_row_metadata=FULL is "
            "required",
            hint="SET GLOBAL binlog_row_metadata=FULL (and in the server config), then resync",
            setting="binlog_row_metadata",
        )
    return TableMap(
        table_id=table_id,
        schema=schema,
        table=table,
        column_types=tuple(types),
        column_meta=tuple(metas),
        nullable=nullable,
        column_names=tuple(opt.names),
        primary_key=tuple(opt.primary_key),
        unsigned=tuple(opt.unsigned),
        collations=tuple(opt.collations),
        enum_values=tuple(opt.enum_values),
        geometry_types=tuple(opt.geometry),
    )


def _read_meta(t: int, m: _Reader) -> tuple[int, int]:
    """One column's type metadata (MySQL's table_def constructor), normalised per TableMap."""
    if t in (T.FLOAT, T.DOUBLE, T.TIMESTAMP2, T.DATETIME2, T.TIME2, T.JSON, T.GEOMETRY):
        return t, m.uint(1)
    if t in T.BLOB_TYPES:
        return t, m.uint(1)
    if t in (T.VARCHAR, T.VAR_STRING):
        return T.VARCHAR, m.uint(2)
    if t == T.BIT:
        bits, whole = m.uint(1), m.uint(1)
        return t, whole << 8 | bits
    if t == T.NEWDECIMAL:
        precision, scale = m.uint(1), m.uint(1)
        return t, precision << 8 | scale
    if t in (T.STRING, T.ENUM, T.SET):
        b0, b1 = m.uint(1), m.uint(1)
        if b0 in (T.ENUM, T.SET):
            return b0, b1
        if (b0 & 0x30) != 0x30:  # CHAR longer than 255 bytes: high length bits hide in b0
            return T.STRING, (((b0 & 0x30) ^ 0x30) << 4) | b1
        return T.STRING, b1
    return t, 0


@dataclass
class _Optional:
    names: list[str] | None
    primary_key: list[int]
    unsigned: list[bool]
    collations: list[int | None]
    enum_values: list[tuple[str, ...] | None]
    geometry: list[int | None]


def _character_columns(
    types: list[int], fields: list[tuple[int, _Reader]], flavor: str | None
) -> list[int]:
    """Columns the charset fields list, in order. MariaDB counts GEOMETRY among them (with the
    binary charset), MySQL does not; without a flavor, tell them apart by the lists' shape."""
    plain = [i for i, t in enumerate(types) if t in T.CHARACTER_TYPES]
    with_geo = [i for i, t in enumerate(types) if t in T.CHARACTER_TYPES or t == T.GEOMETRY]
    if flavor is not None or len(plain) == len(with_geo):
        return with_geo if flavor == "mariadb" else plain
    if any(kind == _COLUMN_VISIBILITY for kind, _ in fields):
        return plain  # only MySQL (8.0.23+) sends column visibility
    geo_idx = {k for k, i in enumerate(with_geo) if types[i] == T.GEOMETRY}
    for kind, f in fields:
        f = _Reader(f.buf)
        if kind == _COLUMN_CHARSET:
            count = 0
            while f.pos < len(f.buf):
                f.packed()
                count += 1
            return with_geo if count == len(with_geo) else plain
        if kind == _DEFAULT_CHARSET:
            default = f.packed()
            pairs = {}
            while f.pos < len(f.buf):
                k = f.packed()
                pairs[k] = f.packed()
            if any(k >= len(plain) for k in pairs):
                return with_geo
            if default != T.BINARY_COLLATION:
                binary_at = {k for k, c in pairs.items() if c == T.BINARY_COLLATION}
                return with_geo if geo_idx <= binary_at else plain
    return plain


def _parse_optional(r: _Reader, types: list[int], n: int, flavor: str | None) -> _Optional:
    o = _Optional(None, [], [False] * n, [None] * n, [None] * n, [None] * n)
    # YEAR takes a signedness bit too (MariaDB; mysql-replication assumes the same of MySQL).
    numeric = [i for i, t in enumerate(types) if t in T.NUMERIC_TYPES or t == T.YEAR]
    fields: list[tuple[int, _Reader]] = []
    while r.pos < len(r.buf):
        kind = r.uint(1)
        fields.append((kind, _Reader(r.packed_bytes())))
    character = _character_columns(types, fields, flavor)
    enum_set = [i for i, t in enumerate(types) if t in (T.ENUM, T.SET)]
    raw_values: dict[int, list[bytes]] = {}
    for kind, f in fields:
        if kind == _SIGNEDNESS:
            bits = int.from_bytes(f.buf, "big")
            width = len(f.buf) * 8
            for k, i in enumerate(numeric[:width]):
                o.unsigned[i] = bool(bits >> (width - 1 - k) & 1)
        elif kind in (_DEFAULT_CHARSET, _ENUM_AND_SET_DEFAULT_CHARSET):
            cols = character if kind == _DEFAULT_CHARSET else enum_set
            default = f.packed()
            for i in cols:
                o.collations[i] = default
            while f.pos < len(f.buf):
                k = f.packed()
                o.collations[cols[k]] = f.packed()
        elif kind in (_COLUMN_CHARSET, _ENUM_AND_SET_COLUMN_CHARSET):
            cols = character if kind == _COLUMN_CHARSET else enum_set
            for i in cols:
                o.collations[i] = f.packed()
        elif kind == _COLUMN_NAME:
            o.names = [f.packed_bytes().decode("utf-8", "replace") for _ in range(n)]
        elif kind in (_SET_STR_VALUE, _ENUM_STR_VALUE):
            want = T.SET if kind == _SET_STR_VALUE else T.ENUM
            for i in (i for i, t in enumerate(types) if t == want):
                raw_values[i] = [f.packed_bytes() for _ in range(f.packed())]
        elif kind == _GEOMETRY_TYPE:
            for i in (i for i, t in enumerate(types) if t == T.GEOMETRY):
                o.geometry[i] = f.packed()
        elif kind == _SIMPLE_PRIMARY_KEY:
            while f.pos < len(f.buf):
                o.primary_key.append(f.packed())
        elif kind == _PRIMARY_KEY_WITH_PREFIX:
            while f.pos < len(f.buf):
                o.primary_key.append(f.packed())
                f.packed()  # prefix length: the key is still that column
        # Unknown fields (e.g. MySQL's COLUMN_VISIBILITY) are skipped by their length.
    for i, values in raw_values.items():
        # Member names are in the column's charset (ENUM_AND_SET_*_CHARSET), read after them.
        codec = T.CODECS.get(T.COLLATIONS.get(o.collations[i] or 0, ""), "utf-8")
        dec = T.decoder_for(codec)
        o.enum_values[i] = tuple(dec(v) for v in values)
    return o
