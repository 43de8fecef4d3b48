"""The provider's import graph: no cycles, and no module reaches into another's private names.

Read from the source with ``ast`` (nothing is imported), so imports inside functions count
too: a lazy import that closes a circle still ties two modules that should be layered.
Imports under ``if TYPE_CHECKING:`` never run and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gaussdb_batch

PACKAGE = Path(gaussdb_batch.__file__).resolve().parent

#: Private names still imported across modules, each waiting on a module another change owns.
#: Remove an entry when its name goes public; adding one needs a reason here.
KNOWN_PRIVATE: set[tuple[str, str, str]] = set()


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST, *, type_only: bool = False):
    """Every node that can run: ``if TYPE_CHECKING:`` bodies are skipped (annotations only),
    unless ``type_only``: then they count too."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if not type_only and isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def _imports(module: str, path: Path, mods: dict[str, Path], *,
             type_only: bool = False) -> tuple[set[str], set[tuple[str, str, str]]]:
    """(the package's modules ``module`` imports, the private names it imports from others)."""
    edges: set[str] = set()
    private: set[tuple[str, str, str]] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path)), type_only=type_only):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("gaussdb_batch"):
                continue
            edges.add(node.module)
            for alias in node.names:
                if f"{node.module}.{alias.name}" in mods:  # from package import submodule
                    edges.add(f"{node.module}.{alias.name}")
                elif alias.name.startswith("_") and node.module != module:
                    private.add((module, node.module, alias.name))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{module}: relative import (line {node.lineno}); import gaussdb_batch... instead")
        elif isinstance(node, ast.Import):
            edges.update(a.name for a in node.names if a.name.startswith("gaussdb_batch"))
    return {e for e in edges if e in mods and e != module}, private


def _graph(*, type_only: bool = False) -> tuple[dict[str, set[str]], set[tuple[str, str, str]]]:
    mods = _modules()
    graph, private = {}, set()
    for module, path in mods.items():
        graph[module], found = _imports(module, path, mods, type_only=type_only)
        private |= found
    return graph, private


#: The package's layers, lowest first: a module may import its own layer and the ones below,
#: never one above (the first prefix that matches a module names its layer).
LAYERS: list[tuple[str, ...]] = [
    ("gaussdb_batch.identifiers",),
    ("gaussdb_batch.dialects",),
    ("gaussdb_batch.hooks",),
    ("gaussdb_batch.notifiers",),
    ("gaussdb_batch.engine", "gaussdb_batch.metrics"),
    ("gaussdb_batch.checks", "gaussdb_batch.alerting", "gaussdb_batch.run_note", "gaussdb_batch.lineage",
     "gaussdb_batch.assets"),
    ("gaussdb_batch.operators", "gaussdb_batch.triggers"),
    ("gaussdb_batch.dag_factory", "gaussdb_batch.ui", "gaussdb_batch.cli", "gaussdb_batch"),
]


def _layer(module: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes if p != "gaussdb_batch"):
            return i
    return len(LAYERS) - 1  # the package itself and anything unlisted: the top


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_the_whole_package():
    graph, _ = _graph()
    assert {"gaussdb_batch.dag_factory", "gaussdb_batch.operators.batch", "gaussdb_batch.dialects.base"} <= set(graph)
    assert "gaussdb_batch.operators.batch" in graph["gaussdb_batch.dag_factory"]


def test_no_import_cycle_inside_the_package():
    graph, _ = _graph()
    assert _cycles(graph) == []


def test_no_cycle_even_counting_type_only_imports():
    graph, _ = _graph(type_only=True)
    assert _cycles(graph) == []


def test_no_module_imports_a_layer_above_its_own():
    graph, _ = _graph(type_only=True)
    # ``from gaussdb_batch import metrics`` names the package only to reach a module: not an edge.
    upward = sorted((m, t) for m, targets in graph.items() for t in targets
                    if t != "gaussdb_batch" and _layer(t) > _layer(m))
    assert upward == []


def test_type_checking_imports_do_not_count():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\nimport c\n")
    names = {a.name for n in _runtime_nodes(tree) if isinstance(n, ast.Import) for a in n.names}
    assert names == {"b", "c"}


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_private_name_is_imported_across_modules():
    _, private = _graph()
    assert private - KNOWN_PRIVATE == set()
    assert KNOWN_PRIVATE - private == set(), "a known private import is gone: drop it from KNOWN_PRIVATE"
