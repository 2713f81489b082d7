"""SpineAssist: Slicer module, widget, logic and test. Thin: the work is in assistcore and AssistCoreLib."""

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

from AssistCoreLib.widgetHelpers import DEVICE_CHOICES, AssistantWidget


class SpineAssist(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("SpineAssist")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "RadAssist")]
        self.parent.dependencies = ["AssistCore"]
        self.parent.contributors = ["RadAssist contributors"]
        self.parent.helpText = _(
            "Locates and labels cervical vertebrae C2-C7 and discs C2/3-C6/7 on sagittal MRI, maps levels onto "
            "axial slices and lists findings per level. "
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


class SpineAssistWidget(AssistantWidget, ScriptedLoadableModuleWidget, VTKObservationMixin):
    assistant = "spine"

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.logic = SpineAssistLogic()
        self.setupAssistantWidget()

    def inputsReady(self) -> bool:
        parameters = self._parameterNode
        return parameters is not None and parameters.sagittalT2 is not None

    def startRun(self):
        parameters = self._parameterNode
        return self.logic.start(
            parameters.sagittalT2,
            parameters.sagittalT1,
            parameters.axialT2,
            modelId=self.selectedModelId,
            device=parameters.device,
        )

    def onResult(self, result) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not add the result to the scene."), waitCursor=True):
            self.logic.showResult(result)


class SpineAssistLogic(ScriptedLoadableModuleLogic):
    """Plain-argument entry points, usable from the Python console and the self-test."""

    def getParameterNode(self):
        return SpineAssistParameterNode(super().getParameterNode())

    def start(self, sagittalT2, sagittalT1=None, axialT2=None, modelId: str = "", device: str = "auto", **options):
        """Start the spine pipeline (assistcore.pipelines.spine) in a worker thread; return its RunHandle.

        :param sagittalT2: the sagittal T2 scalar volume node (required).
        :param sagittalT1: the sagittal T1 volume node, or None.
        :param axialT2: the axial T2 volume node (per-disc axial slices), or None.
        :param modelId: a model card id; empty for the assistant's default model.
        :param device: "auto" (CUDA, then MPS, then CPU), "cuda", "mps" or "cpu".
        :raises InputError: no sagittal T2 volume.
        :raises RadAssistError: this version of RadAssist has no spine pipeline.
        """
        from AssistCoreLib.pipelines import startPipeline

        nodes = {"sagittal_t2": sagittalT2, "sagittal_t1": sagittalT1, "axial_t2": axialT2}
        return startPipeline("spine", nodes, ["sagittal_t2"], {"model_id": modelId, "device": device, **options})

    def run(self, sagittalT2, sagittalT1=None, axialT2=None, modelId: str = "", device: str = "auto", **options):
        """Like start() but wait for and return the pipeline's result (console, scripts; blocks the caller)."""
        return self.start(sagittalT2, sagittalT1, axialT2, modelId, device, **options).result(timeout=None)

    def showResult(self, result) -> None:
        """Turn the pipeline's result into nodes (done by the assistant's own adapter in SpineAssistLib)."""
        from SpineAssistLib import showResult

        showResult(slicer.mrmlScene, result)


class SpineAssistTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_running_without_input_is_refused_with_a_clear_error()
        self.test_input_volume_converts_to_an_image_with_its_geometry()

    def test_running_without_input_is_refused_with_a_clear_error(self):
        from AssistCoreLib.selfTests import checkRunWithoutInputIsRefused

        checkRunWithoutInputIsRefused(self, lambda: SpineAssistLogic().start(None))

    def test_input_volume_converts_to_an_image_with_its_geometry(self):
        from AssistCoreLib.selfTests import checkVolumeConvertsWithItsGeometry

        checkVolumeConvertsWithItsGeometry(self, slicer.mrmlScene)
