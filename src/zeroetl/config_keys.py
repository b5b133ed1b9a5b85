"""Every configuration key, once: its TOML name, environment variable, flag, default and meaning.

config.py builds the settings from this table; `zeroetl config show`, `GET /v1/config`, the CLI's
flags (cli/options.py) and docs/configuration.md (checked by tests/unit/test_docs.py) all follow
it. Adding a setting: one `Key` here, one field in the matching dataclass of config.py, one row
in docs/configuration.md.

Names: the variable of a TOML key is ZEROETL_ and the key in capitals, its dot an underscore
(`api.port`: `ZEROETL_API_PORT`). A few variables kept their older names as aliases
(`env_aliases`). A secret key may instead be given as a path: `api.token_file`,
`ZEROETL_API_TOKEN_FILE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Kinds of values; config.py holds one parser per kind.
PATH, STR, HOST, URL, INT, FLOAT, BOOL, SIZE, DURATION_MS, LIST, LEVEL, SECRET = (
    "path", "str", "host", "url", "int", "float", "bool", "size", "duration", "list", "level",
    "secret",
)  # fmt: skip

LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Origin:
    """Where a value came from."""

    source: Literal["default", "file", "env", "flag"]
    where: str = ""  # "/etc/zeroetl/zeroetl.toml:12", "ZEROETL_API_PORT", "--api-port"

    def __str__(self) -> str:
        return self.source if not self.where else f"{self.source} {self.where}"


@dataclass(frozen=True)
class Key:
    name: str  # dotted: "api.port"; top-level keys have no dot
    kind: str
    default: object
    meaning: str
    flag: str | None = None  # the CLI flag that sets it, on the commands in `commands`
    commands: tuple[str, ...] = ()  # with the flag; without one: the commands that read it
    minimum: float | None = None
    maximum: float | None = None
    env_aliases: tuple[str, ...] = ()  # older variable names, still read (the new one wins)
    in_file: bool = True  # False: not read from zeroetl.toml (commands that need no warehouse)

    @property
    def section(self) -> str:
        return self.name.rpartition(".")[0]

    @property
    def field(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def env(self) -> str:
        return "ZEROETL_" + self.name.replace(".", "_").upper()

    @property
    def secret(self) -> bool:
        return self.kind == SECRET

    @property
    def file_key(self) -> str | None:
        """`api.token_file` for the secret `api.token`."""
        return f"{self.name}_file" if self.secret else None


SERVE = ("serve",)
RUNS = ("serve", "replicate")
CLIENTS = ("integration",)

KEYS: tuple[Key, ...] = (
    Key("warehouse", PATH, None,
        "Warehouse directory: catalog, secrets, one DuckDB file per target database. `serve` "
        "and `replicate` need one; `sql`, `tickit queries` and `integration` fall back to "
        "`.zeroetl/warehouse`.",
        flag="--warehouse", commands=("serve", "replicate", "sql", "tickit queries",
                                      "integration", "config show")),
    Key("host", HOST, "127.0.0.1",
        "Address the HTTP API and the SQL endpoint bind to.", flag="--host", commands=SERVE),
    Key("log.level", LEVEL, "info",
        "Log level of `serve` (debug, info, warning, error); `-v` raises it to debug.",
        flag="--log-level", commands=SERVE),
    Key("log.file", PATH, None,
        "Append the log to this file (created 0600, reopened when logrotate moves it) instead "
        "of stderr.", flag="--log-file", commands=SERVE),
    Key("api.port", INT, 8155, "HTTP API and console port (0: any free port).",
        flag="--api-port", commands=SERVE, minimum=0, maximum=65535),
    Key("api.token", SECRET, None,
        "API bearer token. Unset: the service generates `<warehouse>/api.token` (0600) on first "
        "start; clients read that file. The flag is visible to other users in the process list: "
        "prefer the variable or a file.", flag="--api-token", commands=CLIENTS),
    Key("api.url", URL, None,
        "Address of the service the `integration` commands call, http(s)://HOST:PORT. Unset: "
        "what the warehouse's service recorded in `service.json`, else http://127.0.0.1:8155.",
        flag="--api-url", commands=CLIENTS),
    Key("api.metrics_public", BOOL, False,
        "Serve /metrics without the bearer token (ids, states, counts and table names).",
        flag="--metrics-public", commands=SERVE, env_aliases=("ZEROETL_METRICS_PUBLIC",)),
    Key("sql.port", INT, 5439, "SQL endpoint (PostgreSQL wire) port (0: any free port).",
        flag="--sql-port", commands=SERVE, minimum=0, maximum=65535),
    Key("sql.password", SECRET, None,
        "Password of the SQL endpoint's `admin` user. Unset: `<warehouse>/sql.password` (0600, "
        "generated on first start).", commands=("serve", "sql", "tickit queries")),
    Key("sql.tls_cert", PATH, None,
        "PEM certificate (chain) of the SQL endpoint's TLS, with `sql.tls_key`. Unset: a "
        "self-signed one made in `<warehouse>/sql-tls.crt` at first start.",
        flag="--sql-tls-cert", commands=SERVE),
    Key("sql.tls_key", PATH, None,
        "PEM private key (unencrypted) of `sql.tls_cert`.", flag="--sql-tls-key", commands=SERVE),
    Key("sql.require_tls", BOOL, False,
        "Refuse SQL connections without TLS (sslmode=disable); default: accept them.",
        flag="--sql-require-tls", commands=SERVE),
    Key("sql.statement_timeout", DURATION_MS, 0,
        "A SQL session's statement_timeout until it sets its own: milliseconds, or a string "
        "such as \"30s\", \"5min\" (0: none).", flag="--sql-statement-timeout", commands=SERVE),
    Key("sql.max_statement_timeout", DURATION_MS, 0,
        "No SQL statement runs longer, whatever the session sets (0: no maximum).",
        flag="--sql-max-statement-timeout", commands=SERVE),
    Key("sql.session_memory", SIZE, None,
        "Memory of one SQL statement before it spills to disk, e.g. \"1GiB\". Unset: half the "
        "memory limit shared by the running slots.", flag="--sql-session-memory",
        commands=SERVE),
    Key("sql.max_running", INT, 4,
        "SQL statements running at once over all sessions; the others wait for a slot.",
        flag="--sql-max-running", commands=SERVE, minimum=1, maximum=1024),
    Key("service.allowed_sources", LIST, (),
        "Authorized integration sources, HOST or HOST:PORT globs (a TOML list; comma-separated "
        "in the variable; `--allow-source` repeatable). Empty: any source.",
        flag="--allow-source", commands=SERVE, env_aliases=("ZEROETL_ALLOWED_SOURCES",)),
    Key("service.memory_limit", SIZE, None,
        "DuckDB memory of the service, replication and SQL sessions together, e.g. \"8GiB\". "
        "Unset: half the memory DuckDB detects.", flag="--memory-limit", commands=SERVE,
        env_aliases=("ZEROETL_MEMORY_LIMIT",)),
    Key("service.temp_limit", SIZE, None,
        "Disk space DuckDB may spill to in `<warehouse>/tmp`, e.g. \"20GiB\". Unset: 20% of the "
        "free space, at most 8GiB.", flag="--temp-limit", commands=SERVE,
        env_aliases=("ZEROETL_TEMP_LIMIT",)),
    Key("engine.prereq_check_s", FLOAT, 60.0,
        "Re-check every source's prerequisites this often, in seconds (0: never).",
        flag="--prereq-check-s", commands=RUNS, minimum=0),
    Key("engine.batch_rows", INT, 50_000,
        "Commit a change batch once this many row changes are pending ...",
        flag="--batch-rows", commands=("replicate",), minimum=1),
    Key("engine.batch_ms", INT, 200,
        "... or once the oldest pending change is this many milliseconds old.",
        flag="--batch-ms", commands=("replicate",), minimum=1),
    Key("engine.chunk_rows", INT, 50_000,
        "Snapshot chunk size: at most this many rows per source read (and at most 16 MiB of row data).",
        flag="--chunk-rows", commands=("replicate",), minimum=1),
    Key("engine.snapshot_readers", INT, 1,
        "Source connections a snapshot reads over at once (MariaDB; MySQL reads one at a time).",
        flag="--snapshot-readers", commands=("replicate",), minimum=1),
    Key("engine.snapshot_processes", BOOL, False,
        "Read and convert snapshot chunks in `engine.snapshot_readers` child processes (MariaDB), "
        "leaving the engine's process only the warehouse writes.",
        flag="--snapshot-processes", commands=("replicate",)),
    Key("engine.wal_limit_mb", FLOAT, 64.0,
        "Checkpoint a target database between batches once its WAL is this many MiB "
        "(`zeroetl replicate`: twice that, with the memory limit raised by twice the extra, once "
        "a table of 128 or more columns was written since the last checkpoint).",
        flag="--wal-limit-mb", commands=RUNS, minimum=1),
    Key("engine.memory_limit", SIZE, "128MiB",
        "DuckDB memory of `replicate` between checkpoints (cached blocks beyond it are dropped, "
        "the rest spills to `<warehouse>/tmp/<database>`).", flag="--duckdb-memory-limit",
        commands=("replicate",)),
    Key("engine.checkpoint_memory_limit", SIZE, None,
        "DuckDB memory of `replicate` while it checkpoints (a checkpoint holds up to 2,048 "
        "values of a column at once). Unset: half the memory DuckDB detects.",
        flag="--checkpoint-memory-limit", commands=("replicate",)),
    Key("monitoring.history_days", FLOAT, 7.0,
        "Monitoring history (activity, table activity, state changes) kept this many days.",
        flag="--history-days", commands=RUNS, minimum=0.001),
    Key("monitoring.history_rows", INT, 1_000_000,
        "Monitoring history kept per replicated table (activity rows), at most.",
        flag="--history-rows", commands=RUNS, minimum=1),
    Key("monitoring.history_prune_s", FLOAT, 300.0,
        "How often the monitoring history is pruned, in seconds (between batches).",
        flag="--history-prune-s", commands=RUNS, minimum=0.1),
    Key("source.password", SECRET, None,
        "Password of a source whose URL has none, read on the client only (the service never "
        "lends its own to an API caller).",
        commands=("source check", "replicate", "integration create|modify", "demo"),
        in_file=False),
    Key("sandbox.dir", PATH, ".zeroetl/sandbox",
        "Directory of the local MariaDB sandbox.", flag="--dir / --sandbox-dir",
        commands=("sandbox", "tickit load|traffic", "demo"), in_file=False),
)  # fmt: skip

BY_NAME: dict[str, Key] = {k.name: k for k in KEYS}
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(k.section for k in KEYS if k.section))

# Variables that are not settings, and why they stay outside the table.
NOT_SETTINGS: dict[str, str] = {
    "ZEROETL_CONFIG": "the configuration file's path (as `--config`); it cannot be in the file",
    "ZEROETL_DEBUG": "`1`: an error shows its Python traceback; read by the CLI's error "
    "handler, so it works even when the configuration itself is broken",
    "_ZEROETL_COMPLETE": "click's shell-completion protocol (docs/cli.md)",
}


def markdown_table() -> str:
    """docs/configuration.md's table (tests/unit/test_docs.py checks the page holds it)."""
    rows = [
        "| TOML key | Variable | Flag | Default | Meaning |",
        "|---|---|---|---|---|",
    ]
    for k in KEYS:
        toml = f"`{k.name}`" + (f" or `{k.file_key}`" if k.file_key else "")
        if not k.in_file:
            toml = "(not in the file)"
        env = " or ".join(f"`{n}`" for n in (k.env, *k.env_aliases))
        if k.secret:
            env += f" (or `{k.env}_FILE`)"
        where = ", ".join(k.commands)
        flag = f"`{k.flag}` ({where})" if k.flag else f"none (read by {where})"
        if k.secret or k.default in (None, ()):
            default = "unset"
        else:
            default = f"`{str(k.default).lower() if isinstance(k.default, bool) else k.default}`"
        cells = (toml, env, flag, default, k.meaning)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"
