"""The extension's CMake files configure and install against a stand-in Slicer (no Slicer build here).

The stand-in defines what the extension uses from Slicer (the directory variables, the scripted-module
macro with Slicer's check that every listed file exists, the unit-test macro) and installs what the macro
is given; the test then looks at the installed tree the way Slicer and the registry will.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTED = "lib/Slicer-5.8/qt-scripted-modules"
CMAKE_FILES = [
    ROOT / "CMakeLists.txt",
    *sorted(ROOT.glob("*/CMakeLists.txt")),
    *sorted(ROOT.glob("*/Testing/**/CMakeLists.txt")),
]
URL_FIELDS = ("HOMEPAGE", "ICONURL", "SCREENSHOTURLS")
#: Hosts and words that mark a URL as a placeholder rather than the project's real address.
PLACEHOLDERS = re.compile(
    r"example\.(com|org|net)|localhost|127\.0\.0\.1|yourname|your-?name|your-?org|your-?user|todo|fixme|changeme|xxx",
    re.IGNORECASE,
)

STUB_CONFIG = """
set(Slicer_FOUND TRUE)
set(Slicer_USE_FILE ${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake)
set(Slicer_EXTENSION_GENERATE_CONFIG ${CMAKE_CURRENT_LIST_DIR}/Empty.cmake)
set(Slicer_EXTENSION_CPACK ${CMAKE_CURRENT_LIST_DIR}/Empty.cmake)
"""

STUB_USE_FILE = """
set(Slicer_QTSCRIPTEDMODULES_LIB_DIR "@SCRIPTED@")
set(Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR "${Slicer_QTSCRIPTEDMODULES_LIB_DIR}")
set(BUILD_TESTING ON)
function(slicerMacroBuildScriptedModule)
  cmake_parse_arguments(MY "WITH_GENERIC_TESTS;WITH_SUBDIR;VERBOSE" "NAME" "SCRIPTS;RESOURCES" ${ARGN})
  if(MY_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "Unknown keywords: ${MY_UNPARSED_ARGUMENTS}")
  endif()
  foreach(file ${MY_SCRIPTS} ${MY_RESOURCES})
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${file})
      message(FATAL_ERROR "slicerMacroBuildScriptedModule given nonexistent file '${file}'")
    endif()
    get_filename_component(folder ${file} DIRECTORY)
    install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/${file} DESTINATION ${Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR}/${folder})
  endforeach()
endfunction()
function(slicer_add_python_unittest)
  cmake_parse_arguments(MY "" "SCRIPT" "" ${ARGN})
  if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${MY_SCRIPT})
    message(FATAL_ERROR "slicer_add_python_unittest given nonexistent script '${MY_SCRIPT}'")
  endif()
  file(APPEND ${CMAKE_BINARY_DIR}/python-unittests.txt "${MY_SCRIPT}\\n")
endfunction()
"""


def _extension_metadata() -> dict[str, str]:
    text = (ROOT / "CMakeLists.txt").read_text()
    return dict(re.findall(r'set\(EXTENSION_(\w+)\s+"([^"]*)"\)', text))


def test_no_cmake_file_carries_a_placeholder_or_plain_http_url():
    for path in CMAKE_FILES:
        for url in re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"')]+", path.read_text()):
            assert url.startswith("https://"), f"{path.relative_to(ROOT)}: {url} is not https"
            assert not PLACEHOLDERS.search(url), f"{path.relative_to(ROOT)}: {url} is a placeholder"


def test_every_cmake_file_does_something_beyond_comments():
    for path in CMAKE_FILES:
        commands = [
            line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")
        ]
        assert commands, f"{path.relative_to(ROOT)} holds only comments: remove it and its add_subdirectory"


def test_every_extension_url_field_is_empty_or_https_without_placeholder_hosts():
    metadata = _extension_metadata()
    for key in URL_FIELDS:
        assert key in metadata, f"EXTENSION_{key} is not set"
        for url in metadata[key].split():
            assert url.startswith("https://"), f"EXTENSION_{key}: {url}"
            assert not PLACEHOLDERS.search(url), f"EXTENSION_{key}: {url} is a placeholder"


def test_placeholder_check_catches_the_usual_stand_ins():
    for url in (
        "https://example.com/x.png",
        "https://www.example.org",
        "http://localhost:8080",
        "https://github.com/yourname/RadAssist",
        "https://TODO",
    ):
        assert PLACEHOLDERS.search(url), url
    assert not PLACEHOLDERS.search("https://raw.githubusercontent.com/Slicer/Slicer/main/Resources/Slicer.png")


def test_no_pytorch_dependency_and_the_comment_says_which_runtime_runs_the_networks():
    text = (ROOT / "CMakeLists.txt").read_text()
    depends = re.findall(r"^set\(EXTENSION_DEPENDS\s+(.*)\)$", text, re.M)
    assert depends == ['"NA"'], f"the modules depend on no other extension (Slicer's NA), not {depends}"
    assert not re.search(r"^set\(EXTENSION_DEPENDS[^)]*PyTorch", text, re.M)
    comment = text.split("set(EXTENSION_DEPENDS", 1)[0].rsplit("set(EXTENSION_SCREENSHOTURLS", 1)[1]
    # why no PyTorch (ONNX Runtime; torch's triton import crashes an OpenGL process), what a GPU user installs,
    # and where the packages the modules need are listed and installed
    for needed in ("ONNX Runtime", "triton", "OpenGL", "onnxruntime-gpu", "dependencies.py", "slicerDependencies.py"):
        assert needed in comment, needed


@pytest.fixture(scope="module")
def installed_extension(tmp_path_factory):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    work = tmp_path_factory.mktemp("cmake")
    stub = work / "Slicer"
    stub.mkdir()
    (stub / "SlicerConfig.cmake").write_text(STUB_CONFIG)
    (stub / "UseSlicer.cmake").write_text(STUB_USE_FILE.replace("@SCRIPTED@", SCRIPTED))
    (stub / "Empty.cmake").write_text("")
    build, prefix = work / "build", work / "install"
    for command in (
        ["cmake", "-S", str(ROOT), "-B", str(build), f"-DSlicer_DIR={stub}", f"-DCMAKE_INSTALL_PREFIX={prefix}"],
        ["cmake", "--install", str(build)],
    ):
        completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert completed.returncode == 0, completed.stdout + completed.stderr
    return build, prefix


def test_every_module_installs_its_script_ui_and_icon_into_the_scripted_modules_folder(installed_extension):
    _, prefix = installed_extension
    scripted = prefix / SCRIPTED
    for module in ("CRMAssist", "SpineAssist", "BrainTumorLabel", "BreastUSAssist"):
        for relative in (
            f"{module}.py",
            f"{module}Lib/__init__.py",
            f"Resources/UI/{module}.ui",
            f"Resources/Icons/{module}.png",
        ):
            assert (scripted / relative).is_file(), relative
    for relative in (
        "AssistCore.py",
        "AssistCoreLib/widgetHelpers.py",
        "assistcore/__init__.py",
        "assistcore/schemas/model_card.schema.json",
    ):
        assert (scripted / relative).is_file(), relative


def test_bundled_models_land_where_the_installed_registry_looks_for_them(installed_extension):
    build, prefix = installed_extension
    expected = sorted(path.parent.name for path in (ROOT / "Resources" / "Models").glob("[!.]*/model_card.json"))
    assert expected
    # the installed assistcore, imported from the installed tree, with no environment override
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from assistcore.models.registry import ModelRegistry, bundled_models_dir;"
        "print(bundled_models_dir()); print(' '.join(sorted(e.card.id for e in ModelRegistry().list())))"
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RADASSIST_")}
    environment["RADASSIST_USER_MODELS"] = str(prefix / "no-user-models")
    completed = subprocess.run(
        [sys.executable, "-c", code, str(prefix / SCRIPTED)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    folder, ids = completed.stdout.splitlines()
    assert Path(folder).resolve().is_relative_to(prefix.resolve())
    card_ids = sorted(
        json.loads(path.read_text())["id"] for path in (ROOT / "Resources" / "Models").glob("[!.]*/model_card.json")
    )
    assert ids.split() == card_ids
    # the build tree (running Slicer from the build folder) gets the same copy beside its scripted modules
    models = Path(os.path.normpath(build / SCRIPTED / ".." / "Resources" / "Models"))
    assert sorted(path.parent.name for path in models.glob("*/model_card.json")) == expected


def test_each_module_registers_its_self_test(installed_extension):
    build, _ = installed_extension
    registered = (build / "python-unittests.txt").read_text().split()
    assert sorted(registered) == ["BrainTumorLabel.py", "BreastUSAssist.py", "CRMAssist.py", "SpineAssist.py"]
