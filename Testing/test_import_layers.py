"""Import layering of the core: no module imports, even inside a function, a module that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "AssistCore" / "assistcore"
#: the parts of the core whose imports must form no cycle (module names relative to assistcore)
CHECKED = (
    "models",
    "breastus",
    "detectors",
    "crm",
    "brain",
    "metrics",
    "image_io",
    "dicom_series",
    "pipelines.breast_us",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of assistcore that ``path`` imports anywhere in its code (relative imports resolved)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1] if node.level > 1 else package
            target = ".".join([*base, *([node.module] if node.module else [])])
            found.add(target)
            found.update(f"{target}.{alias.name}" if target else alias.name for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    checked = {name for name in modules if any(name == c or name.startswith(c) for c in CHECKED)}
    return {name: _imports(modules[name]) & checked for name in checked}


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for target in sorted(graph.get(node, ())):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_the_import_graph_finds_a_cycle_when_there_is_one():
    assert _cycle_from("a", {"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle_from("a", {"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", CHECKED)
def test_no_import_cycle_in_the_core(package):
    graph = _graph()
    for name in sorted(n for n in graph if n == package or n.startswith(package)):
        cycle = _cycle_from(name, graph)
        assert cycle is None, " -> ".join(cycle)


def test_loading_a_model_never_imports_the_exporter():
    assert "models.exporting" not in _imports(PACKAGE / "models" / "loader.py")
    assert "brain.training" not in _imports(PACKAGE / "brain" / "model.py")
