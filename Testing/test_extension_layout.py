"""The Slicer extension layer, checked without Slicer: files, CMake lists, .ui files, module structure."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("CRMAssist", "SpineAssist", "BrainTumorLabel")


def _cmake_listed(cmake_file: Path, module_name: str) -> set[str]:
    text = cmake_file.read_text().replace("${MODULE_NAME}", module_name)
    listed = set()
    for block in re.findall(r"set\(MODULE_PYTHON_(?:SCRIPTS|RESOURCES)\s+(.*?)\)", text, re.S):
        listed |= set(block.split())
    return listed


def test_top_level_cmake_has_metadata_pytorch_dependency_and_every_module():
    text = (ROOT / "CMakeLists.txt").read_text()
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS"):
        assert re.search(rf'set\(EXTENSION_{key} "[^"]+"\)', text), key
    assert "set(EXTENSION_DEPENDS PyTorch)" in text
    assert re.findall(r"add_subdirectory\((\w+)\)", text) == ["AssistCore", *MODULES]


@pytest.mark.parametrize("module", [*MODULES, "AssistCore"])
def test_every_script_and_resource_is_listed_in_the_module_cmake(module):
    folder = ROOT / module
    listed = _cmake_listed(folder / "CMakeLists.txt", module)
    present = {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.suffix in {".py", ".ui", ".png", ".json"}
        and "__pycache__" not in path.parts
        and not path.parts[len(folder.parts)].endswith(".egg-info")
        and path.parts[len(folder.parts)] != "Testing"
        and not (module == "AssistCore" and path.parts[len(folder.parts)] == "radassist")  # the CLI, not in Slicer
    }
    assert present - listed == set(), f"not installed by {module}/CMakeLists.txt"
    assert listed - present == set(), f"listed but missing in {module}"


@pytest.mark.parametrize("module", MODULES)
def test_module_file_follows_the_scripted_module_template(module):
    source = (ROOT / module / f"{module}.py").read_text()
    assert len(source.splitlines()) < 400
    tree = ast.parse(source)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    for suffix in ("", "Widget", "Logic", "Test", "ParameterNode"):
        assert module + suffix in classes, module + suffix
    for needed in ("ScriptedLoadableModuleWidget", "ScriptedLoadableModuleLogic", "ScriptedLoadableModuleTest"):
        assert needed in source
    assert "@parameterNodeWrapper" in source and "slicer.i18n" in source
    assert "pip_install" not in source, "no pip installs in module files"


def test_pip_install_appears_only_inside_a_function_of_the_slicer_installer():
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "pip_install":
                assert path.name == "slicerDependencies.py", path
        for node in tree.body:  # nothing at module level calls it
            assert "pip_install" not in ast.unparse(node) or isinstance(node, ast.FunctionDef | ast.ClassDef), path


def test_widget_helpers_wrap_actions_in_try_with_error_display():
    source = (ROOT / "AssistCore" / "AssistCoreLib" / "widgetHelpers.py").read_text()
    assert source.count("tryWithErrorDisplay") >= 2


@pytest.mark.parametrize("module", MODULES)
def test_ui_file_is_a_qmrmlwidget_with_every_widget_the_code_uses(module):
    tree = ElementTree.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    top = tree.getroot().find("widget")
    assert top.get("class") == "qMRMLWidget"
    names = {widget.get("name") for widget in tree.iter("widget")}
    code = (ROOT / module / f"{module}.py").read_text() + (
        ROOT / "AssistCore" / "AssistCoreLib" / "widgetHelpers.py"
    ).read_text()
    used = set(re.findall(r"self\.ui\.(\w+)", code)) | set(re.findall(r'\("(\w+ComboBox)", "\w+"\)', code))
    assert used - names == set()
    bound = {
        prop.find("string").text
        for widget in tree.iter("widget")
        for prop in widget.findall("property")
        if prop.get("name") == "SlicerParameterName"
    }
    parameter_class = re.search(
        rf"class {module}ParameterNode:(.*?)\n\n\n", (ROOT / module / f"{module}.py").read_text(), re.S
    )
    parameters = set(re.findall(r"^    (\w+):", parameter_class.group(1), re.M))
    assert bound <= parameters, f"widgets bound to unknown parameters: {bound - parameters}"


@pytest.mark.parametrize("icon", [f"{m}/Resources/Icons/{m}.png" for m in MODULES] + ["Resources/Icons/RadAssist.png"])
def test_icons_are_128_pixel_pngs(icon):
    from PIL import Image

    with Image.open(ROOT / icon) as image:
        assert image.format == "PNG" and image.size == (128, 128)


def test_dependency_check_reports_missing_packages(monkeypatch):
    import importlib.util

    from AssistCoreLib import dependencies

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "monai" else real(name))
    assert dependencies.missingRequirements() == ["monai>=1.3"]


def test_pipeline_lookup_says_clearly_when_an_assistant_is_not_in_this_version():
    from assistcore.errors import RadAssistError
    from AssistCoreLib.pipelines import findPipeline

    with pytest.raises(RadAssistError, match="not installed in this version"):
        findPipeline("no_such_assistant")
