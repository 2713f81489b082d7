"""SpineAssist: Slicer module, widget, logic and test. Thin: the work is in assistcore, AssistCoreLib and
SpineAssistLib."""

from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin
from SpineAssistLib import ANCHOR_LEVELS

from AssistCoreLib.reportPanel import mountReportPanel
from AssistCoreLib.widgetHelpers import DEVICE_CHOICES, AssistantWidget, showingErrors


class SpineAssist(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("SpineAssist")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "RadAssist")]
        self.parent.dependencies = ["AssistCore"]
        self.parent.contributors = ["RadAssist contributors"]
        self.parent.helpText = _(
            "Locates and labels cervical vertebrae C2-C7 and discs C2/3-C6/7 on sagittal MRI, maps levels onto "
            "axial slices and lists findings per level. Place an anchor point on a vertebra you know to name the "
            "levels from it, or choose a segmentation (e.g. TotalSegmentator or TotalSpineSeg output) to take the "
            "levels from instead of the network. Click a table row to jump there; a reviewer may change a finding. "
            "Demo models are trained on synthetic data and are not for clinical use."
        )
        self.parent.acknowledgementText = _("RadAssist, an open-source 3D Slicer extension.")


@parameterNodeWrapper
class SpineAssistParameterNode:
    sagittalT2: vtkMRMLScalarVolumeNode
    sagittalT1: vtkMRMLScalarVolumeNode
    axialT2: vtkMRMLScalarVolumeNode
    modelId: str = ""  # id of a model card in the registry; empty: the assistant's default model
    device: Annotated[str, Choice(DEVICE_CHOICES)] = "auto"
    anchorLevel: Annotated[str, Choice(list(ANCHOR_LEVELS))] = "C2"  # the vertebra the anchor point is on
    reviewer: str = ""  # name recorded with a changed finding


class SpineAssistWidget(AssistantWidget, ScriptedLoadableModuleWidget, VTKObservationMixin):
    assistant = "spine"
    choiceComboBoxes = (("deviceComboBox", "device"), ("anchorLevelComboBox", "anchorLevel"))

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.logic = SpineAssistLogic()
        self.resultNodes, self.axialSeries, self.redSliceNode = None, [], None
        self.setupAssistantWidget()
        self.reportPanel = mountReportPanel(self.layout)  # Report: edit, sign, export
        self.ui.anchorPlaceWidget.placeMultipleMarkups = slicer.qSlicerMarkupsPlaceWidget.ForcePlaceSingleMarkup
        self.ui.anchorPlaceWidget.toolTip = _("Place one point on a vertebral body, then choose its level")
        self.addSegmentationSelector()
        self.ui.findingsTableView.connect("selectionChanged()", self.onRowSelected)
        self.ui.findingComboBox.connect("currentIndexChanged(int)", self.onFindingChanged)
        self.ui.applyFindingButton.connect("clicked(bool)", self.onApplyFinding)
        self.ui.exportButton.connect("clicked(bool)", self.onExportButton)
        self.ui.resultDemoLabel.setVisible(False)
        self.ui.warningsLabel.setVisible(False)
        layoutManager = slicer.app.layoutManager()
        if layoutManager is not None and layoutManager.sliceWidget("Red") is not None:
            self.redSliceNode = layoutManager.sliceWidget("Red").mrmlSliceNode()
            self.addObserver(self.redSliceNode, vtk.vtkCommand.ModifiedEvent, self.onRedSliceModified)

    def addSegmentationSelector(self) -> None:
        """Optional segmentation giving the levels instead of the network. Made here and not kept in the parameter
        node: the layout test allows only bound scalar-volume selectors in the .ui, one per node parameter."""
        from SpineAssistLib import levelSegmentationSelector

        self.levelSegmentationSelector = levelSegmentationSelector(slicer.mrmlScene)
        label = _("Levels from a segmentation (optional):")
        self.ui.inputsCollapsibleButton.layout().insertRow(3, label, self.levelSegmentationSelector)

    def reviewedResultsWriter(self, result, handle):
        """The draft report takes the findings changed in this panel's table (findings.json of the run)."""
        from AssistCoreLib.spine import reviewedFindingsWriter

        return reviewedFindingsWriter(self.resultNodes)

    def initializeParameterNode(self) -> None:
        AssistantWidget.initializeParameterNode(self)
        self.ui.anchorPlaceWidget.setCurrentNode(self.logic.anchorNode())

    def onSceneStartClose(self, caller, event) -> None:
        AssistantWidget.onSceneStartClose(self, caller, event)
        self.resultNodes, self.axialSeries = None, []
        self.ui.findingsTableView.setMRMLTableNode(None)
        for widget in (self.ui.applyFindingButton, self.ui.exportButton):
            widget.enabled = False
        for label in (self.ui.resultDemoLabel, self.ui.warningsLabel):
            label.setVisible(False)
        self.ui.labellingLabel.text = _("Run to see the levels and findings.")
        self.ui.axialLevelLabel.text = ""

    def inputsReady(self) -> bool:
        parameters = self._parameterNode
        return parameters is not None and parameters.sagittalT2 is not None

    def startRun(self):
        from SpineAssistLib import anchorPointRAS

        parameters = self._parameterNode
        pointRAS = anchorPointRAS(self.logic.anchorNode())
        return self.logic.start(
            parameters.sagittalT2,
            parameters.sagittalT1,
            parameters.axialT2,
            modelId=self.selectedModelId,
            device=parameters.device,
            anchor=(pointRAS, parameters.anchorLevel) if pointRAS is not None else None,
            levelSegmentation=self.levelSegmentationSelector.currentNode(),
        )

    def onResult(self, result) -> None:
        """Add the levels, findings and axial mapping to the scene and show them. Runs under the RunController's
        ``slicer.util.tryWithErrorDisplay`` (AssistCoreLib.widgetHelpers): an error is shown and the status says
        Failed; the table and buttons show whatever result was added last."""
        from SpineAssistLib import axialSeriesOf, isSyntheticDemo

        axial = [self._parameterNode.axialT2] if self._parameterNode.axialT2 else []
        self.resultNodes = self.logic.showResult(result, self._parameterNode.sagittalT2, axial)
        try:
            self.axialSeries = axialSeriesOf(self.resultNodes["axial_segmentations"])
            self.ui.findingsTableView.setMRMLTableNode(self.resultNodes["table"])
            self.ui.resultDemoLabel.setVisible(isSyntheticDemo(result.provenance))
            self.showLabelling(result.labelling.method, result.labelling.confidence, result.warnings)
            self.logic.showInViews(self.resultNodes)
            self.onRedSliceModified()
        finally:  # the nodes are in the scene: let the reviewer edit and export them even if showing them failed
            for widget in (self.ui.applyFindingButton, self.ui.exportButton):
                widget.enabled = True

    def showLabelling(self, method: str, confidence: float, warnings: list) -> None:
        methods = {
            "network": _("from C2, found by the network"),
            "anchor": _("from your anchor point"),
            "atlas": _("by matching the cord's disc pattern to the PAM50 atlas"),
            "labels": _("from the named labels (segmentation or label file)"),
            "none": _("not named: levels unknown (see the warnings) - place an anchor"),
        }
        self.ui.labellingLabel.text = _("Levels named {method}; confidence {confidence:.2f}").format(
            method=methods.get(method, method), confidence=confidence or 0.0
        )
        self.ui.warningsLabel.text = "\n".join("- " + str(warning) for warning in warnings)
        self.ui.warningsLabel.setVisible(bool(warnings))

    def onRedSliceModified(self, caller=None, event=None) -> None:
        """Name the level of the axial slice shown in the red view (follows the view as it moves)."""
        from SpineAssistLib import sliceLevelAt

        if not self.axialSeries or self.redSliceNode is None:
            self.ui.axialLevelLabel.text = ""
            return
        # an observer of every slice move: after an error (shown once) it stops naming levels
        with showingErrors(_("Could not name the level of the red view."), onError=self.stopNamingRedView):
            matrix = self.redSliceNode.GetSliceToRAS()
            found = sliceLevelAt([matrix.GetElement(row, 3) for row in range(3)], self.axialSeries)
            if found is None:
                self.ui.axialLevelLabel.text = _("Red view: outside the axial series")
            else:
                self.ui.axialLevelLabel.text = _("Red view: {series} slice {index}: {level}").format(
                    series=found["series"], index=found["slice_index"], level=found["level"] or _("no disc level")
                )

    def stopNamingRedView(self) -> None:
        self.axialSeries = []
        self.ui.axialLevelLabel.text = ""

    def selectedRow(self):
        rows = self.ui.findingsTableView.selectedMRMLTableRowIndices()
        return int(rows[0]) if rows else None

    def selectedRecord(self):
        from AssistCoreLib.tables import tableNodeToRecords

        row = self.selectedRow()
        return tableNodeToRecords(self.resultNodes["table"])[row] if row is not None and self.resultNodes else None

    def onRowSelected(self) -> None:
        from SpineAssistLib import findingsForKind

        row = self.selectedRow()
        if row is None or not self.resultNodes:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not show the level."), waitCursor=True):
            self.logic.jumpToRow(self.resultNodes, row)
            record = self.selectedRecord()
            self.ui.findingComboBox.clear()
            for finding in findingsForKind(record["kind"]):
                self.ui.findingComboBox.addItem(finding)

    def onFindingChanged(self, index: int = -1) -> None:
        """Offer the values of the chosen finding, the level's current value selected."""
        from SpineAssistLib import findingValues

        with showingErrors(_("Could not offer the values of the finding.")):
            finding = self.ui.findingComboBox.currentText
            self.ui.valueComboBox.clear()
            for value in findingValues(finding):
                self.ui.valueComboBox.addItem(value)
            record = self.selectedRecord()
            if record is not None and finding in record:
                current = self.ui.valueComboBox.findText(str(record[finding]))
                if current >= 0:
                    self.ui.valueComboBox.setCurrentIndex(current)

    def onApplyFinding(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not record the change."), waitCursor=True):
            record = self.selectedRecord()
            if record is None:
                raise ValueError(_("Select a level in the table first."))
            if not self.ui.findingComboBox.currentText:
                raise ValueError(_("Choose the finding to change."))
            self.logic.setFinding(
                self.resultNodes,
                record["level"],
                self.ui.findingComboBox.currentText,
                self.ui.valueComboBox.currentText,
                self._parameterNode.reviewer or "reviewer",
            )

    def onExportButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            files = self.logic.export(self.resultNodes, self.ui.exportDirectoryButton.directory)
            slicer.util.infoDisplay(_("Exported:") + "\n" + "\n".join(str(path) for path in files.values()))


class SpineAssistLogic(ScriptedLoadableModuleLogic):
    """Plain-argument entry points, usable from the Python console and the self-test."""

    def getParameterNode(self):
        return SpineAssistParameterNode(super().getParameterNode())

    def start(
        self,
        sagittalT2,
        sagittalT1=None,
        axialT2=None,
        modelId: str = "",
        device: str = "auto",
        anchor=None,
        levelSegmentation=None,
        **options,
    ):
        """Start the spine pipeline (assistcore.pipelines.spine) in a worker thread; return its RunHandle.

        :param sagittalT2: the sagittal T2 scalar volume node (required).
        :param sagittalT1: the sagittal T1 volume node, or None.
        :param axialT2: an axial T2 volume node, a list of them (one per axial block), or None.
        :param modelId: a model card id; empty for the assistant's default model.
        :param device: "auto" (CUDA through onnxruntime-gpu, else the CPU), "cuda" or "cpu".
        :param anchor: ((R, A, S) world mm, level "C2".."T1"): a point on a vertebra the user knows; the levels are
            named from it (passed to the pipeline in LPS).
        :param levelSegmentation: a segmentation node with segments named by level, used instead of the network
            (options ``labels`` and ``level_map``, see SpineAssistLib.segmentationLevelLabels), or None.
        :raises InputError: no sagittal T2 volume, an unknown anchor level, or a segmentation without vertebrae.
        :raises RadAssistError: this version of RadAssist has no spine pipeline.
        """
        from SpineAssistLib import anchorOption, segmentationLevelLabels

        from AssistCoreLib.pipelines import startPipeline

        axial = list(axialT2) if isinstance(axialT2, list | tuple) else [axialT2]
        options = {"model_id": modelId, "device": device, **options}
        if anchor is not None:
            options["anchor"] = anchorOption(*anchor)
        if levelSegmentation is not None and sagittalT2 is not None:  # no sagittal T2: startPipeline says so
            options["labels"], options["level_map"] = segmentationLevelLabels(
                slicer.mrmlScene, levelSegmentation, sagittalT2
            )
        nodes = {"sag_t2": sagittalT2, "sag_t1": sagittalT1, "ax_t2": axial}
        return startPipeline("spine", nodes, ["sag_t2"], options)

    def run(self, sagittalT2, *arguments, **options):
        """Like start() (same arguments) but wait for and return the pipeline's result (console, scripts; blocks
        the caller)."""
        return self.start(sagittalT2, *arguments, **options).result(timeout=None)

    def anchorNode(self):
        """The scene's anchor point list (one point), added if missing."""
        from SpineAssistLib import findOrAddAnchorNode

        return findOrAddAnchorNode(slicer.mrmlScene)

    def showResult(self, result, sagittalNode=None, axialNodes=None) -> dict:
        """Coded level segmentation(s), vertebra fiducials, disc planes and the findings table; returns the nodes
        {"volumes", "segmentation", "axial_segmentations", "vertebrae", "planes", "table"}."""
        from SpineAssistLib import showResult

        return showResult(slicer.mrmlScene, result, sagittalNode, axialNodes=axialNodes)

    def showInViews(self, nodes: dict) -> None:
        """Sagittal T2 in the slice views, the first axial series in the red view, each aligned to its slices."""
        sagittal = nodes["volumes"].get("sag_t2")
        axial = next((node for name, node in nodes["volumes"].items() if name.startswith("ax_t2")), None)
        layoutManager = slicer.app.layoutManager()
        if layoutManager is None or sagittal is None:
            return
        slicer.util.setSliceViewerLayers(background=sagittal, fit=True, rotateToVolumePlane=True)
        if axial is not None and layoutManager.sliceWidget("Red") is not None:
            self._showInView(layoutManager.sliceWidget("Red"), axial)
            layoutManager.sliceWidget("Red").sliceLogic().FitSliceToBackground()

    @staticmethod
    def _showInView(sliceWidget, volumeNode) -> None:
        composite = sliceWidget.sliceLogic().GetSliceCompositeNode()
        if composite.GetBackgroundVolumeID() != volumeNode.GetID():
            composite.SetBackgroundVolumeID(volumeNode.GetID())
        sliceWidget.mrmlSliceNode().RotateToVolumePlane(volumeNode)

    def jumpToRow(self, nodes: dict, row: int) -> dict:
        """Centre the views on the level of findings-table row ``row``: the sagittal view on its sagittal slice,
        the red view on its axial slice (that series shown there); returns the jump points."""
        from SpineAssistLib import jumpPoints

        target = jumpPoints(nodes, row)
        layoutManager = slicer.app.layoutManager()
        red = layoutManager.sliceWidget("Red") if layoutManager is not None else None
        if red is not None and target["axial_volume"] is not None:
            self._showInView(red, target["axial_volume"])
        slicer.modules.markups.logic().JumpSlicesToLocation(*target["point_ras"], True)
        if layoutManager is not None:
            for viewName, point in (("Yellow", target["sagittal_ras"]), ("Red", target["axial_ras"])):
                if point is not None and layoutManager.sliceWidget(viewName) is not None:
                    layoutManager.sliceWidget(viewName).mrmlSliceNode().JumpSliceByOffsetting(*point)
        return target

    def setFinding(self, nodes: dict, level: str, finding: str, value: str, reviewer: str = "reviewer") -> None:
        """A reviewer's change of one finding of one level, kept in the table (saved with the scene, exported)."""
        from AssistCoreLib.spine import setFinding

        setFinding(nodes["table"], level, finding, value, reviewer)

    def export(self, nodes: dict, folder: str) -> dict:
        """Findings with reviews as JSON and CSV into ``folder``; returns {"json": path, "csv": path}."""
        from SpineAssistLib import exportFindings

        return exportFindings(nodes, folder)


class SpineAssistTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_running_without_input_is_refused_with_a_clear_error()
        self.test_input_volume_converts_to_an_image_with_its_geometry()
        self.test_bundled_model_labels_a_phantom_and_maps_its_axial_slices()

    def test_running_without_input_is_refused_with_a_clear_error(self):
        from AssistCoreLib.selfTests import checkRunWithoutInputIsRefused

        checkRunWithoutInputIsRefused(self, lambda: SpineAssistLogic().start(None))

    def test_input_volume_converts_to_an_image_with_its_geometry(self):
        from AssistCoreLib.selfTests import checkVolumeConvertsWithItsGeometry

        checkVolumeConvertsWithItsGeometry(self, slicer.mrmlScene)

    def test_bundled_model_labels_a_phantom_and_maps_its_axial_slices(self):
        """The demo model names C2..C7 and C2/3..C6/7 where the self-test phantom has them, maps the axial block onto
        its disc, and a reviewer's change is exported (checks in AssistCoreLib.selfTests, run headless by
        Testing/test_self_tests.py)."""
        import tempfile

        from SpineAssistLib import axialSeriesOf, sliceLevelAt

        from AssistCoreLib.selfTests import checkAxialBlockOnItsDisc, checkSpineLevels, spinePhantomVolumes

        phantom, sagittal, axial, level = spinePhantomVolumes(slicer.mrmlScene)
        logic = SpineAssistLogic()
        handle = logic.start(sagittal, None, axial)
        self.assertTrue(handle.wait(300))
        nodes = logic.showResult(handle.result(), sagittal, [axial])
        checkSpineLevels(nodes, phantom)
        series = axialSeriesOf(nodes["axial_segmentations"])
        checkAxialBlockOnItsDisc(nodes, level, logic.jumpToRow, lambda pointRAS: sliceLevelAt(pointRAS, series))
        logic.setFinding(nodes, level, "disc", "central", "selftest")
        with tempfile.TemporaryDirectory() as folder:
            files = logic.export(nodes, folder)
            with open(files["csv"], encoding="utf-8") as csvFile:
                self.assertIn("selftest", csvFile.read())
