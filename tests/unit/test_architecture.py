"""The package's shape: layers whose imports only point down, no import cycles, small modules,
documented public names, and runtime dependencies that are really used.

A module's layer is its subpackage (or, for a top-level module, its own name). Every import is
counted, including those inside functions (lazy imports are still dependencies).
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "pytest_macvlan"

#: Lowest first. A module may import from its own layer or a lower one.
LAYERS = ["errors", "wait", "spec", "kernel", "capture", "topology", "report", "runner", "plugin", "cli"]
#: The package's face: it re-exports from every layer, and ``python -m`` runs the command line.
ABOVE_ALL = {"pytest_macvlan", "pytest_macvlan.__main__"}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(name: str, path: Path) -> Iterator[str]:
    """Every pytest_macvlan module ``name`` imports, wherever the import statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.startswith("pytest_macvlan"):
                yield target


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        # "from pytest_macvlan.kernel import rtnl" names the module pytest_macvlan.kernel.rtnl.
        edges[name] = {t for t in imports_of(name, path) if t in mods and t != name}
    return edges


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else len(LAYERS)


def test_every_module_belongs_to_a_layer() -> None:
    strays = [m for m in modules() if m not in ABOVE_ALL and layer(m) == len(LAYERS)]
    assert strays == [], f"modules outside the layers {LAYERS}: {strays}"


def test_imports_point_down() -> None:
    upward = [
        f"{m} (layer {LAYERS[layer(m)]}) imports {t} (layer {LAYERS[layer(t)]})"
        for m, targets in graph().items()
        if m not in ABOVE_ALL
        for t in sorted(targets)
        if layer(t) > layer(m)
    ]
    assert upward == []


def test_no_import_cycles() -> None:
    edges = graph()
    # A package's __init__ is imported with each of its modules: count it as part of the cycle
    # only if it imports something itself (ours import nothing but the top level's lazy exports).
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt in ABOVE_ALL:
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state and start not in ABOVE_ALL:
            visit(start, [start])
    assert cycles == []


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    """The checks above can fail: the graph sees lazy imports inside functions."""
    edges = graph()
    assert "pytest_macvlan.kernel.nsworker" in edges["pytest_macvlan.kernel.features"]  # imported in probe()
    assert layer("pytest_macvlan.plugin.core") > layer("pytest_macvlan.topology.lab")


@pytest.mark.parametrize("module", sorted(modules()))
def test_modules_are_small(module: str) -> None:
    lines = len(modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines (at most {MAX_LINES}): split it by job"


def public_definitions(path: Path) -> Iterator[tuple[str, ast.AST]]:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            if any(ast.unparse(d) in ("overload", "typing.overload") for d in node.decorator_list):
                continue  # a typing stub; the implementation below it carries the docstring
            yield node.name, node
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                        if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                            continue  # a property reads as a name; its class says what it holds
                        yield f"{node.name}.{item.name}", item


def test_every_module_and_public_name_has_a_docstring() -> None:
    missing = []
    for name, path in modules().items():
        if not ast.get_docstring(ast.parse(path.read_text())):
            missing.append(name)
        for qual, node in public_definitions(path):
            if qual.split(".")[-1].startswith("pytest_"):
                continue  # pytest hook implementations: documented by pytest
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if not ast.get_docstring(node):
                missing.append(f"{name}.{qual}")
    assert missing == []


def test_runtime_dependencies_are_imported_by_the_package() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().replace("-", "_") for d in deps}
    imported: set[str] = set()
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    assert sorted(names - imported) == [], "declared but never imported"


def test_the_top_level_exports_match_their_typed_imports() -> None:
    """``pytest_macvlan._EXPORTS`` (what is imported on first use) and the typed imports that
    mypy reads name the same things from the same modules."""
    import pytest_macvlan

    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    typed = {
        alias.asname or alias.name: f"pytest_macvlan.{node.module}"
        for block in tree.body
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    exported = {name: f"pytest_macvlan.{module}" for name, module in pytest_macvlan._EXPORTS.items()}
    assert exported == typed
    for name in pytest_macvlan.__all__:
        assert getattr(pytest_macvlan, name) is not None
