"""The Slicer extension layer, checked without Slicer: files, CMake lists, .ui files, module structure."""

from __future__ import annotations

import ast
import hashlib
import json
import py_compile
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("CRMAssist", "SpineAssist", "BrainTumorLabel", "BreastUSAssist")
WIDGET_HELPERS = ROOT / "AssistCore" / "AssistCoreLib" / "widgetHelpers.py"

#: The inputs each module's parameter node must hold (the issue's list), with the defaults that matter.
PARAMETERS = {
    "CRMAssist": {"t2Volume", "modelId", "device", "threshold"},
    "SpineAssist": {"sagittalT2", "sagittalT1", "axialT2", "modelId", "device"},
    "BrainTumorLabel": {
        "t1Volume",
        "t1cVolume",
        "t2Volume",
        "flairVolume",
        "tumorType",
        "modelId",
        "device",
        "fastMode",
        "testTimeAugmentation",
    },
    "BreastUSAssist": {"inputBrowser", "cinePath", "modelId", "device", "threshold", "iouFuse"},
}


def _cmake_listed(cmake_file: Path, module_name: str) -> set[str]:
    text = cmake_file.read_text().replace("${MODULE_NAME}", module_name)
    listed = set()
    for block in re.findall(r"set\(MODULE_PYTHON_(?:SCRIPTS|RESOURCES)\s+(.*?)\)", text, re.S):
        listed |= set(block.split())
    return listed


def _class_body(module: str, name: str) -> ast.ClassDef:
    tree = ast.parse((ROOT / module / f"{module}.py").read_text())
    return next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name)


def _parameter_fields(module: str) -> dict[str, ast.AnnAssign]:
    body = _class_body(module, f"{module}ParameterNode").body
    return {node.target.id: node for node in body if isinstance(node, ast.AnnAssign)}


def test_top_level_cmake_has_metadata_no_extension_dependency_and_every_module():
    text = (ROOT / "CMakeLists.txt").read_text()
    for key in ("CATEGORY", "CONTRIBUTORS", "DESCRIPTION"):
        assert re.search(rf'set\(EXTENSION_{key} "[^"]+"\)', text), key
    # URL fields are present; empty until the project has a public home (test_extension_cmake checks them)
    for key in ("HOMEPAGE", "ICONURL", "SCREENSHOTURLS"):
        assert re.search(rf'set\(EXTENSION_{key} "[^"]*"\)', text), key
    assert 'set(EXTENSION_DEPENDS "NA")' in text, "no PyTorch extension: the modules run ONNX Runtime"
    assert re.findall(r"add_subdirectory\((\w+)\)", text) == ["AssistCore", *MODULES]
    assert "find_package(Slicer REQUIRED)" in text and "include(${Slicer_USE_FILE})" in text
    assert "include(${Slicer_EXTENSION_CPACK})" in text


def test_extension_icon_and_screenshot_exist_and_any_url_given_points_at_them():
    assert (ROOT / "Resources" / "Icons" / "RadAssist.png").is_file()
    assert (ROOT / "Resources" / "Screenshots" / "BrainTumorLabel.png").is_file()
    text = (ROOT / "CMakeLists.txt").read_text()
    for key, expected in (("ICONURL", "Resources/Icons/"), ("SCREENSHOTURLS", "Resources/Screenshots/")):
        for url in re.search(rf'set\(EXTENSION_{key} "([^"]*)"\)', text).group(1).split():
            relative = url[url.index(expected) :] if expected in url else url
            assert (ROOT / relative).is_file(), f"{key} {url} names no file of the repository"


# ----- licence and third-party notices ----------------------------------------------------------------
#: sha256 of the Apache License 2.0 as www.apache.org/licenses/LICENSE-2.0.txt distributes it.
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
COPYRIGHT = "Copyright 2026 RadAssist contributors"
NOTICES = ROOT / "THIRD_PARTY_NOTICES.md"


def test_license_is_the_apache_2_text_with_the_project_copyright_in_its_appendix():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    for sentence in (
        "Apache License\n                           Version 2.0, January 2004",
        "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
        "Grant of Patent License. Subject to the terms and conditions of",
        'If the Work includes a "NOTICE" text file as part of its\n          distribution',
        "END OF TERMS AND CONDITIONS",
        "APPENDIX: How to apply the Apache License to your work.",
    ):
        assert sentence in text, sentence
    assert text.count(COPYRIGHT) == 1 and "[yyyy]" not in text
    # the standard text, word for word, apart from the appendix's copyright line filled in
    standard = text.replace(f"   {COPYRIGHT}\n", "   Copyright [yyyy] [name of copyright owner]\n")
    assert hashlib.sha256(standard.encode("utf-8")).hexdigest() == APACHE_2_SHA256


def test_pyproject_declares_the_same_licence():
    assert re.search(r'^license = "Apache-2.0"$', (ROOT / "pyproject.toml").read_text(), re.M)


def _notice_rows(heading: str) -> list[list[str]]:
    """The cells of the markdown table under ``heading`` in THIRD_PARTY_NOTICES.md (header rows dropped)."""
    section = NOTICES.read_text(encoding="utf-8").split(heading, 1)[1]
    rows = []
    for line in section.split("\n#", 1)[0].splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:]


def _model_cards() -> dict[str, dict]:
    return {
        path.parent.name: json.loads(path.read_text())
        for path in sorted((ROOT / "Resources" / "Models").glob("[!.]*/model_card.json"))
    }


def test_notices_name_every_bundled_model_with_its_training_data_networks_and_licence():
    cards = _model_cards()
    assert cards
    rows = {row[0].strip("`"): " | ".join(row[1:]) for row in _notice_rows("## Bundled models")}
    assert set(rows) == set(cards), "one row per folder of Resources/Models"
    for folder, card in cards.items():
        row = rows[folder]
        assert "Apache-2.0" in row, folder
        if card.get("synthetic_training_data"):
            assert "synthetic" in row, folder
        targets = [card["network"]["_target_"]]
        targets += [part["network"]["_target_"] for part in card.get("components", {}).values() if "network" in part]
        converted = "deepmedic" in targets[0].lower()  # third-party weights under their own licence
        if converted:
            assert "SBIA Software License" in row and "modified version" in row and "Kamnitsas" in row, folder
            assert (ROOT / "Resources" / "Models" / folder / "SBIA_license.txt").is_file(), "Part B travels along"
        for target in [] if converted else targets:
            library = "MONAI" if target.startswith("monai.") else "torchvision"
            assert library in row, f"{folder}: {target} comes from {library}"
        # the ONNX files are graphs of the library's network code: the row names each with that code's licence
        programs = [card.get("exported_program")]
        programs += [part.get("exported_program") for part in card.get("components", {}).values()]
        for program in filter(None, programs):
            assert program["format"] == "onnx" and f"`{program['file']}`" in row, f"{folder}: {program['file']}"
        licence = "SBIA" if converted else "Apache-2.0" if targets[0].startswith("monai.") else "BSD-3-Clause"
        assert licence in row, folder
    assert not re.search(r"\.pt2\b|\bmodel\.ts\b|TorchScript|torch\.export", NOTICES.read_text(encoding="utf-8"))
    assert "weights=None" in (ROOT / "AssistCore" / "assistcore" / "detectors" / "network.py").read_text()


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared_licence(metadata) -> str:
    """What the notices quote: License-Expression, else a one-line License field, else the licence classifiers."""
    if metadata.get("License-Expression"):
        return metadata["License-Expression"]
    licence = (metadata.get("License") or "").strip()
    if licence and "\n" not in licence and len(licence) <= 80:
        return licence
    return "; ".join(c for c in metadata.get_all("Classifier") or [] if c.startswith("License ::"))


def _package_rows() -> dict[str, list[str]]:
    rows = _notice_rows("### Runtime dependencies") + _notice_rows("### Packages they bring along")
    return {_normalized(row[0]): row for row in rows}


def test_notices_list_every_dependency_of_the_project_and_of_the_slicer_installer():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from AssistCoreLib import dependencies

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"]) + list(dependencies.REQUIREMENTS.values())
    for extra in ("ml", "slicer", "dicom-write"):
        requirements += project["optional-dependencies"][extra]
    listed = _package_rows()
    for requirement in requirements:
        name = _normalized(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
        assert name in listed, f"{requirement} is not in THIRD_PARTY_NOTICES.md"


def test_each_licence_the_notices_list_is_the_one_the_installed_package_declares():
    import importlib.metadata

    checked = 0
    for name, row in _package_rows().items():
        quoted = re.findall(r"`([^`]+)`", row[2])
        assert len(quoted) == 1, f"{name}: one quoted licence in the third column"
        try:
            metadata = importlib.metadata.metadata(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here (a lighter environment): nothing to compare with
        assert quoted[0] == _declared_licence(metadata), f"{name} {metadata['Version']}"
        checked += 1
    assert checked >= 10, "the development environment has most of these packages"


@pytest.mark.parametrize("module", [*MODULES, "AssistCore"])
def test_every_script_and_resource_is_listed_in_the_module_cmake(module):
    folder = ROOT / module
    listed = _cmake_listed(folder / "CMakeLists.txt", module)
    present = {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if (path.suffix in {".py", ".ui", ".png", ".json"} or path.name.endswith(".nii.gz"))
        and "__pycache__" not in path.parts
        and not path.parts[len(folder.parts)].endswith(".egg-info")
        and path.parts[len(folder.parts)] != "Testing"
        and not (module == "AssistCore" and path.parts[len(folder.parts)] == "radassist")  # the CLI, not in Slicer
    }
    assert present - listed == set(), f"not installed by {module}/CMakeLists.txt"
    assert listed - present == set(), f"listed but missing in {module}"


@pytest.mark.parametrize("module", MODULES)
def test_module_folder_has_its_lib_package_ui_icon_and_self_test_registration(module):
    folder = ROOT / module
    for relative in (
        f"{module}.py",
        f"{module}Lib/__init__.py",
        f"Resources/UI/{module}.ui",
        f"Resources/Icons/{module}.png",
    ):
        assert (folder / relative).is_file(), relative
    cmake = (folder / "CMakeLists.txt").read_text()
    assert "slicerMacroBuildScriptedModule(" in cmake
    assert re.search(r"slicer_add_python_unittest\(SCRIPT \$\{MODULE_NAME\}\.py\)", cmake)


def test_assistcore_cmake_installs_the_bundled_models_where_the_registry_looks():
    cmake = (ROOT / "AssistCore" / "CMakeLists.txt").read_text()
    assert "../Resources/Models" in cmake
    assert re.search(r"install\(DIRECTORY \$\{RADASSIST_MODELS_SOURCE_DIR\}", cmake)
    assert "${Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR}/../Resources" in cmake


@pytest.mark.parametrize(
    "path",
    [f"{m}/{m}.py" for m in MODULES]
    + [f"{m}/{m}Lib/__init__.py" for m in MODULES]
    + [
        "AssistCore/AssistCore.py",
        *(str(p.relative_to(ROOT)) for p in (ROOT / "AssistCore/AssistCoreLib").glob("*.py")),
    ],
)
def test_slicer_side_python_files_compile(path, tmp_path):
    py_compile.compile(str(ROOT / path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)


@pytest.mark.parametrize("module", MODULES)
def test_module_file_follows_the_scripted_module_template(module):
    source = (ROOT / module / f"{module}.py").read_text()
    assert len(source.splitlines()) < 400
    tree = ast.parse(source)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    for suffix in ("", "Widget", "Logic", "Test", "ParameterNode"):
        assert module + suffix in classes, module + suffix
    bases = {name: {ast.unparse(base) for base in node.bases} for name, node in classes.items()}
    assert "ScriptedLoadableModule" in bases[module]
    assert "ScriptedLoadableModuleWidget" in bases[f"{module}Widget"]
    assert "ScriptedLoadableModuleLogic" in bases[f"{module}Logic"]
    assert "ScriptedLoadableModuleTest" in bases[f"{module}Test"]
    decorators = {ast.unparse(d) for d in classes[f"{module}ParameterNode"].decorator_list}
    assert decorators == {"parameterNodeWrapper"}
    # that the widget's actions show their errors is tested by running them (test_module_callbacks.py)
    for needed in ("slicer.i18n", "self.parent.helpText = _(", '"AssistCore"'):
        assert needed in source, needed
    assert "pip_install" not in source, "no pip installs in module files"


@pytest.mark.parametrize("module", MODULES)
def test_parameter_node_holds_the_inputs_the_module_needs(module):
    fields = _parameter_fields(module)
    assert PARAMETERS[module] <= set(fields), PARAMETERS[module] - set(fields)
    assert ast.unparse(fields["device"].value) == "'auto'"
    assert ast.unparse(fields["modelId"].value) == "''"
    volumes = {name for name, node in fields.items() if ast.unparse(node.annotation) == "vtkMRMLScalarVolumeNode"}
    assert volumes == {name for name in PARAMETERS[module] if name.endswith(("Volume", "T1", "T2"))}


def test_crm_operating_threshold_defaults_to_the_source_study_value():
    fields = _parameter_fields("CRMAssist")
    assert ast.literal_eval(fields["threshold"].value) == 0.7
    assert "WithinRange(0.0, 1.0)" in ast.unparse(fields["threshold"].annotation)


@pytest.mark.parametrize("module", MODULES)
def test_logic_starts_the_named_pipeline_with_plain_arguments(module):
    logic = _class_body(module, f"{module}Logic")
    methods = {node.name: node for node in logic.body if isinstance(node, ast.FunctionDef)}
    assert {"getParameterNode", "start", "showResult"} <= set(methods)
    start = ast.unparse(methods["start"])
    assert "startPipeline(" in start or "startCinePipeline(" in start  # a cine, not volume nodes, for BreastUS
    assert "_parameterNode" not in start and "self.ui" not in start, "the logic takes plain arguments"


@pytest.mark.parametrize("module", ["CRMAssist", "SpineAssist"])
def test_logic_run_waits_for_the_result_of_start(module):
    logic = _class_body(module, f"{module}Logic")
    run = next(node for node in logic.body if isinstance(node, ast.FunctionDef) and node.name == "run")
    assert ".result(timeout=None)" in ast.unparse(run) and "self.start(" in ast.unparse(run)


def test_assistcore_is_a_hidden_module_that_never_installs_at_import():
    source = (ROOT / "AssistCore" / "AssistCore.py").read_text()
    assert "self.parent.hidden = True" in source
    assert "pip_install(" not in ast.unparse(
        [node for node in ast.parse(source).body if not isinstance(node, ast.ClassDef)]
    )


def test_pip_install_appears_only_inside_a_function_of_the_slicer_installer():
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "pip_install"
        ]
        if not calls:
            continue
        assert path.relative_to(ROOT) == Path("AssistCore/AssistCoreLib/slicerDependencies.py"), path
        inside_functions = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef)
            for node in ast.walk(function)
        }
        assert all(id(call) in inside_functions for call in calls), f"pip_install at module level in {path}"


@pytest.mark.parametrize("module", MODULES)
def test_ui_file_is_a_qmrmlwidget_with_every_widget_the_code_uses(module):
    tree = ElementTree.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    top = tree.getroot().find("widget")
    assert top.get("class") == "qMRMLWidget"
    names = {widget.get("name") for widget in tree.iter("widget")}
    code = (ROOT / module / f"{module}.py").read_text() + WIDGET_HELPERS.read_text()
    used = set(re.findall(r"self\.ui\.(\w+)", code)) | set(re.findall(r'\("(\w+ComboBox)", "\w+"\)', code))
    assert used - names == set()
    bound = {
        prop.find("string").text
        for widget in tree.iter("widget")
        for prop in widget.findall("property")
        if prop.get("name") == "SlicerParameterName"
    }
    assert bound <= set(_parameter_fields(module)), f"widgets bound to unknown parameters: {bound}"


@pytest.mark.parametrize("module", MODULES)
def test_ui_volume_selectors_are_bound_scalar_volume_combo_boxes(module):
    tree = ElementTree.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    selectors = [widget for widget in tree.iter("widget") if widget.get("class") == "qMRMLNodeComboBox"]
    fields = _parameter_fields(module)
    volumes = {name for name, node in fields.items() if "vtkMRML" in ast.unparse(node.annotation)}
    boundTo = set()
    for selector in selectors:
        properties = {prop.get("name"): prop for prop in selector.findall("property")}
        parameter = properties["SlicerParameterName"].find("string").text
        # each selector offers exactly its parameter's node class (scalar volumes; BreastUS: a sequence browser)
        assert [s.text for s in properties["nodeTypes"].iter("string")] == [ast.unparse(fields[parameter].annotation)]
        boundTo.add(parameter)
    assert boundTo == volumes, "every node parameter has exactly one selector"
    sections = {
        widget.find("property/string").text
        for widget in tree.iter("widget")
        if widget.get("class") == "ctkCollapsibleButton"
    }
    assert {"Inputs", "Model"} <= sections
    classes = {widget.get("name"): widget.get("class") for widget in tree.iter("widget")}
    for name, cls in (
        ("modelComboBox", "QComboBox"),
        ("deviceComboBox", "QComboBox"),
        ("runButton", "QPushButton"),
        ("cancelButton", "QPushButton"),
        ("progressBar", "QProgressBar"),
        ("statusLabel", "QLabel"),
        ("demoWarningLabel", "QLabel"),
    ):
        assert classes.get(name) == cls, name


@pytest.mark.parametrize("icon", [f"{m}/Resources/Icons/{m}.png" for m in MODULES] + ["Resources/Icons/RadAssist.png"])
def test_icons_are_128_pixel_pngs(icon):
    from PIL import Image

    with Image.open(ROOT / icon) as image:
        assert image.format == "PNG" and image.size == (128, 128)


def test_dependency_check_reports_missing_packages(monkeypatch):
    import importlib.util

    from AssistCoreLib import dependencies

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else real(name))
    assert dependencies.missingRequirements() == ["onnxruntime>=1.16"]


def test_dependency_check_lists_every_missing_package_in_order_and_checks_only_those_asked(monkeypatch):
    import importlib.util

    from AssistCoreLib import dependencies

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert dependencies.missingRequirements() == list(dependencies.REQUIREMENTS.values())
    assert dependencies.missingRequirements(["sklearn"]) == ["scikit-learn>=1.3"]
    for name in ("torch", "torchvision", "monai"):  # ONNX Runtime runs the networks; their import crashes Slicer
        assert name not in dependencies.REQUIREMENTS, name


def test_dependency_check_counts_a_module_imported_without_a_spec_as_present(monkeypatch):
    import importlib.util

    from AssistCoreLib import dependencies

    def find_spec(name):
        raise ValueError(f"{name}.__spec__ is None")

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert dependencies.missingRequirements() == []


def test_pipeline_lookup_says_clearly_when_an_assistant_is_not_in_this_version():
    from assistcore.errors import RadAssistError
    from AssistCoreLib.pipelines import findPipeline

    with pytest.raises(RadAssistError, match="not installed in this version"):
        findPipeline("no_such_assistant")
