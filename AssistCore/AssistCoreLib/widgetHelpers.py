"""GUI glue shared by the RadAssist module widgets. Imports Qt: only imported inside the Slicer app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import qt
import slicer
from slicer.i18n import tr as _


class RunController:
    """Polls a RunHandle every 100 ms: progress bar, status text, Cancel button, then a done callback.

    Slicer's GUI thread never waits on the worker; the worker never touches Qt or the scene.
    """

    def __init__(self, progressBar, statusLabel, runButton, cancelButton) -> None:
        self.progressBar, self.statusLabel = progressBar, statusLabel
        self.runButton, self.cancelButton = runButton, cancelButton
        self.handle = None
        self.onDone: Callable[[Any], None] | None = None
        self.timer = qt.QTimer()
        self.timer.setInterval(100)
        self.timer.connect("timeout()", self._poll)
        self.cancelButton.connect("clicked(bool)", self.cancel)

    @property
    def running(self) -> bool:
        return self.handle is not None

    def start(self, handle, onDone: Callable[[Any], None]) -> None:
        self.handle, self.onDone = handle, onDone
        self.progressBar.setValue(0)
        self.statusLabel.setText(_("Starting..."))
        self.runButton.setEnabled(False)
        self.cancelButton.setEnabled(True)
        self.timer.start()

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.statusLabel.setText(_("Cancelling at the next step..."))

    def _poll(self) -> None:
        for event in self.handle.poll():
            self.progressBar.setValue(round(event.fraction * 100))
            self.statusLabel.setText(f"{event.stage}: {event.message}")
        if not self.handle.done:
            return
        self.timer.stop()
        handle, self.handle = self.handle, None
        self.cancelButton.setEnabled(False)
        self.runButton.setEnabled(True)
        with slicer.util.tryWithErrorDisplay(_("The assistant failed."), waitCursor=True):
            result = handle.result()
            self.progressBar.setValue(100)
            self.statusLabel.setText(_("Done."))
            self.onDone(result)


def fillModelComboBox(comboBox, assistant: str, warningLabel=None) -> None:
    """Models for ``assistant`` (item data = model id); demo models are labelled as such, and the warning
    label is shown while a demo model is selected."""
    from assistcore.models.registry import ModelRegistry

    comboBox.clear()
    entries = [entry for entry in ModelRegistry().list() if entry.card.assistant == assistant]
    for entry in entries:
        comboBox.addItem(entry.card.display_name, entry.card.id)
    if not entries:
        comboBox.addItem(_("No model found: import one (radassist models import)"), "")
    if warningLabel is not None:
        demo = {entry.card.id for entry in entries if entry.card.is_synthetic_demo}

        def updateWarning(index: int) -> None:
            warningLabel.setVisible(comboBox.itemData(index) in demo)

        comboBox.connect("currentIndexChanged(int)", updateWarning)
        updateWarning(comboBox.currentIndex)


def choicesOf(parameterNodeClass, parameterName: str) -> list[str]:
    """The values of the ``Choice`` annotation of a parameterNodeWrapper field."""
    import typing

    from slicer.parameterNodeWrapper import Choice

    annotation = typing.get_type_hints(parameterNodeClass, include_extras=True)[parameterName]
    for extra in getattr(annotation, "__metadata__", ()):
        if isinstance(extra, Choice):
            return list(extra.choices)
    return []


class AssistantWidget:
    """Behaviour shared by the three module widgets (mixed in before ScriptedLoadableModuleWidget).

    A subclass sets ``assistant`` (model cards' assistant name) and implements ``startRun()`` (returns a
    RunHandle from its logic) and ``onResult(result)``; everything else (UI loading, parameter node
    binding, model and device lists, Run/Cancel with progress) lives here.
    """

    assistant = ""
    #: (combo box name, parameter name whose Choice annotation lists its items)
    choiceComboBoxes = (("deviceComboBox", "device"),)

    def fillChoiceComboBoxes(self) -> None:
        """Fill bound combo boxes with their Choice values when the GUI connector left them empty."""
        for widgetName, parameterName in self.choiceComboBoxes:
            comboBox = getattr(self.ui, widgetName)
            if comboBox.count == 0:
                for choice in choicesOf(type(self._parameterNode), parameterName):
                    comboBox.addItem(choice)
                comboBox.currentText = getattr(self._parameterNode, parameterName)

    def setupAssistantWidget(self) -> None:
        uiWidget = slicer.util.loadUI(self.resourcePath(f"UI/{self.moduleName}.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        fillModelComboBox(self.ui.modelComboBox, self.assistant, self.ui.demoWarningLabel)
        self.runController = RunController(
            self.ui.progressBar, self.ui.statusLabel, self.ui.runButton, self.ui.cancelButton
        )
        self.ui.runButton.connect("clicked(bool)", self.onRunButton)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

    @property
    def selectedModelId(self) -> str:
        return self.ui.modelComboBox.currentData or ""

    def onRunButton(self) -> None:
        from AssistCoreLib.slicerDependencies import ensureRequirements

        with slicer.util.tryWithErrorDisplay(_("Could not start the assistant."), waitCursor=True):
            if ensureRequirements(slicer.util.mainWindow()):
                self.runController.start(self.startRun(), self.onResult)

    # ----- parameter node, as in Slicer's scripted-module template ---------------------------------
    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, parameterNode) -> None:
        import vtk

        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateRunButton)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.fillChoiceComboBoxes()
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateRunButton)
            self.updateRunButton()

    def updateRunButton(self, caller=None, event=None) -> None:
        ready = self._parameterNode is not None and self.inputsReady() and not self.runController.running
        self.ui.runButton.enabled = bool(ready)
        self.ui.runButton.toolTip = _("Run the assistant") if ready else _("Select the required input volumes")
