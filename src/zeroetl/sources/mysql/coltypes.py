"""Binlog column type codes, collation ids and charset codecs (private to the row decoder).

Kept here rather than shared with the protocol reader on purpose: the decoder depends on nothing
but the bytes of TABLE_MAP and rows events.
"""

from __future__ import annotations

import codecs

# MYSQL_TYPE_* codes as they appear in TABLE_MAP column types (include/field_types.h).
DECIMAL = 0
TINY = 1
SHORT = 2
LONG = 3
FLOAT = 4
DOUBLE = 5
NULL = 6
TIMESTAMP = 7
LONGLONG = 8
INT24 = 9
DATE = 10
TIME = 11
DATETIME = 12
YEAR = 13
NEWDATE = 14
VARCHAR = 15
BIT = 16
TIMESTAMP2 = 17
DATETIME2 = 18
TIME2 = 19
TYPED_ARRAY = 20
VECTOR = 242
JSON = 245
NEWDECIMAL = 246
ENUM = 247
SET = 248
TINY_BLOB = 249
MEDIUM_BLOB = 250
LONG_BLOB = 251
BLOB = 252
VAR_STRING = 253
STRING = 254
GEOMETRY = 255

NUMERIC_TYPES = frozenset({TINY, SHORT, INT24, LONG, LONGLONG, FLOAT, DOUBLE, NEWDECIMAL, DECIMAL})
# Types whose columns get a charset in the optional metadata (MySQL's is_character_type(), on
# the real type: ENUM/SET have their own charset lists, GEOMETRY and MySQL JSON have none).
CHARACTER_TYPES = frozenset({STRING, VAR_STRING, VARCHAR, BLOB, TINY_BLOB, MEDIUM_BLOB, LONG_BLOB})
BLOB_TYPES = frozenset({BLOB, TINY_BLOB, MEDIUM_BLOB, LONG_BLOB})

TYPE_NAMES = {
    DECIMAL: "decimal (pre-5.0)", TINY: "tinyint", SHORT: "smallint", LONG: "int", FLOAT: "float",
    DOUBLE: "double", NULL: "null", TIMESTAMP: "timestamp (pre-5.6)", LONGLONG: "bigint",
    INT24: "mediumint", DATE: "date", TIME: "time (pre-5.6)", DATETIME: "datetime (pre-5.6)",
    YEAR: "year", NEWDATE: "newdate", VARCHAR: "varchar", BIT: "bit", TIMESTAMP2: "timestamp",
    DATETIME2: "datetime", TIME2: "time", TYPED_ARRAY: "typed array", VECTOR: "vector",
    JSON: "json", NEWDECIMAL: "decimal", ENUM: "enum", SET: "set", TINY_BLOB: "tinyblob",
    MEDIUM_BLOB: "mediumblob", LONG_BLOB: "longblob", BLOB: "blob", VAR_STRING: "varchar",
    STRING: "char", GEOMETRY: "geometry",
}  # fmt: skip

BINARY_COLLATION = 63

# Collation id -> charset. MariaDB 10.11's full list (incl. the UCA-14 ids >= 2048) plus the ids
# only MySQL 8 uses (utf8mb4_0900_*, gb18030, utf8mb3_tolower_ci, utf8mb3_general_mysql500_ci).
_COLLATION_RANGES: dict[str, tuple[int | tuple[int, int], ...]] = {
    "armscii8": (32, 64, 1056, 1088),
    "ascii": (11, 65, 1035, 1089),
    "big5": (1, 84, 1025, 1108),
    "binary": (63,),
    "cp1250": (26, 34, 44, 66, 99, 1050, 1090),
    "cp1251": (14, 23, (50, 52), (1074, 1075)),
    "cp1256": (57, 67, 1081, 1091),
    "cp1257": (29, (58, 59), (1082, 1083)),
    "cp850": (4, 80, 1028, 1104),
    "cp852": (40, 81, 1064, 1105),
    "cp866": (36, 68, 1060, 1092),
    "cp932": ((95, 96), (1119, 1120)),
    "dec8": (3, 69, 1027, 1093),
    "eucjpms": ((97, 98), (1121, 1122)),
    "euckr": (19, 85, 1043, 1109),
    "gb18030": ((248, 250),),
    "gb2312": (24, 86, 1048, 1110),
    "gbk": (28, 87, 1052, 1111),
    "geostd8": ((92, 93), (1116, 1117)),
    "greek": (25, 70, 1049, 1094),
    "hebrew": (16, 71, 1040, 1095),
    "hp8": (6, 72, 1030, 1096),
    "keybcs2": (37, 73, 1061, 1097),
    "koi8r": (7, 74, 1031, 1098),
    "koi8u": (22, 75, 1046, 1099),
    "latin1": (5, 8, 15, 31, (47, 49), 94, 1032, 1071),
    "latin2": (2, 9, 21, 27, 77, 1033, 1101),
    "latin5": (30, 78, 1054, 1102),
    "latin7": (20, (41, 42), 79, 1065, 1103),
    "macce": (38, 43, 1062, 1067),
    "macroman": (39, 53, 1063, 1077),
    "sjis": (13, 88, 1037, 1112),
    "swe7": (10, 82, 1034, 1106),
    "tis620": (18, 89, 1042, 1113),
    "ucs2": (35, 90, (128, 151), 159, (640, 642), 1059, 1114, 1152, 1174, (2560, 2727),
             (2744, 2759)),
    "ujis": (12, 91, 1036, 1115),
    "utf16": ((54, 55), (101, 124), (672, 674), (1078, 1079), 1125, 1147, (2816, 2983),
              (3000, 3015)),
    "utf16le": (56, 62, 1080, 1086),
    "utf32": ((60, 61), (160, 183), (736, 738), (1084, 1085), 1184, 1206, (3072, 3239),
              (3256, 3271)),
    "utf8mb3": (33, 76, 83, (192, 215), 223, 253, (576, 578), 1057, 1107, 1216, 1238,
                (2048, 2215), (2232, 2247)),
    "utf8mb4": ((45, 46), (224, 247), (255, 323), (608, 610), (1069, 1070), 1248, 1270,
                (2304, 2471), (2488, 2503)),
}  # fmt: skip


def _expand() -> dict[int, str]:
    out: dict[int, str] = {}
    for charset, ids in _COLLATION_RANGES.items():
        for item in ids:
            lo, hi = item if isinstance(item, tuple) else (item, item)
            for i in range(lo, hi + 1):
                out[i] = charset
    return out


COLLATIONS: dict[int, str] = _expand()

# MySQL's latin1 is cp1252 except that the five bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F,
# 0x90, 0x9D) map to the code points of the same number.
_LATIN1_TABLE = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))
_LATIN1_ENCODE = codecs.charmap_build(_LATIN1_TABLE)

# MySQL charset -> Python codec. Charsets missing here (armscii8, dec8, hp8, keybcs2, swe7,
# geostd8) have no Python codec: their columns are reported unsupported.
CODECS: dict[str, str] = {
    "utf8mb4": "utf-8", "utf8mb3": "utf-8", "ascii": "ascii", "latin1": "mysql-latin1",
    "latin2": "iso8859-2", "latin5": "iso8859-9", "latin7": "iso8859-13", "greek": "iso8859-7",
    "hebrew": "iso8859-8", "cp1250": "cp1250", "cp1251": "cp1251", "cp1256": "cp1256",
    "cp1257": "cp1257", "cp850": "cp850", "cp852": "cp852", "cp866": "cp866", "cp932": "cp932",
    "sjis": "cp932", "ujis": "euc_jp", "eucjpms": "euc_jp", "euckr": "euc_kr", "gb2312": "gb2312",
    "gbk": "gbk", "gb18030": "gb18030", "big5": "big5", "koi8r": "koi8_r", "koi8u": "koi8_u",
    "tis620": "tis_620", "macroman": "mac_roman", "macce": "mac_latin2", "ucs2": "utf-16-be",
    "utf16": "utf-16-be", "utf16le": "utf-16-le", "utf32": "utf-32-be",
}  # fmt: skip


def decode_latin1(data: bytes) -> str:
    return codecs.charmap_decode(data, "strict", _LATIN1_TABLE)[0]


def decoder_for(codec: str):  # type: ignore[no-untyped-def]
    """bytes -> str for one codec name of CODECS (errors replace: the column must still load)."""
    if codec == "mysql-latin1":
        return decode_latin1
    return lambda b: b.decode(codec, "replace")


__all__ = ["CODECS", "COLLATIONS", "TYPE_NAMES", "decode_latin1", "decoder_for"]
