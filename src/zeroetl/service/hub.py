"""The warehouse's files, and the sandboxed DuckDB hub every target database is attached to.

```
<warehouse>/
  catalog.sqlite3, secret.key, api.token, sql.password   secrets: outside every DuckDB-allowed path
  databases/<name>.duckdb (+ .wal)                        one file per target database
  databases/dev.duckdb (+ .wal)                           the analysts' workspace `dev`
  tmp/                                                    DuckDB's spill files (bounded)
  tmp/<name>/                                             those of `zeroetl replicate <name>`
```

SQL sessions are cursors on the hub, so the hub itself is locked down before any session exists
(DuckDB applies these controls to the whole instance, cursors included): no file system access
except the data and temp directories (which hold no secret; `allowed_directories` opens a whole
directory to every table function), no extension loading or installing, no replacement scans of
Python variables, a memory limit and a temp-space cap set by us, then a locked configuration. Only the session
settings the SQL layer sets itself stay changeable (`ALLOWED_CONFIGS`); sessions never send SET
to DuckDB (the guard refuses it), so the lock is the second line, not the first.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from zeroetl.server.sql import workspace_catalog, workspace_store
from zeroetl.sqltext import ident, literal

log = logging.getLogger(__name__)

DATA_DIR = "databases"
TEMP_DIR = "tmp"
SUFFIXES = (".duckdb", ".duckdb.wal")

# Settings the service's own code changes per cursor after the lock: session time zone, integer
# division and search path (SQL layer), per-session memory, checkpoint thresholds (writers).
ALLOWED_CONFIGS = ("TimeZone", "integer_division", "search_path", "schema",
                   "operator_memory_limit", "checkpoint_threshold", "wal_autocheckpoint")  # fmt: skip

DEFAULT_MEMORY_SHARE = 0.5  # of the memory DuckDB detects (its own default takes 80%)
DEFAULT_TEMP_SHARE = 0.2  # of the free disk space at start ...
DEFAULT_TEMP_CAP = 8 * 2**30  # ... but at most 8 GiB

_SIZE = re.compile(r"^\s*([\d.]+)\s*([KMGTP]?i?B|bytes?)?\s*$", re.I)
_UNIT = {"": 1, "B": 1, "BYTE": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9,
         "TB": 10**12, "PB": 10**15, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
         "PIB": 2**50}  # fmt: skip


@dataclass(frozen=True)
class HubSettings:
    memory_limit: str | None = None  # DuckDB memory_limit; None: half the memory DuckDB detects
    temp_limit: str | None = None  # max_temp_directory_size; None: 20% of free disk, <= 8 GiB


@dataclass
class Hub:
    con: duckdb.DuckDBPyConnection
    memory_bytes: int  # the memory limit in force
    temp_dir: Path


def parse_size(text: str) -> int:
    """Bytes in a DuckDB size string: '18.8 GiB', '953.6 MiB', '4GB', '0 bytes'."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r}")
    return int(float(m.group(1)) * _UNIT[(m.group(2) or "").upper()])


def database_path(warehouse: Path, name: str) -> Path:
    """Where target database `name` lives (the same for `serve` and `replicate`)."""
    return Path(warehouse) / DATA_DIR / f"{name}.duckdb"


def migrate_layout(warehouse: Path, only: str | None = None) -> list[str]:
    """Move target database files of the old layout (`<warehouse>/<name>.duckdb`) into the data
    directory (only database `only` when given); returns the names moved. Each file moves on its
    own with an atomic rename, so a crash half-way is finished by the next start."""
    warehouse = Path(warehouse)
    data = warehouse / DATA_DIR
    moved: set[str] = set()
    for old in sorted(warehouse.glob("*.duckdb*")):
        suffix = next((s for s in SUFFIXES if old.name.endswith(s)), None)
        if suffix is None or not old.is_file():
            continue
        name = old.name[: -len(suffix)]
        if only is not None and name != only:
            continue
        new = data / old.name
        data.mkdir(mode=0o700, exist_ok=True)
        if new.exists():
            log.warning("%s and %s both exist; keeping the second, leaving the first", old, new)
            continue
        os.replace(old, new)
        moved.add(name)
    for name in sorted(moved):
        log.info("target database %s moved to %s", name, database_path(warehouse, name))
    return sorted(moved)


def database_files(warehouse: Path) -> list[str]:
    """Names of the target database files in the data directory (not the workspace's)."""
    data = Path(warehouse) / DATA_DIR
    names = (p.name[: -len(".duckdb")] for p in data.glob("*.duckdb") if p.is_file())
    return sorted(n for n in names if n != workspace_store.WORKSPACE)


def attach_workspace(con: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    """Attach `<warehouse>/databases/dev.duckdb` as `dev` (created on first use) with its
    default schema and bookkeeping (workspace_store.py)."""
    path = database_path(warehouse, workspace_store.WORKSPACE)
    con.execute(f"ATTACH {literal(str(path))} AS {ident(workspace_store.WORKSPACE)}")
    workspace_store.prepare(con)
    workspace_catalog.install(con)


def _default_temp_limit(warehouse: Path) -> str:
    free = shutil.disk_usage(warehouse).free
    return f"{max(64 * 2**20, min(DEFAULT_TEMP_CAP, int(free * DEFAULT_TEMP_SHARE))) // 2**20}MiB"


def open_hub(warehouse: Path, settings: HubSettings | None = None) -> Hub:
    """A new in-memory hub, sandboxed and locked (see the module doc)."""
    settings = settings or HubSettings()
    warehouse = Path(warehouse).resolve()
    data = warehouse / DATA_DIR
    temp = warehouse / TEMP_DIR
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.rmtree(temp, ignore_errors=True)  # spill files of a killed process: nobody owns them
    temp.mkdir(mode=0o700, exist_ok=True)
    con = duckdb.connect(":memory:")
    try:
        detected = parse_size(_setting(con, "memory_limit")) / 0.8
        memory = settings.memory_limit or f"{int(detected * DEFAULT_MEMORY_SHARE) // 2**20}MiB"
        temp_limit = settings.temp_limit or _default_temp_limit(warehouse)
        for name, value in (
            # Order matters: paths first, then external access off, then the lock.
            ("allowed_directories", [str(data) + os.sep]),
            ("temp_directory", str(temp)),
            ("max_temp_directory_size", temp_limit),
            ("memory_limit", memory),
            ("autoinstall_known_extensions", False),
            ("autoload_known_extensions", False),
            ("allow_community_extensions", False),
            ("allow_unsigned_extensions", False),
            ("python_enable_replacements", False),
            ("enable_external_access", False),
            ("allowed_configs", list(ALLOWED_CONFIGS)),
            ("lock_configuration", True),
        ):
            con.execute(f"SET {name} = ?", [value])
        attach_workspace(con, warehouse)
        hub = Hub(con, parse_size(_setting(con, "memory_limit")), temp)
    except BaseException:
        with suppress(duckdb.Error):
            con.close()
        raise
    log.info(
        "DuckDB hub: memory limit %s, temp space %s in %s, external access off",
        _setting(con, "memory_limit"),
        _setting(con, "max_temp_directory_size"),
        temp,
    )
    return hub


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    row = con.execute("SELECT current_setting(?)", [name]).fetchone()
    return str(row[0]) if row else ""
