"""The package's layers (ARCHITECTURE.md): each module imports only from its own layer or those before it,
and no two modules import each other, directly or round a loop."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "aspectbucket"

#: Layer of each top-level module or package, in the order data flows (ARCHITECTURE.md).
LAYERS = {
    "geometry": 1,
    "profiles": 2,
    "progress": 3,
    "outputs": 3,
    "scan": 3,
    "plan": 3,
    "export": 3,
    "tables": 3,
    "compare": 3,
    "epoch_ledger": 3,
    "ledger_fixes": 3,
    "report": 4,
    "api": 4,
    "cli": 4,
    "torch": 5,
    "ray": 5,
}
#: The package's own __init__ and __main__ re-export and start the CLI: they may import anything.
FACADES = {"__init__", "__main__"}


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(PACKAGE).with_suffix("").parts): path
        for path in PACKAGE.rglob("*.py")
        if "example" not in path.parts
    }


def _imports(path: Path) -> set[str]:
    """Modules of this package imported anywhere in ``path`` (type-checking imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aspectbucket"):
            found.add(node.module.removeprefix("aspectbucket").lstrip("."))
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("aspectbucket.") for a in node.names if a.name.startswith("aspectbucket."))
    return {name for name in found if name}


def _top(name: str) -> str:
    return name.split(".")[0]


def test_every_module_has_a_layer():
    tops = {_top(name) for name in _modules()} - FACADES
    assert tops <= set(LAYERS), f"modules without a layer in ARCHITECTURE.md: {sorted(tops - set(LAYERS))}"


def test_no_module_imports_a_later_layer():
    wrong = []
    for name, path in _modules().items():
        if _top(name) in FACADES:
            continue
        for imported in _imports(path):
            if _top(imported) in LAYERS and LAYERS[_top(imported)] > LAYERS[_top(name)]:
                wrong.append(f"{name} (layer {LAYERS[_top(name)]}) imports {imported} (layer {LAYERS[_top(imported)]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles_between_modules():
    modules = _modules()
    graph = {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}
    graph = {name: edges for name, edges in graph.items() if name.split(".")[-1] != "__init__"}
    for edges in graph.values():
        edges.difference_update({e for e in edges if e.split(".")[-1] == "__init__" or e not in graph})
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)
