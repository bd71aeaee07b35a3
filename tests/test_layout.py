"""The code's layout rules, read from the source files: no import loop between modules, ``pretext_tasks`` imports
nothing of ``unnas`` (one direction only), and no module past about 500 lines.

Every import statement counts, also one inside a function (a lazy import still ties two modules together).
Importing a submodule does not count as importing its package's ``__init__``.
"""

from __future__ import annotations

import ast
import os
from typing import Dict, List, Set

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("unnas", "pretext_tasks")
# "a file past about 500 lines is two files"
MAX_LINES = 520


def _modules(root: str = ROOT) -> Dict[str, str]:
    """``dotted module name -> path`` of every module of the packages."""
    found = {}
    for pkg in PACKAGES:
        for folder, _, files in os.walk(os.path.join(root, pkg)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    dotted = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                    found[dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return found


def _resolve(name: str, modules: Dict[str, str]):
    """The module an imported dotted name lives in (``unnas.spaces.base.ArchError`` -> ``unnas.spaces.base``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: Dict[str, str]) -> Dict[str, Set[str]]:
    """``module -> the package modules it imports anywhere in its text``."""
    graph: Dict[str, Set[str]] = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=path)
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        deps: Set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                deps.update(r for r in (_resolve(a.name, modules) for a in node.names) if r)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                deps.update(r for r in (_resolve(f"{base}.{a.name}", modules) for a in node.names) if r)
        deps.discard(module)
        graph[module] = deps
    return graph


def import_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected groups of more than one module (each one an import loop), by Tarjan's algorithm."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_cycle_finder_finds_a_loop_and_only_a_loop():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_graph_reads_lazy_and_relative_imports(tmp_path):
    pkg = tmp_path / "unnas"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import x\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from unnas.sub.b import y\n")
    (pkg / "sub" / "b.py").write_text("import unnas.sub.a\n")
    graph = import_graph(_modules(str(tmp_path)))
    assert graph["unnas.sub"] == {"unnas.sub.a"}
    assert graph["unnas.sub.a"] == {"unnas.sub.b"}
    assert import_cycles(graph) == [["unnas.sub.a", "unnas.sub.b"]]


def test_no_two_modules_import_each_other_and_no_import_loop():
    cycles = import_cycles(import_graph(_modules()))
    assert cycles == [], "import loops: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_pretext_tasks_imports_nothing_of_unnas():
    graph = import_graph(_modules())
    wrong = sorted(f"{m} imports {d}" for m, deps in graph.items() if m.startswith("pretext_tasks")
                   for d in deps if d.startswith("unnas"))
    assert wrong == []


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_is_past_about_500_lines(module):
    with open(_modules()[module], encoding="utf-8") as f:
        lines = sum(1 for _ in f)
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it along its concerns"
