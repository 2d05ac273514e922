"""The knowledge package's modules import each other without a cycle, and nothing private.

Every import counts: at the top, inside a function (imported on first use to keep start-up
cheap) and under TYPE_CHECKING, since each is a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import bot.services.knowledge

PACKAGE = "bot.services.knowledge"
FOLDER = Path(bot.services.knowledge.__file__).parent
MODULES = sorted(p.stem for p in FOLDER.glob("*.py") if p.stem != "__init__")


def _imports(module: str) -> list[ast.Import | ast.ImportFrom]:
    tree = ast.parse((FOLDER / f"{module}.py").read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def _sibling(name: str) -> str | None:
    """The package module a dotted name is, or is inside of."""
    if not name.startswith(f"{PACKAGE}."):
        return None
    return name.removeprefix(f"{PACKAGE}.").split(".")[0]


def _dependencies(module: str) -> set[str]:
    out: set[str] = set()
    for node in _imports(module):
        if isinstance(node, ast.Import):
            out |= {s for alias in node.names if (s := _sibling(alias.name))}
        elif node.module == PACKAGE:
            # ``from bot.services.knowledge import search``: a module, not the package's names.
            names = {alias.name for alias in node.names}
            assert names <= set(MODULES), f"{module} imports {names} from the package itself"
            out |= names
        elif node.module and (sibling := _sibling(node.module)):
            out.add(sibling)
    out.discard(module)
    return out


def test_knowledge_modules_import_each_other_without_a_cycle() -> None:
    graph = {module: _dependencies(module) for module in MODULES}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None
    assert set(order) == set(MODULES)
    # The entry point depends on the jobs, and no job on it.
    assert not [m for m, deps in graph.items() if "base" in deps]


def test_knowledge_modules_import_no_private_names() -> None:
    private = [
        f"{module}: {node.module}.{alias.name}"
        for module in MODULES
        for node in _imports(module)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    private += [
        f"{module}: {alias.name}"
        for module in MODULES
        for node in _imports(module)
        if isinstance(node, ast.Import)
        for alias in node.names
        if any(part.startswith("_") for part in alias.name.split("."))
    ]
    assert private == []
