"""Code-health rules that ruff does not check: no hand formatting, and files and functions a reader can hold.

``ruff format --check`` runs in ``make test`` and ``make lint``; a ``# fmt: skip`` or ``# fmt: off`` would let a
squeezed block past it, so none may remain. The size limits (400 lines a file, 80 a function) are the project's
(STYLE.md) for the Python that ships: the core, the command line, the Slicer side and the modules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("AssistCore/assistcore", "AssistCore/radassist", "AssistCore/AssistCoreLib", "AssistCore/AssistCore.py")
MODULES = ("BrainTumorLabel", "SpineAssist", "CRMAssist", "BreastUSAssist")
#: everything that ships: the core, the command line and Station, the Slicer side and the modules
SIZED = (*SHIPPED, *MODULES)
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80
FORMATTER_OFF = re.compile(r"#\s*fmt:\s*(skip|off)\b")


def _python_files(*roots: str) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        path = ROOT / root
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [file for file in files if "__pycache__" not in file.parts]


def test_no_python_file_switches_the_formatter_off():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _python_files(*SHIPPED, *MODULES, "Testing")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FORMATTER_OFF.search(line) and path != Path(__file__).resolve()
    ]
    assert offenders == [], "format these by ruff instead of by hand"


@pytest.mark.parametrize("root", SIZED)
def test_files_and_functions_stay_readable(root):
    too_long = []
    for path in _python_files(root):
        source = path.read_text()
        name = path.relative_to(ROOT)
        if source.count("\n") > MAX_FILE_LINES:
            too_long.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert too_long == [], f"split these (at most {MAX_FILE_LINES} lines a file, {MAX_FUNCTION_LINES} a function)"
