"""The import graph of src/zeroetl: layer breaches and cycles, lazy and TYPE_CHECKING imports
included. `make layers` (or `python tests/import_graph.py [ROOT]`) prints them;
tests/unit/engine/test_engine_imports.py keeps the engine's from coming back.

Layers (docs/architecture.md): the engine knows sources and destinations by their base
protocols only; interfaces (`server/`) should not import a concrete source or destination;
`bench/` should not import `cli/`.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "zeroetl"
CONCRETE = ("zeroetl.sources.mysql", "zeroetl.destinations.duckdb")


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, known: set[str]) -> set[str]:
    """The zeroetl modules `path` imports (a `from pkg import mod` counts as `pkg.mod`)."""
    out: set[str] = set()
    base = module_name(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:  # relative: from . import x / from .x import y
                pkg = base.split(".")
                if path.name != "__init__.py":
                    pkg = pkg[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                mod = ".".join([*pkg, mod] if mod else pkg)
            for a in node.names:  # `from pkg import mod` imports pkg.mod; else pkg itself
                out.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod)
    # A module's own packages are imported with it: not an edge worth a cycle.
    return {m for m in out if m in known and not base.startswith(m + ".")}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    known = set(files)
    return {m: imported(p, known) - {m} for m, p in files.items()}


def breaches(g: dict[str, set[str]]) -> list[str]:
    out = []
    for m, deps in sorted(g.items()):
        for d in sorted(deps):
            if m.startswith("zeroetl.engine") and d.startswith(CONCRETE):
                out.append(f"engine -> concrete: {m} -> {d}")
            elif m.startswith("zeroetl.server") and d.startswith(CONCRETE):
                out.append(f"interface -> concrete: {m} -> {d}")
    for p in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("zeroetl.cli"):
                out.append(f"bench -> cli: bench/{p.name} -> {node.module}")
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return sorted(out)


def main() -> int:
    g = graph()
    b, c = breaches(g), cycles(g)
    for line in b:
        print(line)
    for comp in c:
        print("cycle: " + " <-> ".join(comp))
    print(f"{len(b)} layer breaches, {len(c)} cycles")
    return 1 if b or c else 0  # a lint: `make test` runs it


if __name__ == "__main__":
    raise SystemExit(main())
