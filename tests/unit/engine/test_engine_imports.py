"""The engine knows its source and its destination by their protocols only: no module of
src/zeroetl/engine imports a concrete source or destination (lazy and TYPE_CHECKING imports
included), and the engine's modules import one another without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[3] / "src" / "zeroetl" / "engine"
ALLOWED = ("zeroetl.sources.base", "zeroetl.destinations.base")


def imports(path: Path) -> set[str]:
    """Every module `path` imports, wherever the import statement is."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def concrete(names: set[str]) -> list[str]:
    """The names under zeroetl.sources./zeroetl.destinations. other than their base modules."""
    return sorted(
        n
        for n in names
        if n.startswith(("zeroetl.sources.", "zeroetl.destinations."))
        and not any(n == a or n.startswith(a + ".") for a in ALLOWED)
    )


def test_the_engine_imports_no_concrete_source_or_destination() -> None:
    files = sorted(ENGINE.glob("*.py"))
    assert len(files) > 5
    found = {f.name: concrete(imports(f)) for f in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_check_sees_lazy_imports() -> None:
    """The walk above would catch an import hidden in a function or under TYPE_CHECKING."""
    sample = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from zeroetl.destinations.duckdb.destination import X\n"
        "def f():\n    import zeroetl.sources.mysql.stream\n"
        "from zeroetl.sources import mysql\n"
    )
    tree_file = Path(__file__).with_name("_sample_imports.txt")
    tree_file.write_text(sample)
    try:
        assert concrete(imports(tree_file)) == [
            "zeroetl.destinations.duckdb.destination",
            "zeroetl.destinations.duckdb.destination.X",
            "zeroetl.sources.mysql",
            "zeroetl.sources.mysql.stream",
        ]
    finally:
        tree_file.unlink()


def test_no_import_cycles_inside_the_engine() -> None:
    mods = {f.stem: f for f in ENGINE.glob("*.py") if f.stem != "__init__"}
    graph = {
        m: {n.rsplit(".", 1)[-1] for n in imports(f) if n.startswith("zeroetl.engine.")}
        & (set(mods) - {m})
        for m, f in mods.items()
    }
    seen: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, path: list[str]) -> None:
        if seen.get(m) == 1:
            cycle.extend([*path, m])
            return
        if seen.get(m) == 2 or cycle:
            return
        seen[m] = 1
        for d in sorted(graph[m]):
            visit(d, [*path, m])
        seen[m] = 2

    for m in sorted(graph):
        visit(m, [])
    assert not cycle, " -> ".join(cycle)
