"""The package layout shows the architecture: which component may import which, read from the source.

Every import between components (``alchemiscale.<component>``) must be listed in ``ALLOWED``, and the
components import each other without cycles, so each can be read and tested from the bottom up.
A module's ``if __name__ == "__main__":`` block may run the command line and is not counted. A new
dependency means updating ``ALLOWED`` here and the layout in ``docs/architecture.rst`` together.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import alchemiscale

PACKAGE = Path(alchemiscale.__file__).parent

FOUNDATION = {"models", "errors", "settings"}
ALLOWED: dict[str, set[str]] = {
    "models": set(),
    "errors": set(),
    "settings": set(),
    "serialization": {"errors", "models"},
    "security": FOUNDATION,
    "storage": FOUNDATION | {"security", "serialization"},
    "base": FOUNDATION | {"security", "serialization", "storage"},
    "interface": FOUNDATION | {"base", "security", "serialization", "storage"},
    "compute": FOUNDATION | {"base", "security", "serialization", "storage"},
    "protocols": {"compute"},
    "strategist": {"models", "base", "compute", "interface", "storage"},
    "local": {"models", "settings", "security", "storage", "interface", "protocols"},
    "examples": {"models", "interface"},
    "cli": FOUNDATION | {"base", "security", "storage", "compute", "strategist", "local"},
}


def _component(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "alchemiscale" and len(parts) > 1 else None


def _is_main_guard(node: ast.AST) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def _imports(tree: ast.AST, package: str):
    """Absolute names of the modules imported anywhere in ``tree``, outside ``__main__`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if _is_main_guard(node):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.module or ""
        yield from _imports(node, package)


def dependencies() -> dict[str, dict[str, set[str]]]:
    """For each component, the components it imports and the modules that import each."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if "tests" in relative.parts:
            continue
        module = ".".join(relative.parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        source = _component(module)
        if source is None:  # the package's own __init__: the version and lazy client exports
            continue
        for imported in _imports(ast.parse(path.read_text()), package):
            target = _component(imported)
            if target is not None and target != source:
                found.setdefault(source, {}).setdefault(target, set()).add(module)
    return found


def test_every_component_is_listed():
    components = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
                  if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert components - {"tests"} == set(ALLOWED)


def test_components_import_only_what_the_layout_allows():
    unexpected = {
        f"{source} -> {target} (in {', '.join(sorted(modules))})"
        for source, targets in dependencies().items()
        for target, modules in targets.items()
        if target not in ALLOWED[source]
    }
    assert not unexpected, "imports the layout does not allow:\n" + "\n".join(sorted(unexpected))


def test_components_form_no_cycle():
    graph = {source: set(targets) for source, targets in dependencies().items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as e:
        raise AssertionError(f"components import each other in a cycle: {e.args[1]}") from None
    assert order.index("storage") < order.index("base") < order.index("interface") < order.index("cli")


def test_servers_never_reach_the_clients_or_the_command_line():
    deps = dependencies()
    for server_side in ("storage", "base", "security", "serialization"):
        assert not set(deps.get(server_side, {})) & {"interface", "compute", "strategist", "local", "cli"}
    assert not any("cli" in targets for targets in deps.values())
