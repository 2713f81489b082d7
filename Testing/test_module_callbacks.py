"""The four module widgets' result and observer callbacks, driven without Slicer: an error reaches the user (an error
box through ``slicer.util.tryWithErrorDisplay``) and the panel is usable again (Run enabled, progress reset).

The module files are loaded against stand-ins for ``slicer`` (ScriptedLoadableModule, parameterNodeWrapper, util,
i18n) and ``qt`` (as in test_slicer_glue.py), with the real RunController and AssistantWidget; the widget's ``ui`` is
made of recording stand-in widgets and its logic is a stub whose methods fail as a scene that refuses a result would.
What the stand-ins cannot show (Qt's event loop, real message boxes) is left to Slicer.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
from test_slicer_glue import Timer, Widget, recordingTryWithErrorDisplay

from assistcore.errors import InputError
from assistcore.models.runner import start_in_thread

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("BrainTumorLabel", "CRMAssist", "SpineAssist", "BreastUSAssist")
#: ui widgets every module has (AssistantWidget's), then each module's own that its callbacks touch
COMMON_UI = ("progressBar", "statusLabel", "runButton", "cancelButton")
MODULE_UI = {
    "BrainTumorLabel": ("editButton", "qaButton", "exportButton"),
    "CRMAssist": ("slicesTableView", "thresholdSlider", "verdictLabel", "acceptButton", "rejectButton", "exportButton"),
    "SpineAssist": (
        "findingsTableView",
        "resultDemoLabel",
        "labellingLabel",
        "warningsLabel",
        "axialLevelLabel",
        "applyFindingButton",
        "exportButton",
    ),
    "BreastUSAssist": (
        "detectionsTableView",
        "resultDemoLabel",
        "acceptButton",
        "rejectButton",
        "exportButton",
        "frameLabel",
        "thresholdSlider",
        "noteLineEdit",
        "annotatorLineEdit",
        "saveDescriptorsButton",
        "descriptorsLabel",
    ),
}
#: parameter node values with the inputs selected (so the Run button is enabled once a run ends)
PARAMETERS = {
    "BrainTumorLabel": {"t1cVolume": "t1c", "flairVolume": "flair"},
    "CRMAssist": {"t2Volume": "t2"},
    "SpineAssist": {"sagittalT2": "sagittal", "axialT2": None, "sagittalT1": None},
    "BreastUSAssist": {"inputBrowser": None, "cinePath": "/cines/case1.dcm"},
}


class UiWidget(Widget):
    """A stand-in widget with the extra calls the module panels make."""

    def __init__(self) -> None:
        super().__init__()
        self.table = "none yet"

    def setMRMLTableNode(self, node) -> None:
        self.table = node


class Slot:
    """A stand-in for ScriptedLoadableModule's classes and the parameter node decorators' arguments."""

    def __init__(self, *args, **kwargs) -> None:
        pass


class ObservationMixin:
    """slicer.util.VTKObservationMixin: records what is observed."""

    def __init__(self) -> None:
        self.observed: list[tuple] = []

    def addObserver(self, node, event, callback) -> None:
        self.observed.append((node, event, callback))

    def removeObserver(self, node, event, callback) -> None:
        self.observed.remove((node, event, callback))


@pytest.fixture
def stand_ins(monkeypatch):
    """``slicer`` and ``qt`` stand-ins for loading a module file; errorDisplay calls are recorded in ``calls``."""
    calls: list[tuple] = []
    util = types.SimpleNamespace(
        errorDisplay=lambda text, **kwargs: calls.append(("errorDisplay", text)),
        tryWithErrorDisplay=recordingTryWithErrorDisplay(calls),
        infoDisplay=lambda text, **kwargs: calls.append(("infoDisplay", text)),
        VTKObservationMixin=ObservationMixin,
    )
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr = lambda text: text
    i18n.translate = lambda context, text: text
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.Choice = wrapper.WithinRange = Slot
    wrapper.parameterNodeWrapper = lambda cls: cls
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")
    for name in (
        "ScriptedLoadableModule",
        "ScriptedLoadableModuleLogic",
        "ScriptedLoadableModuleTest",
        "ScriptedLoadableModuleWidget",
    ):
        setattr(scripted, name, type(name, (Slot,), {}))
    slicer = types.ModuleType("slicer")
    slicer.util, slicer.i18n, slicer.mrmlScene = util, i18n, object()
    slicer.vtkMRMLScalarVolumeNode = slicer.vtkMRMLSequenceBrowserNode = Slot
    qt = types.ModuleType("qt")
    qt.QTimer = Timer
    qt.Qt = types.SimpleNamespace(ToolTipRole=3)
    modules = {
        "slicer": slicer,
        "slicer.i18n": i18n,
        "slicer.util": util,
        "qt": qt,
        "slicer.parameterNodeWrapper": wrapper,
        "slicer.ScriptedLoadableModule": scripted,
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    for module in MODULES:
        monkeypatch.syspath_prepend(str(ROOT / module))
    before = set(sys.modules)
    yield types.SimpleNamespace(calls=calls, slicer=slicer)
    # modules imported against the stand-ins must not outlive them (later tests import the real slicer)
    for name in set(sys.modules) - before:
        if name.startswith(("AssistCoreLib.widgetHelpers", "_module_under_test_")):
            del sys.modules[name]
    import AssistCoreLib

    if hasattr(AssistCoreLib, "widgetHelpers"):
        del AssistCoreLib.widgetHelpers


class FailingLogic:
    """A module logic whose scene calls fail, as a scene that refuses the result would."""

    def __init__(self, **methods) -> None:
        self.__dict__.update(methods)

    @staticmethod
    def refuse(*args, **kwargs):
        raise RuntimeError("the scene refused the result")


def _widget(module: str, logic, **attributes):
    """The module's widget with stand-in ui widgets, ``logic`` and a parameter node holding the inputs."""
    path = ROOT / module / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"_module_under_test_{module}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    widget = getattr(loaded, f"{module}Widget")()
    widget.ui = types.SimpleNamespace(**{name: UiWidget() for name in (*COMMON_UI, *MODULE_UI[module])})
    widget.logic = logic
    widget._parameterNode = types.SimpleNamespace(**PARAMETERS[module])
    widget.runController = sys.modules["AssistCoreLib.widgetHelpers"].RunController(
        widget.ui.progressBar, widget.ui.statusLabel, widget.ui.runButton, widget.ui.cancelButton
    )
    for name, value in attributes.items():
        setattr(widget, name, value)
    return widget


def _runToEnd(widget, outcome) -> None:
    """Start a run that ends with ``outcome`` (a result, or an exception it raises) as the Run button does, then
    poll once as the timer does."""

    def pipeline(images, options, progress=None, cancel_token=None):
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    handle = start_in_thread(pipeline, {}, {})
    widget.runController.start(handle, widget._onRunDone, widget._onRunFailed)
    widget.updateRunButton()
    assert not widget.ui.runButton.enabled
    assert handle.wait(10)
    widget.runController.poll()  # a timer callback: nothing may escape it


def _shownOnce(stand_ins, *texts) -> None:
    [(kind, text)] = stand_ins.calls
    assert kind == "errorDisplay"
    for expected in texts:
        assert expected in text, text


def _usableAfterFailure(widget) -> None:
    ui = widget.ui
    assert ui.runButton.enabled and not ui.cancelButton.enabled and not widget.runController.timer.active
    assert ui.progressBar.value == 0 and ui.statusLabel.text.startswith("Failed")


START_STATE = {
    "BrainTumorLabel": {"segmentationNode": None},
    "CRMAssist": {"resultNodes": None},
    "SpineAssist": {"resultNodes": None, "axialSeries": [], "redSliceNode": None},
    "BreastUSAssist": {"resultNodes": None, "observedBrowser": None},
}
RESULT_BUTTONS = {
    "BrainTumorLabel": ("editButton", "qaButton", "exportButton"),
    "CRMAssist": ("acceptButton", "rejectButton", "exportButton"),
    "SpineAssist": ("applyFindingButton", "exportButton"),
    "BreastUSAssist": ("acceptButton", "rejectButton", "exportButton"),
}


@pytest.mark.parametrize("module", MODULES)
def test_a_result_the_scene_refuses_is_shown_and_the_panel_is_usable_again(stand_ins, module):
    widget = _widget(module, FailingLogic(showResult=FailingLogic.refuse), **START_STATE[module])
    for name in RESULT_BUTTONS[module]:
        getattr(widget.ui, name).enabled = False
    _runToEnd(widget, object())
    _shownOnce(stand_ins, "Could not add the result to the scene.", "the scene refused the result")
    _usableAfterFailure(widget)
    assert "the scene refused the result" in widget.ui.statusLabel.text
    assert not any(getattr(widget.ui, name).enabled for name in RESULT_BUTTONS[module]), "no result to act on"


@pytest.mark.parametrize("module", MODULES)
def test_a_run_that_fails_in_the_worker_is_shown_and_the_panel_is_usable_again(stand_ins, module):
    widget = _widget(module, FailingLogic(showResult=FailingLogic.refuse), **START_STATE[module])
    _runToEnd(widget, InputError("Volume 'T2' is 2D.", "Select a 3D series."))
    _shownOnce(stand_ins, "The assistant failed.", "Volume 'T2' is 2D. Select a 3D series.")
    _usableAfterFailure(widget)


def test_brain_result_enables_edit_qa_and_export_and_a_later_refused_result_keeps_them_on_the_first(stand_ins):
    logic = FailingLogic(showResult=lambda result: f"segmentation of {result}")
    widget = _widget("BrainTumorLabel", logic, segmentationNode=None)
    _runToEnd(widget, "run 1")
    assert stand_ins.calls == [] and widget.ui.statusLabel.text == "Done." and widget.ui.progressBar.value == 100
    assert widget.segmentationNode == "segmentation of run 1" and widget.ui.qaButton.enabled
    logic.showResult = FailingLogic.refuse
    _runToEnd(widget, "run 2")
    _shownOnce(stand_ins, "the scene refused the result")
    assert widget.segmentationNode == "segmentation of run 1" and widget.ui.qaButton.enabled
    _usableAfterFailure(widget)


def test_brain_result_shows_missing_sequences_and_label_notes_beside_done(stand_ins):
    import types

    logic = FailingLogic(showResult=lambda result: "segmentation")
    widget = _widget("BrainTumorLabel", logic, segmentationNode=None)
    result = types.SimpleNamespace(provenance={"warnings": ["T2 was not given."], "label_notes": ["Merged classes."]})
    _runToEnd(widget, result)
    assert widget.ui.statusLabel.text == "Done. T2 was not given. Merged classes."


def test_brain_run_passes_the_tumour_type_under_the_pipelines_option_name(stand_ins):
    started = {}
    logic = FailingLogic(start=lambda *volumes, **options: started.update(options))
    widget = _widget("BrainTumorLabel", logic, segmentationNode=None)
    widget._parameterNode.__dict__.update(
        t1Volume=None,
        t2Volume=None,
        tumorType="extra-axial",
        fastMode=True,
        testTimeAugmentation=False,
        device="cpu",
        modelId="m",
    )
    widget.startRun()
    assert started["tumor_type"] == "extra-axial" and "tumorType" not in started


def test_crm_threshold_slider_error_is_shown_once_and_the_panel_lets_go_of_the_result(stand_ins):
    nodes = {"table": "slices table", "rois": []}
    logic = FailingLogic(setThreshold=FailingLogic.refuse)
    widget = _widget("CRMAssist", logic, resultNodes=nodes)
    widget.ui.acceptButton.enabled = widget.ui.exportButton.enabled = True
    widget.onThresholdChanged(0.6)
    _shownOnce(stand_ins, "Could not apply the threshold.", "the scene refused the result")
    assert widget.resultNodes is None and widget.ui.slicesTableView.table is None
    assert not widget.ui.acceptButton.enabled and not widget.ui.exportButton.enabled
    widget.onThresholdChanged(0.7)  # dragging on: no second box
    assert len(stand_ins.calls) == 1


def test_crm_result_whose_verdict_fails_is_shown_by_the_run_and_leaves_the_nodes_reviewable(stand_ins):
    nodes = {"table": "slices table", "rois": []}
    logic = FailingLogic(showResult=lambda result, volume: nodes, setThreshold=FailingLogic.refuse)
    widget = _widget("CRMAssist", logic, resultNodes=None)
    _runToEnd(widget, "result")
    _shownOnce(stand_ins, "Could not add the result to the scene.", "the scene refused the result")
    _usableAfterFailure(widget)
    assert widget.resultNodes is nodes and widget.ui.slicesTableView.table == "slices table"
    assert widget.ui.exportButton.enabled


def test_crm_slice_click_error_is_shown(stand_ins):
    logic = FailingLogic(jumpToSlice=FailingLogic.refuse)
    widget = _widget("CRMAssist", logic, resultNodes=None)
    widget.ui.slicesTableView.selectedMRMLTableRowIndices = lambda: [3]
    widget.onSliceSelected()
    _shownOnce(stand_ins, "Could not show the slice.", "the scene refused the result")


def test_spine_result_shown_only_in_part_is_reported_and_its_nodes_can_still_be_edited_and_exported(stand_ins):
    nodes = {"axial_segmentations": [], "table": "findings table", "volumes": {}}
    logic = FailingLogic(showResult=lambda result, sagittal, axial: nodes)
    widget = _widget("SpineAssist", logic, **START_STATE["SpineAssist"])
    _runToEnd(widget, types.SimpleNamespace(provenance={}))  # a result without its labelling
    _shownOnce(stand_ins, "Could not add the result to the scene.", "labelling")
    _usableAfterFailure(widget)
    assert widget.resultNodes is nodes and widget.ui.findingsTableView.table == "findings table"
    assert widget.ui.applyFindingButton.enabled and widget.ui.exportButton.enabled


def test_spine_red_view_observer_error_is_shown_once_then_the_level_is_no_longer_named(stand_ins):
    class BrokenSliceNode:
        def GetSliceToRAS(self):
            raise RuntimeError("the red view has no slice")

    widget = _widget(
        "SpineAssist", FailingLogic(), resultNodes=None, redSliceNode=BrokenSliceNode(), axialSeries=[{"name": "ax_t2"}]
    )
    widget.ui.axialLevelLabel.text = "Red view: ax_t2 slice 1: C4/5"
    widget.onRedSliceModified()
    _shownOnce(stand_ins, "Could not name the level of the red view.", "the red view has no slice")
    assert widget.axialSeries == [] and widget.ui.axialLevelLabel.text == ""
    widget.onRedSliceModified()  # the next slice move: quiet
    assert len(stand_ins.calls) == 1


#: BreastUSAssist's Qt descriptor form (BreastUSAssistLib.descriptorForm), which the panel empties with the result
DESCRIPTOR_FORM = types.SimpleNamespace(show=lambda record: None, setEnabled=lambda enabled: None)


def _breastNodes():
    return {"browser": "browser", "table": "lesions table", "rois": {}}


def test_breast_frame_observer_error_is_shown_once_and_the_panel_lets_go_of_the_result(stand_ins):
    logic = FailingLogic(visibility=FailingLogic.refuse, frame=lambda nodes: 3)
    widget = _widget("BreastUSAssist", logic, **START_STATE["BreastUSAssist"], descriptorForm=DESCRIPTOR_FORM)
    widget.resultNodes, widget.observedBrowser = _breastNodes(), "browser"
    widget.observed.append(("browser", 33, widget.onFrameOrThresholdChanged))
    widget.onFrameOrThresholdChanged("browser", 33)  # the browser moved to the next frame
    _shownOnce(stand_ins, "Could not show the lesions of the frame.", "the scene refused the result")
    assert widget.resultNodes is None and widget.observed == [], "the browser is no longer followed"
    assert widget.ui.detectionsTableView.table is None and not widget.ui.exportButton.enabled
    assert widget.ui.frameLabel.text == "Run to see the lesions found in the cine."


def test_breast_earlier_result_that_cannot_be_shown_is_reported_and_entering_the_module_still_works(
    stand_ins, monkeypatch
):
    import AssistCoreLib.breastUs as breastUs

    def breastUsNodes(table):
        raise InputError("This table is not a BreastUSAssist detections table.")

    monkeypatch.setattr(breastUs, "breastUsTables", lambda scene: ["an earlier table"])
    monkeypatch.setattr(breastUs, "breastUsNodes", breastUsNodes)
    widget = _widget("BreastUSAssist", FailingLogic(), **START_STATE["BreastUSAssist"], descriptorForm=DESCRIPTOR_FORM)
    widget.initializeParameterNode = lambda: None  # the parameter node binding needs Slicer's GUI connectors
    widget.enter()
    _shownOnce(stand_ins, "Could not show the earlier result.", "not a BreastUSAssist detections table")
    assert widget.resultNodes is None and not widget.ui.exportButton.enabled


#: every parameter the modules' startRun reads, beside the selected inputs
RUN_PARAMETERS = {
    "BrainTumorLabel": {"t1Volume": None, "t2Volume": None, "tumorType": "glioma", "fastMode": True},
    "CRMAssist": {"threshold": 0.7},
    "SpineAssist": {"anchorLevel": "L5"},
    "BreastUSAssist": {"threshold": 0.5, "iouFuse": 0.3},
}


@pytest.mark.parametrize("module", MODULES)
def test_run_button_whose_logic_refuses_the_inputs_shows_the_reason_and_starts_nothing(stand_ins, module, monkeypatch):
    import AssistCoreLib.slicerDependencies as slicerDependencies

    def refuseInputs(*args, **kwargs):
        raise InputError("Volume 'T2' is 2D.", "Select a 3D series.")

    monkeypatch.setattr(slicerDependencies, "ensureRequirements", lambda parent=None: True)
    stand_ins.slicer.util.mainWindow = lambda: None
    logic = FailingLogic(start=refuseInputs, anchorNode=lambda: None)
    widget = _widget(module, logic, **START_STATE[module], levelSegmentationSelector=UiWidget())
    widget.levelSegmentationSelector.currentNode = lambda: None
    widget._parameterNode.__dict__.update(
        {"device": "cpu", "modelId": "", "testTimeAugmentation": False, **RUN_PARAMETERS[module]}
    )
    widget.updateRunButton()
    # Slicer's tryWithErrorDisplay shows the box, then hands the error to PythonQt, which only logs it for a slot
    with pytest.raises(InputError):
        widget.onRunButton()
    _shownOnce(stand_ins, "Could not start the assistant.", "Volume 'T2' is 2D. Select a 3D series.")
    assert widget.runController.handle is None and not widget.runController.timer.active
    assert widget.ui.runButton.enabled and not widget.ui.cancelButton.enabled, "the panel can run again"


@pytest.mark.parametrize("module", MODULES)
def test_export_that_fails_in_the_logic_shows_why_and_does_not_report_exported_files(stand_ins, module):
    def failingExport(*args, **kwargs):
        raise OSError("No space left on device: /exports")

    widget = _widget(module, FailingLogic(export=failingExport), **START_STATE[module])
    widget.ui.exportDirectoryButton = types.SimpleNamespace(directory="/exports")
    widget.ui.conventionComboBox = types.SimpleNamespace(currentText="BraTS")
    with pytest.raises(OSError):  # shown in a box, then handed to PythonQt as for every slot
        widget.onExportButton()
    _shownOnce(stand_ins, "Export failed.", "No space left on device: /exports")


class RecordingReportPanel:
    """The Report section's entry point for a finished run: records what it was given, or fails as told."""

    def __init__(self, failure: BaseException | None = None) -> None:
        self.taken: list[tuple] = []
        self.failure = failure

    def takeRun(self, assistant, handle, result, reviewWriter=None):
        if self.failure is not None:
            raise self.failure
        self.taken.append((assistant, handle, result))
        self.reviewWriter = reviewWriter


def _runFromButton(widget, monkeypatch, stand_ins, result) -> object:
    """Click Run with a logic whose start() runs a pipeline returning ``result``; poll once it is done."""
    import AssistCoreLib.slicerDependencies as slicerDependencies

    monkeypatch.setattr(slicerDependencies, "ensureRequirements", lambda parent=None: True)
    stand_ins.slicer.util.mainWindow = lambda: None
    handle = start_in_thread(lambda images, options, progress=None, cancel_token=None: result, {}, {})
    handle.inputs, handle.case_id = {"t2": "image"}, "P7"
    widget.startRun = lambda: handle
    widget.onResult = lambda shown: None  # the module's own scene display is tested above
    widget.onRunButton()
    assert handle.wait(10)
    widget.runController.poll()
    return handle


@pytest.mark.parametrize("module", MODULES)
def test_a_finished_run_goes_to_the_report_section_with_its_handle(stand_ins, module, monkeypatch):
    panel = RecordingReportPanel()
    widget = _widget(module, FailingLogic(), **START_STATE[module], reportPanel=panel)
    widget._parameterNode.__dict__.update({"device": "cpu", "modelId": "", **RUN_PARAMETERS[module]})
    result = object()
    handle = _runFromButton(widget, monkeypatch, stand_ins, result)
    assert panel.taken == [(widget.assistant, handle, result)]
    assert widget.assistant in {"brain_tumor", "crm", "spine", "breast_us"}
    assert stand_ins.calls == []
    # breast: the reviews and descriptors of the panel's tables go into the draft (detections.json)
    assert (panel.reviewWriter is not None) == (module == "BreastUSAssist")


@pytest.mark.parametrize("module", MODULES)
def test_a_result_folder_that_cannot_be_written_is_shown_once_and_the_panel_stays_usable(
    stand_ins, module, monkeypatch
):
    panel = RecordingReportPanel(OSError("Read-only file system: /results"))
    widget = _widget(module, FailingLogic(), **START_STATE[module], reportPanel=panel)
    widget._parameterNode.__dict__.update({"device": "cpu", "modelId": "", **RUN_PARAMETERS[module]})
    _runFromButton(widget, monkeypatch, stand_ins, object())
    _shownOnce(stand_ins, "its result folder for the report was not written", "Read-only file system: /results")
    assert widget.ui.runButton.enabled and not widget.ui.cancelButton.enabled
