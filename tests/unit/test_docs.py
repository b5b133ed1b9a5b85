"""The project's docs stand alone and stay true to the code: no pointers to files outside the
repository, every environment variable the code reads is in the CLI reference, every error code
the API or the CLI can answer is in the service docs, every doc README names exists."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import zeroetl
from zeroetl.config_keys import KEYS, markdown_table
from zeroetl.errors import ZeroEtlError

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"PRODUCT\.md|STYLE\.md|FACTS\.md|\b[Ii]ssues? (?:\d+|N)\b|\(issue\b")
# Files of other areas that still point outside the repository; they are rephrased with their
# owners' next change. Nothing may join this list.
PENDING = {
    "src/zeroetl/server/sql/dialect.py",
    "src/zeroetl/server/sql/sysviews.py",
    "src/zeroetl/server/sql/backend.py",
    "src/zeroetl/server/sql/redshift.py",
    "src/zeroetl/server/sql/catalog.py",
    "src/zeroetl/server/sql/session.py",
    "src/zeroetl/engine/filters.py",
    "src/zeroetl/destinations/duckdb/meta.py",
    "src/zeroetl/destinations/duckdb/apply.py",
    "src/zeroetl/destinations/duckdb/types.py",
    "src/zeroetl/destinations/duckdb/destination.py",
    "tests/sql_backend.py",
    "tests/integration/test_types_e2e.py",
    "tests/unit/test_duckdb_types.py",
    "tests/e2e/test_service.py",
    "tests/e2e/test_sql_service.py",
}
SELF = "tests/unit/test_docs.py"


def _project_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    files += sorted((ROOT / "docs").rglob("*.md")) + sorted((ROOT / "bench").rglob("*.md"))
    files += sorted((ROOT / "contrib").rglob("*"))
    for ext in ("py", "js", "html", "css"):
        files += sorted((ROOT / "src").rglob(f"*.{ext}"))
    files += sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    return [f for f in files if f.is_file()]


def test_docs_and_code_never_point_outside_the_repository() -> None:
    found = {}
    for f in _project_files():
        rel = f.relative_to(ROOT).as_posix()
        if rel == SELF:
            continue
        hits = [m.group(0) for m in OUTSIDE.finditer(f.read_text(errors="replace"))]
        if hits and rel not in PENDING:
            found[rel] = hits
    assert not found, f"say the fact itself instead of pointing elsewhere: {found}"


def test_every_environment_variable_is_in_the_cli_reference() -> None:
    names: set[str] = set()
    for f in (ROOT / "src").rglob("*.py"):
        names |= set(re.findall(r"(?<![A-Z_])ZEROETL_[A-Z][A-Z_]*[A-Z]", f.read_text()))
    names |= {n for k in KEYS for n in (k.env, *k.env_aliases)}
    assert {"ZEROETL_WAREHOUSE", "ZEROETL_SANDBOX_DIR", "ZEROETL_DEBUG"} <= names
    reference = (ROOT / "docs" / "cli.md").read_text()
    reference += (ROOT / "docs" / "configuration.md").read_text()
    missing = sorted(n for n in names if f"`{n}`" not in reference)
    assert not missing, f"document in docs/configuration.md or docs/cli.md: {missing}"


def test_the_configuration_table_is_the_key_table() -> None:
    """docs/configuration.md holds config_keys.py's table as is: a key added, renamed or given
    another default without its row fails here."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert markdown_table() in page, (
        "regenerate the table of docs/configuration.md with: python -c 'from "
        "zeroetl.config_keys import markdown_table; print(markdown_table())'"
    )
    rows = [line for line in page.splitlines() if line.startswith("| `") or "(not in the" in line]
    documented = {m.group(1) for r in rows if (m := re.search(r"`(ZEROETL_[A-Z_]+)`", r))}
    assert documented >= {k.env for k in KEYS}


def test_every_flag_of_the_key_table_exists_on_its_commands() -> None:
    import click

    from zeroetl.cli.main import cli

    def command(path: str) -> click.Command:
        ctx = click.Context(cli)
        cmd: click.Command = cli
        for word in path.split():
            assert isinstance(cmd, click.Group), path
            got = cmd.get_command(ctx, word)
            assert got is not None, path
            cmd = got
        return cmd

    checked = 0
    for key in KEYS:
        if key.flag is None or key.name == "sandbox.dir":  # sandbox: its own --dir options
            continue
        for path in key.commands:
            cmd = command(path if path != "integration" else "integration list")
            opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
            assert key.flag in opts, (key.name, path)
            checked += 1
    assert checked >= 30


def _error_codes() -> set[str]:
    for mod in pkgutil.walk_packages(zeroetl.__path__, "zeroetl."):
        if mod.name.startswith(("zeroetl.cli", "zeroetl.server.console")):
            continue
        importlib.import_module(mod.name)
    codes: set[str] = set()
    todo = [ZeroEtlError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if not cls.__name__.startswith("_") and not cls.__module__.startswith("zeroetl.cli"):
            codes.add(cls.code)
    return codes


def test_every_error_code_is_in_the_service_docs() -> None:
    codes = _error_codes()
    assert {"IntegrationNotFound", "Unauthorized", "WarehouseInUse", "BinlogPurged"} <= codes
    # answered by the API's own handlers, and the CLI's "could not reach the service"
    codes |= {"MethodNotAllowed", "HttpError", "InternalError", "ServiceUnavailable"}
    text = (ROOT / "docs" / "service.md").read_text()
    missing = sorted(c for c in codes if f"`{c}`" not in text)
    assert not missing, f"document in docs/service.md: {missing}"


def test_readme_names_docs_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"`((?:docs|bench)/[\w./-]+\.md)`", readme))
    assert {"docs/operations.md", "docs/cli.md"} <= named
    assert all((ROOT / n).is_file() for n in named), named
    for doc in (ROOT / "docs").glob("*.md"):  # relative links between docs resolve
        for target in re.findall(r"\]\(([\w.-]+\.md)(?:#[\w-]+)?\)", doc.read_text()):
            assert (ROOT / "docs" / target).is_file(), (doc.name, target)
