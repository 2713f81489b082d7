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

from AssistCoreLib.widgetHelpers import DEVICE_CHOICES, AssistantWidget


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
        self.setupAssistantWidget()

    def inputsReady(self) -> bool:
        parameters = self._parameterNode
        return parameters is not None and parameters.t2Volume is not None

    def startRun(self):
        parameters = self._parameterNode
        return self.logic.start(
            parameters.t2Volume, threshold=parameters.threshold, modelId=self.selectedModelId, device=parameters.device
        )

    def onResult(self, result) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not add the result to the scene."), waitCursor=True):
            self.logic.showResult(result)


class CRMAssistLogic(ScriptedLoadableModuleLogic):
    """Plain-argument entry points, usable from the Python console and the self-test."""

    def getParameterNode(self):
        return CRMAssistParameterNode(super().getParameterNode())

    def start(self, t2Volume, modelId: str = "", device: str = "auto", threshold: float = 0.7, **options):
        """Start the crm pipeline (assistcore.pipelines.crm) in a worker thread; return its RunHandle.

        :param t2Volume: the axial T2 scalar volume node.
        :param modelId: a model card id; empty for the assistant's default model.
        :param device: "auto" (CUDA, then MPS, then CPU), "cuda", "mps" or "cpu".
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

    def showResult(self, result) -> None:
        """Turn the pipeline's result into nodes (done by the assistant's own adapter in CRMAssistLib)."""
        from CRMAssistLib import showResult

        showResult(slicer.mrmlScene, result)


class CRMAssistTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_running_without_input_is_refused_with_a_clear_error()
        self.test_input_volume_converts_to_an_image_with_its_geometry()

    def test_running_without_input_is_refused_with_a_clear_error(self):
        from AssistCoreLib.selfTests import checkRunWithoutInputIsRefused

        checkRunWithoutInputIsRefused(self, lambda: CRMAssistLogic().start(None))

    def test_input_volume_converts_to_an_image_with_its_geometry(self):
        from AssistCoreLib.selfTests import checkVolumeConvertsWithItsGeometry

        checkVolumeConvertsWithItsGeometry(self, slicer.mrmlScene)
