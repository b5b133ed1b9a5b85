"""The import edges the service/interface split removed stay removed (lazy and TYPE_CHECKING
imports included). Only the edges fixed on this branch; tests/import_graph.py (from the seams
work) prints the whole graph's breaches and cycles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "zeroetl"


def _imports(path: Path) -> set[str]:
    """Every module named by an import anywhere in `path` (`from a import b` gives a and a.b)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _under(folder: str) -> list[Path]:
    return sorted((PKG / folder).rglob("*.py"))


def test_the_service_imports_no_interface_wiring() -> None:
    """service <-> sql_backend was a cycle hidden by a lazy import: cli/serve wires them now."""
    for path in _under("service"):
        # (service_config.py still names the SQL endpoint's settings types: limits, TLS)
        bad = {m for m in _imports(path) if m.startswith(("zeroetl.server.sql_backend",
                                                            "zeroetl.server.api"))}  # fmt: skip
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_sysviews_does_not_import_the_catalog_it_serves() -> None:
    imports = _imports(PKG / "server" / "sql" / "sysviews.py")
    assert not {m for m in imports if m.endswith("sql.catalog") or m == "catalog"}
    assert "zeroetl.server.sql.catalog" not in imports


def test_no_interface_imports_a_concrete_source_or_destination() -> None:
    for path in _under("server"):
        bad = {
            m
            for m in _imports(path)
            if m.startswith(("zeroetl.sources.mysql", "zeroetl.destinations.duckdb"))
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_bench_does_not_import_the_cli() -> None:
    for path in sorted((ROOT / "bench").glob("*.py")):
        bad = {m for m in _imports(path) if m.startswith("zeroetl.cli")}
        assert not bad, f"bench/{path.name} imports {bad}"


def test_http_statuses_stay_in_the_api_layer() -> None:
    """The catalog's errors carry codes only (server/api/errors.py maps them to statuses)."""
    tree = ast.parse((PKG / "catalog" / "errors.py").read_text())
    assigned = {
        t.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    assert "status" not in assigned
