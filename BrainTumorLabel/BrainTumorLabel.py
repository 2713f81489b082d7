"""BrainTumorLabel: Slicer module, widget, logic and test. Thin: the work is in assistcore and AssistCoreLib."""

from typing import Annotated

import slicer
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

from AssistCoreLib.reportPanel import mountReportPanel
from AssistCoreLib.widgetHelpers import DEVICE_CHOICES, AssistantWidget


class BrainTumorLabel(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("BrainTumorLabel")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "RadAssist")]
        self.parent.dependencies = ["AssistCore"]
        self.parent.contributors = ["RadAssist contributors"]
        self.parent.helpText = _(
            "Pre-labels brain tumour regions (whole tumour with edema, tumour body, enhancing, non-enhancing) "
            "from T1, T1c, T2 and FLAIR for editing in the Segment Editor, QA and NIfTI export. "
            "Demo models are trained on synthetic data and are not for clinical use."
        )
        self.parent.acknowledgementText = _("RadAssist, an open-source 3D Slicer extension.")


@parameterNodeWrapper
class BrainTumorLabelParameterNode:
    t1Volume: vtkMRMLScalarVolumeNode
    t1cVolume: vtkMRMLScalarVolumeNode
    t2Volume: vtkMRMLScalarVolumeNode
    flairVolume: vtkMRMLScalarVolumeNode
    tumorType: Annotated[str, Choice(["intra-axial", "extra-axial"])] = "intra-axial"
    fastMode: bool = False
    testTimeAugmentation: bool = False
    modelId: str = ""  # id of a model card in the registry; empty: the assistant's default model
    device: Annotated[str, Choice(DEVICE_CHOICES)] = "auto"


class BrainTumorLabelWidget(AssistantWidget, ScriptedLoadableModuleWidget, VTKObservationMixin):
    assistant = "brain_tumor"
    choiceComboBoxes = (("deviceComboBox", "device"), ("tumorTypeComboBox", "tumorType"))

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.logic = BrainTumorLabelLogic()
        self.segmentationNode = None
        self.setupAssistantWidget()
        self.reportPanel = mountReportPanel(self.layout)  # Report: edit, sign, export
        self.ui.editButton.connect("clicked(bool)", self.onEditButton)
        self.ui.qaButton.connect("clicked(bool)", self.onQAButton)
        self.ui.exportButton.connect("clicked(bool)", self.onExportButton)

    def initializeParameterNode(self) -> None:
        AssistantWidget.initializeParameterNode(self)
        self.logic.autoMatchVolumes(self._parameterNode)

    def inputsReady(self) -> bool:
        parameters = self._parameterNode
        return parameters is not None and parameters.t1cVolume is not None and parameters.flairVolume is not None

    def startRun(self):
        parameters = self._parameterNode
        return self.logic.start(
            parameters.t1cVolume,
            parameters.flairVolume,
            parameters.t1Volume,
            parameters.t2Volume,
            tumor_type=parameters.tumorType,  # the pipeline's option name (assistcore.pipelines.brain_tumor)
            fast=parameters.fastMode,
            tta=parameters.testTimeAugmentation,
            modelId=self.selectedModelId,
            device=parameters.device,
        )

    def onResult(self, result) -> None:
        """Add the labels to the scene and offer editing, QA and export on them.

        Runs under the RunController's ``slicer.util.tryWithErrorDisplay`` (AssistCoreLib.widgetHelpers): when
        the result cannot be added, the error is shown, the status says Failed, and the buttons keep acting on
        the segmentation of the last run that was added (or stay disabled).
        """
        self.segmentationNode = self.logic.showResult(result)
        for button in (self.ui.editButton, self.ui.qaButton, self.ui.exportButton):
            button.enabled = self.segmentationNode is not None
        provenance = getattr(result, "provenance", None) or {}
        notes = [*provenance.get("warnings", []), *provenance.get("label_notes", [])]
        if notes:  # missing sequences, what the model's labels mean: the reader must see them with the result
            self.ui.statusLabel.setText(_("Done.") + " " + " ".join(notes))

    def reviewedResultsWriter(self, result, handle):
        """The draft report takes the labels as edited in the Segment Editor (its regions, volumes and QA)."""
        from AssistCoreLib.brainTumor import reviewedLabelsWriter

        if self.segmentationNode is None:
            return None
        flair = self._parameterNode.flairVolume
        return reviewedLabelsWriter(slicer.mrmlScene, sceneLogics(), self.segmentationNode, flair, result, handle)

    def onEditButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not open the Segment Editor."), waitCursor=True):
            slicer.util.selectModule("SegmentEditor")
            editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
            editor.setSegmentationNode(self.segmentationNode)
            editor.setSourceVolumeNode(self._parameterNode.flairVolume)
            # the regions nest (whole tumour around tumour body around enhancing): painting one must not
            # erase the others, which Slicer's default "overwrite all segments" would do
            editor.mrmlSegmentEditorNode().SetOverwriteMode(slicer.vtkMRMLSegmentEditorNode.OverwriteNone)

    def onQAButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("QA failed."), waitCursor=True):
            report = self.logic.qa(
                self.segmentationNode,
                self._parameterNode.flairVolume,
                self._parameterNode.tumorType == "extra-axial",
                self.ui.qualityGradeSpinBox.value,
            )
            self.ui.qaTextEdit.setPlainText(formatQA(report))

    def onExportButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            files = self.logic.export(
                self.segmentationNode,
                self._parameterNode.flairVolume,
                self.ui.exportDirectoryButton.directory,
                self.ui.conventionComboBox.currentText,
            )
            slicer.util.infoDisplay(_("Exported:") + "\n" + "\n".join(str(path) for path in files.values()))


class BrainTumorLabelLogic(ScriptedLoadableModuleLogic):
    """Plain-argument entry points, usable from the Python console and the self-test."""

    def getParameterNode(self):
        return BrainTumorLabelParameterNode(super().getParameterNode())

    def start(
        self,
        t1cVolume,
        flairVolume=None,
        t1Volume=None,
        t2Volume=None,
        modelId: str = "",
        device: str = "auto",
        **options,
    ):
        """Start the brain_tumor pipeline in a worker thread; returns a RunHandle to poll."""
        from AssistCoreLib.pipelines import startPipeline

        nodes = {"t1c": t1cVolume, "flair": flairVolume, "t1": t1Volume, "t2": t2Volume}
        return startPipeline("brain_tumor", nodes, ["t1c", "flair"], {"model_id": modelId, "device": device, **options})

    def showResult(self, result):
        """Turn the pipeline's result into a segmentation node next to the reference volume; return it."""
        from BrainTumorLabelLib import showResult

        return showResult(slicer.mrmlScene, result)

    def autoMatchVolumes(self, parameters) -> None:
        """Fill empty T1/T1c/T2/FLAIR selectors from the scene's volumes by series description or name."""
        from assistcore.brain.inputs import match_roles
        from assistcore.errors import InputError

        volumes = {node.GetID(): node for node in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")}
        texts = {
            nodeId: node.GetAttribute("RadAssist.series_description") or node.GetName()
            for nodeId, node in volumes.items()
        }
        try:
            matched = match_roles(texts)
        except InputError:  # ambiguous: leave the choice to the user
            return
        for role, nodeId in matched.items():
            if getattr(parameters, f"{role}Volume") is None:
                setattr(parameters, f"{role}Volume", volumes[nodeId])

    def qa(self, segmentationNode, referenceNode, extraAxial: bool = False, imageQualityGrade=None) -> dict:
        """Consensus QA on the segmentation as edited (lesions, nesting, islands, outside brain, abrupt ends)."""
        from AssistCoreLib.brainTumor import qaForSegmentation

        return qaForSegmentation(
            slicer.mrmlScene, sceneLogics(), segmentationNode, referenceNode, extraAxial, imageQualityGrade
        )

    def export(self, segmentationNode, referenceNode, folder: str, convention: str = "brats2021") -> dict:
        """NIfTI label files named patient ID + sequence + content, with the provenance sidecar."""
        from AssistCoreLib.brainTumor import exportSegmentation

        caseId = referenceNode.GetAttribute("RadAssist.patient_id") or referenceNode.GetName()
        return exportSegmentation(
            slicer.mrmlScene, sceneLogics(), segmentationNode, referenceNode, folder, caseId, "flair", convention
        )


def sceneLogics():
    from AssistCoreLib.headless import HeadlessLogics

    return HeadlessLogics(None, None, slicer.modules.segmentations.logic(), None, None, None)


def formatQA(report: dict) -> str:
    lines = [f"{len(report['lesions'])} lesion(s); QA {'passed' if report['passed'] else 'found problems'}"]
    lines += [
        f"  lesion {lesion['index']}: {lesion['volume_ml']:.2f} mL, axial slices "
        f"{lesion['first_axial_slice']}-{lesion['last_axial_slice']}"
        for lesion in report["lesions"][:20]
    ]
    lines += [f"  [{flag['severity']}] {flag['message']}" for flag in report["flags"][:50]]
    return "\n".join(lines)


class BrainTumorLabelTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_running_without_input_is_refused_with_a_clear_error()
        self.test_input_volume_converts_to_an_image_with_its_geometry()
        self.test_bundled_model_labels_a_phantom_into_a_coded_segmentation()

    def test_running_without_input_is_refused_with_a_clear_error(self):
        from AssistCoreLib.selfTests import checkRunWithoutInputIsRefused

        checkRunWithoutInputIsRefused(self, lambda: BrainTumorLabelLogic().start(None))

    def test_input_volume_converts_to_an_image_with_its_geometry(self):
        from AssistCoreLib.selfTests import checkVolumeConvertsWithItsGeometry

        checkVolumeConvertsWithItsGeometry(self, slicer.mrmlScene)

    def test_bundled_model_labels_a_phantom_into_a_coded_segmentation(self):
        """The demo model labels the self-test phantom into the four coded regions, on the FLAIR's grid, with the
        whole tumour where the phantom has it (checks in AssistCoreLib.selfTests, run headless by
        Testing/test_self_tests.py)."""
        from AssistCoreLib.selfTests import brainPhantomVolumes, checkBrainTumorSegmentation

        phantom, nodes = brainPhantomVolumes(slicer.mrmlScene)
        logic = BrainTumorLabelLogic()
        handle = logic.start(nodes["t1c"], nodes["flair"], nodes["t1"], nodes["t2"], fast=True)
        self.assertTrue(handle.wait(300))
        segmentation = logic.showResult(handle.result())
        segmentationsLogic = slicer.modules.segmentations.logic()
        checkBrainTumorSegmentation(
            slicer.mrmlScene, segmentationsLogic, segmentation, nodes["flair"], phantom.labels_kji
        )
        report = logic.qa(segmentation, nodes["flair"])
        self.assertGreaterEqual(len(report["lesions"]), 1, "QA finds the labelled tumour")
