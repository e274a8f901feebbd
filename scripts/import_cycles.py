"""Import graph of lynex_box from the source text (ast): prints its cycles and the imports of `lynex_box.pipeline`
modules into `lynex_box.sources`; exits 1 if either is found among the modules given (default: pipeline, sources).

    python scripts/import_cycles.py [--all] [--prefix lynex_box.pipeline --prefix lynex_box.sources]

An import inside a function counts (it runs when called); one under `if TYPE_CHECKING:` does not (it never runs)
unless `--typing` is given.
Importing `a.b.c` runs `a/__init__` and `a/b/__init__` first, so it counts as importing those too.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules(package: str = "lynex_box") -> dict[str, Path]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _nodes(tree: ast.AST, typing: bool) -> Iterator[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (unless `typing`)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not typing and isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports(name: str, path: Path, known: dict[str, Path], typing: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _nodes(tree, typing):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(kept + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in known else base)
    edges = set()
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):  # parent packages run first; a module's own are already running
            prefix = ".".join(parts[:i])
            explicit = prefix == target
            if prefix in known and prefix != name and (explicit or not name.startswith(prefix + ".")):
                edges.add(prefix)
    return edges


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", action="append", help="modules to check (default: pipeline and sources)")
    parser.add_argument("--all", action="store_true", help="print every edge among the checked modules")
    parser.add_argument("--typing", action="store_true", help="count imports under `if TYPE_CHECKING:` too")
    args = parser.parse_args()
    prefixes = tuple(args.prefix or ["lynex_box.pipeline", "lynex_box.sources"])
    known = modules()
    graph = {name: imports(name, path, known, args.typing) for name, path in known.items()}
    checked = {name for name in graph if name.startswith(prefixes)}
    sub = {name: {t for t in graph[name] if t in checked} for name in checked}
    if args.all:
        for name in sorted(sub):
            print(f"{name} -> {', '.join(sorted(sub[name])) or '-'}")
    found = cycles(sub)
    upward = sorted(
        f"{name} -> {t}" for name in sub for t in sub[name]
        if name.startswith("lynex_box.pipeline") and t.startswith("lynex_box.sources")
    )  # fmt: skip
    edges = sum(len(t) for t in sub.values())
    print(f"modules={len(sub)} edges={edges} cycles={len(found)} pipeline_to_sources={len(upward)}")
    for component in found:
        print("cycle:", " <-> ".join(component))
    for edge in upward:
        print("pipeline imports a source:", edge)
    return 1 if found or upward else 0


if __name__ == "__main__":
    sys.exit(main())
