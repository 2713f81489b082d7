"""The core stays pure: no Slicer, VTK, Qt or CTK anywhere, and no torch at import time."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

CORE_DIR = Path(__file__).resolve().parents[1] / "AssistCore" / "assistcore"
GUI_TOPLEVEL = {"slicer", "vtk", "qt", "ctk", "mrml", "vtkmodules", "PythonQt"}
# The core sits below the adapters and the application layer and never reaches up to them.
UPPER_LAYERS = {"AssistCoreLib", "radassist"}
HEAVY_TOPLEVEL = {"torch", "torchvision", "monai"}


def _loaded_top_level_modules(code: str) -> set[str]:
    script = code + "\nimport sys, json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(completed.stdout.strip().splitlines()[-1]))


def test_importing_assistcore_loads_no_gui_toolkit_and_no_torch():
    loaded = _loaded_top_level_modules("import assistcore")
    assert not loaded & (GUI_TOPLEVEL | HEAVY_TOPLEVEL | {"SimpleITK", "pydicom"}), loaded & (
        GUI_TOPLEVEL | HEAVY_TOPLEVEL
    )


def test_importing_every_core_module_but_the_torch_implementations_loads_no_gui_toolkit_and_no_torch():
    code = (
        "import pkgutil, importlib, assistcore\n"
        "for info in pkgutil.walk_packages(assistcore.__path__, 'assistcore.'):\n"
        "    if not info.name.endswith('_torch'):\n"  # torch implementations, imported by functions on first use
        "        importlib.import_module(info.name)\n"
    )
    loaded = _loaded_top_level_modules(code)
    assert not loaded & GUI_TOPLEVEL
    assert not loaded & HEAVY_TOPLEVEL, "torch/MONAI must be imported inside the functions that need them"


def test_no_core_source_file_imports_slicer_vtk_qt_ctk_or_upper_layers_even_inside_functions():
    offenders = []
    for path in CORE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.name}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] in GUI_TOPLEVEL | UPPER_LAYERS
            ]
    assert not offenders, offenders
