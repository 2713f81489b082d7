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

from AssistCoreLib.widgetHelpers import AssistantWidget


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
    device: Annotated[str, Choice(["auto", "cuda", "mps", "cpu"])] = "auto"


class BrainTumorLabelWidget(AssistantWidget, ScriptedLoadableModuleWidget, VTKObservationMixin):
    assistant = "brain_tumor"
    choiceComboBoxes = (("deviceComboBox", "device"), ("tumorTypeComboBox", "tumorType"))

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.logic = BrainTumorLabelLogic()
        self.setupAssistantWidget()

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
            tumorType=parameters.tumorType,
            fast=parameters.fastMode,
            tta=parameters.testTimeAugmentation,
            modelId=self.selectedModelId,
            device=parameters.device,
        )

    def onResult(self, result) -> None:
        self.logic.showResult(result)


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

    def showResult(self, result) -> None:
        """Turn the pipeline's result into nodes (done by the assistant's own adapter in BrainTumorLabelLib)."""
        from BrainTumorLabelLib import showResult

        showResult(slicer.mrmlScene, result)


class BrainTumorLabelTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_running_without_input_is_refused_with_a_clear_error()
        self.test_input_volume_converts_to_an_image_with_its_geometry()

    def test_running_without_input_is_refused_with_a_clear_error(self):
        from AssistCoreLib.selfTests import checkRunWithoutInputIsRefused

        checkRunWithoutInputIsRefused(self, lambda: BrainTumorLabelLogic().start(None))

    def test_input_volume_converts_to_an_image_with_its_geometry(self):
        from AssistCoreLib.selfTests import checkVolumeConvertsWithItsGeometry

        checkVolumeConvertsWithItsGeometry(self, slicer.mrmlScene)
