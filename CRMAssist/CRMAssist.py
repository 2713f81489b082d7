"""CRMAssist: Slicer module, widget, logic and test. Thin: the work is in assistcore and AssistCoreLib."""

from typing import Annotated

import slicer
from slicer import vtkMRMLScalarVolumeNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from AssistCoreLib.reportPanel import mountReportPanel
from AssistCoreLib.widgetHelpers import DEVICE_CHOICES, AssistantWidget, showingErrors


class CRMAssist(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CRMAssist")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "RadAssist")]
        self.parent.dependencies = ["AssistCore"]
        self.parent.contributors = ["RadAssist contributors"]
        self.parent.helpText = _(
            "Marks regions where a rectal tumour threatens the circumferential resection margin on axial T2 MRI, "
            "as boxes with probabilities per slice, and gives a case verdict at an operating threshold. "
            "Demo models are trained on synthetic data and are not for clinical use."
        )
        self.parent.acknowledgementText = _("RadAssist, an open-source 3D Slicer extension.")


@parameterNodeWrapper
class CRMAssistParameterNode:
    t2Volume: vtkMRMLScalarVolumeNode
    threshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.7
    modelId: str = ""  # id of a model card in the registry; empty: the assistant's default model
    device: Annotated[str, Choice(DEVICE_CHOICES)] = "auto"


class CRMAssistWidget(AssistantWidget, ScriptedLoadableModuleWidget, VTKObservationMixin):
    assistant = "crm"

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.logic = CRMAssistLogic()
        self.resultNodes = None
        self.setupAssistantWidget()
        self.reportPanel = mountReportPanel(self.layout)  # Report: edit, sign, export
        self.ui.thresholdSlider.connect("valueChanged(double)", self.onThresholdChanged)
        self.ui.acceptButton.connect("clicked(bool)", lambda: self.onReview("accept"))
        self.ui.rejectButton.connect("clicked(bool)", lambda: self.onReview("reject"))
        self.ui.exportButton.connect("clicked(bool)", self.onExportButton)
        self.ui.slicesTableView.connect("selectionChanged()", self.onSliceSelected)

    def inputsReady(self) -> bool:
        parameters = self._parameterNode
        return parameters is not None and parameters.t2Volume is not None

    def startRun(self):
        parameters = self._parameterNode
        return self.logic.start(
            parameters.t2Volume, threshold=parameters.threshold, modelId=self.selectedModelId, device=parameters.device
        )

    def onResult(self, result) -> None:
        """Add the boxes and the slice table to the scene and show them. Runs under the RunController's
        ``slicer.util.tryWithErrorDisplay`` (AssistCoreLib.widgetHelpers): an error is shown and the status says
        Failed; the panel keeps the last result that was added."""
        self.showResultNodes(self.logic.showResult(result, self._parameterNode.t2Volume))

    def reviewedResultsWriter(self, result, handle):
        """The draft report leaves out the slices rejected in this panel's table (boxes.json of the run)."""
        from AssistCoreLib.crm import reviewedSlicesWriter

        return reviewedSlicesWriter(self.resultNodes)

    def showResultNodes(self, nodes) -> None:
        """Show a result's nodes in the panel (None: no result); the review and export buttons follow."""
        self.resultNodes = nodes
        self.ui.slicesTableView.setMRMLTableNode(nodes["table"] if nodes else None)
        for widget in (self.ui.acceptButton, self.ui.rejectButton, self.ui.exportButton):
            widget.enabled = bool(nodes)
        self.ui.verdictLabel.text = _("Run to see the case verdict.")
        self.showVerdict(self.ui.thresholdSlider.value)

    def onThresholdChanged(self, value: float) -> None:
        # a slider slot: an error is shown once and the panel lets go of the result (the nodes stay in the
        # scene), so dragging on does not open a message box per step
        with showingErrors(_("Could not apply the threshold."), onError=lambda: self.showResultNodes(None)):
            self.showVerdict(value)

    def showVerdict(self, value: float) -> None:
        """Show boxes at or above ``value``, hide the others, and say the case verdict at that threshold."""
        if not self.resultNodes:
            return
        verdict = self.logic.setThreshold(self.resultNodes, value)
        self.ui.verdictLabel.text = (
            _("CRM-positive risk on slices {slices} (maximum probability {maximum:.2f})").format(
                slices=", ".join(str(k) for k in verdict["slices_involved"]), maximum=verdict["max_probability"]
            )
            if verdict["crm_positive_risk"]
            else _("No box reaches {threshold:.2f} (maximum probability {maximum:.2f})").format(
                threshold=value, maximum=verdict["max_probability"]
            )
        )

    def selectedSlice(self):
        rows = self.ui.slicesTableView.selectedMRMLTableRowIndices()
        return int(rows[0]) if rows else None

    def onSliceSelected(self) -> None:
        with showingErrors(_("Could not show the slice.")):
            row = self.selectedSlice()
            if row is not None and self._parameterNode.t2Volume is not None:
                self.logic.jumpToSlice(self._parameterNode.t2Volume, row)

    def onReview(self, decision: str) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not record the review."), waitCursor=True):
            row = self.selectedSlice()
            if row is None:
                raise ValueError(_("Select a slice in the table first."))
            self.logic.review(self.resultNodes, row, decision)

    def onExportButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            files = self.logic.export(self.resultNodes, self.ui.exportDirectoryButton.directory)
            slicer.util.infoDisplay(_("Exported:") + "\n" + "\n".join(str(path) for path in files.values()))


class CRMAssistLogic(ScriptedLoadableModuleLogic):
    """Plain-argument entry points, usable from the Python console and the self-test."""

    def getParameterNode(self):
        return CRMAssistParameterNode(super().getParameterNode())

    def start(self, t2Volume, modelId: str = "", device: str = "auto", threshold: float = 0.7, **options):
        """Start the crm pipeline (assistcore.pipelines.crm) in a worker thread; return its RunHandle.

        :param t2Volume: the axial T2 scalar volume node.
        :param modelId: a model card id; empty for the assistant's default model.
        :param device: "auto" (CUDA through onnxruntime-gpu, else the CPU), "cuda" or "cpu".
        :param threshold: operating threshold on the CRM-positive probability (0.7 in the source study).
        :raises InputError: no input volume.
        :raises RadAssistError: this version of RadAssist has no crm pipeline.
        """
        from AssistCoreLib.pipelines import startPipeline

        options = {"model_id": modelId, "device": device, "threshold": threshold, **options}
        return startPipeline("crm", {"t2": t2Volume}, ["t2"], options)

    def run(self, t2Volume, modelId: str = "", device: str = "auto", threshold: float = 0.7, **options):
        """Like start() but wait for and return the pipeline's result (console, scripts; blocks the caller)."""
        return self.start(t2Volume, modelId, device, threshold, **options).result(timeout=None)

    def showResult(self, result, volumeNode=None) -> dict:
        """ROIs (one per box, coloured by probability) and the slice table; returns {"volume", "rois", "table"}."""
        from CRMAssistLib import showResult

        return showResult(slicer.mrmlScene, result, volumeNode)

    def setThreshold(self, nodes: dict, threshold: float) -> dict:
        """Show boxes at or above ``threshold``, hide the rest; returns the verdict at that threshold."""
        from AssistCoreLib.crm import setThreshold

        return setThreshold(nodes["rois"], nodes["table"], threshold)

    def review(self, nodes: dict, sliceIndex: int, decision: str) -> None:
        """Record accept/reject for one slice in the table (saved with the scene and exported)."""
        from AssistCoreLib.crm import setReview

        setReview(nodes["table"], sliceIndex, decision)

    def export(self, nodes: dict, folder: str) -> dict:
        """Boxes (with reviews) as JSON and the slice table as CSV into ``folder``."""
        from AssistCoreLib.crm import exportReview

        return exportReview(nodes["rois"], nodes["table"], folder)

    def jumpToSlice(self, volumeNode, sliceIndex: int) -> None:
        """Centre the slice views on k-slice ``sliceIndex`` of the volume."""
        from CRMAssistLib import sliceCenterRAS

        slicer.modules.markups.logic().JumpSlicesToLocation(*sliceCenterRAS(volumeNode, sliceIndex), True)


class CRMAssistTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_running_without_input_is_refused_with_a_clear_error()
        self.test_input_volume_converts_to_an_image_with_its_geometry()
        self.test_bundled_model_marks_a_phantom_and_the_threshold_hides_boxes()

    def test_running_without_input_is_refused_with_a_clear_error(self):
        from AssistCoreLib.selfTests import checkRunWithoutInputIsRefused

        checkRunWithoutInputIsRefused(self, lambda: CRMAssistLogic().start(None))

    def test_input_volume_converts_to_an_image_with_its_geometry(self):
        from AssistCoreLib.selfTests import checkVolumeConvertsWithItsGeometry

        checkVolumeConvertsWithItsGeometry(self, slicer.mrmlScene)

    def test_bundled_model_marks_a_phantom_and_the_threshold_hides_boxes(self):
        """The demo model puts a box on the self-test phantom's lesion where it reaches the fascia, the verdict says
        so, and a threshold above every score hides the boxes (checks in AssistCoreLib.selfTests, run headless by
        Testing/test_self_tests.py)."""
        from AssistCoreLib.selfTests import checkCrmBoxesOnTheLesion, crmPhantomVolume

        phantom, volume = crmPhantomVolume(slicer.mrmlScene)
        logic = CRMAssistLogic()
        handle = logic.start(volume, threshold=0.5)
        self.assertTrue(handle.wait(300))
        nodes = logic.showResult(handle.result(), volume)
        self.assertEqual(nodes["table"].GetNumberOfRows(), phantom.t2.shape_kji[0])
        checkCrmBoxesOnTheLesion(nodes, phantom.boxes, 0.5)
        hidden = logic.setThreshold(nodes, 1.01)
        self.assertFalse(hidden["crm_positive_risk"])
