"""BreastUSAssist: Slicer module, widget, logic and test. Thin: the work is in assistcore, AssistCoreLib.breastUs
and BreastUSAssistLib."""

from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLSequenceBrowserNode
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


class BreastUSAssist(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("BreastUSAssist")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "RadAssist")]
        self.parent.dependencies = ["AssistCore", "Sequences"]
        self.parent.contributors = ["RadAssist contributors"]
        self.parent.helpText = _(
            "Finds breast lesions on every frame of an ultrasound cine (DICOM, video or a folder of frames) and fuses "
            "the boxes of all frames into lesions, each with its frame range, best frame and fused score. Boxes follow "
            "the frames as you play the cine; the threshold hides weaker lesions at once. Click a lesion to show its "
            "best frame, accept or reject it, record its descriptors (BI-RADS ultrasound lexicon) and export. "
            "Demo models are trained on synthetic data and are not for clinical use."
        )
        self.parent.acknowledgementText = _("RadAssist, an open-source 3D Slicer extension.")


@parameterNodeWrapper
class BreastUSAssistParameterNode:
    inputBrowser: vtkMRMLSequenceBrowserNode  # a loaded cine; used instead of cinePath when selected
    cinePath: str = ""  # DICOM file, video or folder of frames (kept in sync with the path line edit by hand)
    threshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    iouFuse: Annotated[float, WithinRange(0.05, 1.0)] = 0.3
    modelId: str = ""  # id of a model card in the registry; empty: the assistant's default model
    device: Annotated[str, Choice(DEVICE_CHOICES)] = "auto"
    annotator: str = ""  # saved with each lesion's descriptors


class BreastUSAssistWidget(AssistantWidget, ScriptedLoadableModuleWidget, VTKObservationMixin):
    assistant = "breast_us"

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)

    def setup(self) -> None:
        import ctk
        from BreastUSAssistLib.descriptorForm import DescriptorForm

        ScriptedLoadableModuleWidget.setup(self)
        self.logic = BreastUSAssistLogic()
        self.resultNodes, self.observedBrowser = None, None
        self.setupAssistantWidget()
        self.reportPanel = mountReportPanel(self.layout)  # Report: edit, sign, export
        self.descriptorForm = DescriptorForm(self.ui.descriptorsFormWidget.layout())
        self.ui.cinePathLineEdit.filters = ctk.ctkPathLineEdit.Files | ctk.ctkPathLineEdit.Readable
        self.ui.cinePathLineEdit.connect("currentPathChanged(QString)", self.onCinePathChanged)
        self.ui.thresholdSlider.connect("valueChanged(double)", self.onFrameOrThresholdChanged)
        self.ui.detectionsTableView.connect("selectionChanged()", self.onDetectionSelected)
        self.ui.acceptButton.connect("clicked(bool)", lambda: self.onReview("accept"))
        self.ui.rejectButton.connect("clicked(bool)", lambda: self.onReview("reject"))
        self.ui.saveDescriptorsButton.connect("clicked(bool)", self.onSaveDescriptors)
        self.ui.exportButton.connect("clicked(bool)", self.onExportButton)
        self.showNodes(None)

    def setParameterNode(self, parameterNode) -> None:
        AssistantWidget.setParameterNode(self, parameterNode)
        if self._parameterNode is not None and self.ui.cinePathLineEdit.currentPath != self._parameterNode.cinePath:
            self.ui.cinePathLineEdit.currentPath = self._parameterNode.cinePath

    def enter(self) -> None:
        AssistantWidget.enter(self)
        if self.resultNodes is None:  # a scene opened with an earlier result: pick it up
            from AssistCoreLib.breastUs import breastUsNodes, breastUsTables

            tables = breastUsTables(slicer.mrmlScene)
            if tables:  # the error is shown and ends here: entering the module must not fail with it
                message = _("Could not show the earlier result.")
                with showingErrors(message, onError=lambda: self.showNodes(None), waitCursor=True):
                    self.showNodes(breastUsNodes(tables[-1]))

    def onSceneStartClose(self, caller, event) -> None:
        AssistantWidget.onSceneStartClose(self, caller, event)
        self.showNodes(None)

    def onCinePathChanged(self, path: str) -> None:
        if self._parameterNode is not None and self._parameterNode.cinePath != path:
            self._parameterNode.cinePath = path

    def inputsReady(self) -> bool:
        parameters = self._parameterNode
        return parameters is not None and (parameters.inputBrowser is not None or bool(parameters.cinePath.strip()))

    def startRun(self):
        parameters = self._parameterNode
        return self.logic.start(
            parameters.cinePath,
            parameters.inputBrowser,
            threshold=parameters.threshold,
            iouFuse=parameters.iouFuse,
            modelId=self.selectedModelId,
            device=parameters.device,
        )

    def onResult(self, result) -> None:
        """Add the cine and the lesions to the scene and show them. Runs under the RunController's
        ``slicer.util.tryWithErrorDisplay`` (AssistCoreLib.widgetHelpers): an error is shown and the status says
        Failed; the panel keeps the last result that was added."""
        from BreastUSAssistLib import caseIdOf

        parameters = self._parameterNode
        self.showNodes(self.logic.showResult(result, caseIdOf(parameters.cinePath, parameters.inputBrowser)))

    def showNodes(self, nodes) -> None:
        """Show a result's nodes in the panel (None: no result) and follow its browser."""
        from BreastUSAssistLib import isSyntheticDemo, modelOf

        if self.observedBrowser is not None:
            self.removeObserver(self.observedBrowser, vtk.vtkCommand.ModifiedEvent, self.onFrameOrThresholdChanged)
        self.resultNodes, self.observedBrowser = nodes, nodes["browser"] if nodes else None
        if self.observedBrowser is not None:
            self.addObserver(self.observedBrowser, vtk.vtkCommand.ModifiedEvent, self.onFrameOrThresholdChanged)
        self.ui.detectionsTableView.setMRMLTableNode(nodes["table"] if nodes else None)
        self.ui.resultDemoLabel.setVisible(bool(nodes) and isSyntheticDemo({"model": modelOf(nodes)}))
        for widget in (self.ui.acceptButton, self.ui.rejectButton, self.ui.exportButton):
            widget.enabled = bool(nodes)
        self.showDescriptors(None)
        if nodes:
            self.updateVisibility()
        else:
            self.ui.frameLabel.text = _("Run to see the lesions found in the cine.")

    def onFrameOrThresholdChanged(self, *unused) -> None:
        # an observer of every frame the cine plays: after an error (shown once) the panel lets go of the result
        # (its nodes stay in the scene), so playback does not open a message box per frame
        with showingErrors(_("Could not show the lesions of the frame."), onError=lambda: self.showNodes(None)):
            self.updateVisibility()

    def updateVisibility(self) -> None:
        """ROIs follow the browser's frame and the threshold slider."""
        if not self.resultNodes:
            return
        visible = self.logic.visibility(self.resultNodes, self.ui.thresholdSlider.value)
        self.ui.frameLabel.text = _("Frame {frame}: {count} lesion(s) shown at threshold {threshold:.2f}").format(
            frame=self.logic.frame(self.resultNodes), count=len(visible), threshold=self.ui.thresholdSlider.value
        )

    def selectedDetection(self):
        from BreastUSAssistLib import detectionIdOfRow

        rows = self.ui.detectionsTableView.selectedMRMLTableRowIndices()
        return detectionIdOfRow(self.resultNodes["table"], int(rows[0])) if rows and self.resultNodes else None

    def onDetectionSelected(self) -> None:
        detectionId = self.selectedDetection()
        if detectionId is None:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not show the lesion."), waitCursor=True):
            self.logic.jumpToDetection(self.resultNodes, detectionId)
            self.showDescriptors(detectionId)

    def showDescriptors(self, detectionId) -> None:
        from AssistCoreLib.breastUs import descriptorsFor

        record = descriptorsFor(self.resultNodes, detectionId) if detectionId is not None else None
        self.descriptorForm.show(record)
        self.descriptorForm.setEnabled(record is not None)
        self.ui.noteLineEdit.text = record.note if record is not None else ""
        if record is not None and record.annotator:
            self.ui.annotatorLineEdit.text = record.annotator
        self.ui.saveDescriptorsButton.enabled = record is not None
        self.ui.descriptorsLabel.text = (
            _("Descriptors of lesion {id}:").format(id=detectionId)
            if record is not None
            else _("Select a lesion in the table to describe it.")
        )

    def requireDetection(self) -> int:
        detectionId = self.selectedDetection()
        if detectionId is None:
            raise ValueError(_("Select a lesion in the table first."))
        return detectionId

    def onReview(self, verdict: str) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not record the review."), waitCursor=True):
            self.logic.review(self.resultNodes, self.requireDetection(), verdict)

    def onSaveDescriptors(self) -> None:
        from assistcore.breastus.descriptors import LesionDescriptors

        with slicer.util.tryWithErrorDisplay(_("Could not save the descriptors."), waitCursor=True):
            record = LesionDescriptors(
                self.requireDetection(),
                self.descriptorForm.values(),
                self.ui.annotatorLineEdit.text,
                self.ui.noteLineEdit.text,
            )
            self.logic.setDescriptors(self.resultNodes, record)

    def reviewedResultsWriter(self, result, handle):
        """The draft report takes the reviews and BI-RADS descriptors made in this panel (detections.json)."""
        return lambda folder: self.logic.export(self.resultNodes, str(folder)) if self.resultNodes else None

    def onExportButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            files = self.logic.export(self.resultNodes, self.ui.exportDirectoryButton.directory)
            slicer.util.infoDisplay(_("Exported:") + "\n" + "\n".join(str(path) for path in files.values()))


class BreastUSAssistLogic(ScriptedLoadableModuleLogic):
    """Plain-argument entry points, usable from the Python console and the self-test."""

    def getParameterNode(self):
        return BreastUSAssistParameterNode(super().getParameterNode())

    def start(self, cinePath="", browserNode=None, threshold=None, iouFuse=None, modelId="", device="auto", **options):
        """Start the breast_us pipeline (assistcore.pipelines.breast_us) in a worker thread; return its RunHandle.

        :param cinePath: a DICOM file, video or folder of frames (read in the worker thread), or a Cine.
        :param browserNode: a loaded cine (sequence browser): read here and used instead of ``cinePath``.
        :param threshold: operating threshold on the fused score; None: the model card's.
        :param iouFuse: boxes of two frames with at least this IoU are one lesion; None: the model card's.
        :param modelId: a model card id; empty for the assistant's default model.
        :param device: "auto" (CUDA through onnxruntime-gpu, else the CPU), "cuda" or "cpu".
        :raises InputError: no cine, a missing path, or a browser without image frames.
        :raises RadAssistError: this version of RadAssist has no breast_us pipeline.
        """
        from AssistCoreLib.breastUs import cineFromBrowser, startCinePipeline

        options = {"model_id": modelId, "device": device, "threshold": threshold, "iou_fuse": iouFuse, **options}
        cine = cineFromBrowser(browserNode) if browserNode is not None else cinePath
        return startCinePipeline(cine, options)

    def run(self, cinePath="", browserNode=None, **options):
        """Like start() but wait for and return the pipeline's result (console, scripts; blocks the caller)."""
        return self.start(cinePath, browserNode, **options).result(timeout=None)

    def addToScene(self, result, caseId: str = "cine") -> dict:
        """Sequence, browser and proxy volume of the cine, lesion ROIs and the detections and descriptors tables;
        returns {"sequence", "browser", "volume", "rois", "table", "descriptorsTable"}."""
        from BreastUSAssistLib import showResult

        return showResult(slicer.mrmlScene, result, caseId, self.sequencesLogic())

    def showResult(self, result, caseId: str = "cine") -> dict:
        """:meth:`addToScene`, then the cine in the slice views with the sequence toolbar."""
        nodes = self.addToScene(result, caseId)
        self.showInViews(nodes)
        return nodes

    @staticmethod
    def sequencesLogic():
        sequences = getattr(slicer.modules, "sequences", None)
        return sequences.logic() if sequences is not None else None

    def showInViews(self, nodes: dict) -> None:
        """The cine in the slice views, the Red view axial (frames upright), the browser in the sequence toolbar."""
        slicer.util.setSliceViewerLayers(background=nodes["volume"], fit=True)
        layoutManager = slicer.app.layoutManager()
        red = layoutManager.sliceWidget("Red") if layoutManager is not None else None
        if red is not None:
            red.mrmlSliceNode().SetOrientationToAxial()
            red.sliceLogic().FitSliceToBackground()
        sequences = getattr(slicer.modules, "sequences", None)
        if sequences is not None and hasattr(sequences, "showSequenceBrowser"):
            sequences.showSequenceBrowser(nodes["browser"])

    def frame(self, nodes: dict) -> int:
        from AssistCoreLib.breastUs import currentFrame

        return currentFrame(nodes)

    def visibility(self, nodes: dict, threshold: float) -> list:
        """Show the lesions on the browser's frame at or above ``threshold``; returns their ids."""
        from AssistCoreLib.breastUs import currentFrame, detectionVisibility

        return detectionVisibility(nodes, currentFrame(nodes), threshold)

    def jumpToDetection(self, nodes: dict, detectionId: int) -> int:
        """Show the lesion's best frame and centre the slice views on its box; returns the frame index."""
        from AssistCoreLib.breastUs import detectionCenterRAS, jumpToDetection

        frame = jumpToDetection(nodes, detectionId)
        slicer.modules.markups.logic().JumpSlicesToLocation(*detectionCenterRAS(nodes, detectionId), True)
        return frame

    def review(self, nodes: dict, detectionId: int, verdict: str) -> None:
        """Record accept/reject for one lesion in the table (saved with the scene and exported)."""
        from AssistCoreLib.breastUs import setReview

        setReview(nodes, detectionId, verdict)

    def setDescriptors(self, nodes: dict, descriptors) -> None:
        """Keep one lesion's LesionDescriptors in the descriptors table (values checked against the lexicon)."""
        from AssistCoreLib.breastUs import setDescriptors

        setDescriptors(nodes, descriptors)

    def export(self, nodes: dict, folder: str) -> dict:
        """detections.json, detections.csv and descriptors.csv into ``folder``; returns their paths."""
        from AssistCoreLib.breastUsExport import exportFiles

        return exportFiles(nodes, folder)


class BreastUSAssistTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_running_without_input_is_refused_with_a_clear_error()
        self.test_bundled_model_finds_the_lesions_of_a_phantom_sweep_and_boxes_follow_the_frames()

    def test_running_without_input_is_refused_with_a_clear_error(self):
        from AssistCoreLib.selfTests import checkRunWithoutInputIsRefused

        checkRunWithoutInputIsRefused(self, lambda: BreastUSAssistLogic().start())

    def test_bundled_model_finds_the_lesions_of_a_phantom_sweep_and_boxes_follow_the_frames(self):
        """The demo model fuses the self-test sweep's lesion into a box on the truth lesion; its ROI follows the
        frames and the threshold; review and descriptors are exported (the lesion check is in
        AssistCoreLib.selfTests, run headless by Testing/test_self_tests.py)."""
        import json
        import tempfile

        import numpy as np

        from assistcore.breastus.cine import frames_to_uint8
        from assistcore.breastus.descriptors import LesionDescriptors
        from AssistCoreLib.breastUs import cineFromBrowser, currentFrame, detectionVisibility
        from AssistCoreLib.selfTests import breastPhantomCine, checkBreastLesionFound

        sweep, cine = breastPhantomCine()
        logic = BreastUSAssistLogic()
        handle = logic.start(cine, modelId="breastus-demo", threshold=0.5)
        self.assertTrue(handle.wait(300))
        nodes = logic.showResult(handle.result(), "phantom")
        self.assertEqual(nodes["sequence"].GetNumberOfDataNodes(), sweep.frames.shape[0])
        self.assertEqual(nodes["table"].GetNumberOfRows(), len(handle.result().fused))
        lesion = checkBreastLesionFound(nodes, sweep, 0.5)
        detectionId, bestFrame = lesion["detection_id"], lesion["best_frame"]
        self.assertEqual(logic.jumpToDetection(nodes, detectionId), bestFrame)
        self.assertEqual(currentFrame(nodes), bestFrame)
        self.assertIn(detectionId, detectionVisibility(nodes, bestFrame, 0.0))
        self.assertNotIn(detectionId, detectionVisibility(nodes, bestFrame, 1.01))
        back = cineFromBrowser(nodes["browser"])  # the sequence gives the cine back (8-bit), e.g. to run again
        self.assertTrue(np.allclose(back.frames, frames_to_uint8(sweep.frames) / 255.0, atol=1e-6))
        logic.review(nodes, detectionId, "accept")
        logic.setDescriptors(nodes, LesionDescriptors(detectionId, {"shape": "oval"}, "selftest"))
        with tempfile.TemporaryDirectory() as folder:
            files = logic.export(nodes, folder)
            with open(files["json"], encoding="utf-8") as jsonFile:
                exported = json.load(jsonFile)
        self.assertEqual(exported["reviews"], {str(detectionId): "accept"})
        self.assertEqual(exported["descriptors"][0]["annotator"], "selftest")
