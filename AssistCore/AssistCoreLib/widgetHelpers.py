"""GUI glue shared by the RadAssist module widgets. Imports Qt: only imported inside the Slicer app.

- :func:`showingErrors`: ``slicer.util.tryWithErrorDisplay`` for Qt slots and MRML observers (the error is
  shown, logged and ends there, and the panel is put back into a usable state).
- :class:`RunController`: polls a RunHandle from a Qt timer (progress bar, status, Cancel, callbacks).
- :func:`fillModelComboBox`: models from the registry, demo models labelled as such.
- :data:`DEVICE_CHOICES` and :func:`choicesOf`: the device list bound to the parameter node.
- :class:`AssistantWidget`: the widget behaviour the three modules share (mixed in before
  ScriptedLoadableModuleWidget).
"""

from __future__ import annotations

import logging
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import qt
import slicer
from slicer.i18n import tr as _

#: Device choices for the parameter nodes; "auto" is CUDA, then MPS, then CPU (assistcore.models.device).
#: inside Slicer networks run with ONNX Runtime: CUDA (onnxruntime-gpu) or the CPU; it has no Apple MPS
DEVICE_CHOICES = ["auto", "cuda", "cpu"]

#: Milliseconds between two polls of a running pipeline: smooth progress, negligible GUI load.
POLL_INTERVAL_MS = 100


@contextmanager
def showingErrors(
    message: str, onError: Callable[[], None] | None = None, waitCursor: bool = False
) -> Iterator[types.SimpleNamespace]:
    """Run the ``with`` block under ``slicer.util.tryWithErrorDisplay(message)``; the error stops here.

    For Qt slots, timer callbacks and MRML observers: tryWithErrorDisplay shows the error and raises it again,
    but a slot has no caller to hand it to (PythonQt would only print it to the Python console once more), so it
    is logged and dropped here, after ``onError()`` has put the panel back into a usable state. An observer that
    fails stays quiet afterwards only if ``onError`` detaches what it follows: a failing frame or slice observer
    would otherwise open a message box for every frame.

    :returns: (as the ``with`` target) an object whose ``error`` is the exception once the block failed, else None.
    """
    outcome = types.SimpleNamespace(error=None)
    try:
        with slicer.util.tryWithErrorDisplay(message, waitCursor=waitCursor):
            yield outcome
    except Exception as error:
        outcome.error = error
        logging.exception("RadAssist: %s", message)
        if onError is not None:
            onError()


class RunController:
    """Polls a RunHandle every 100 ms: progress bar, status text, Cancel button, then a callback.

    Slicer's GUI thread never waits on the worker; the worker never touches Qt or the scene. When the run
    ends, ``onDone(result)`` is called on success; on failure the error is shown with
    ``slicer.util.errorDisplay`` and ``onFailed(error)`` is called; a cancelled run only says so in the
    status label and calls ``onFailed`` with the CancelledError.

    Every path that ends a run leaves the panel usable (Run enabled, Cancel disabled, timer stopped) before any
    callback runs, and the callbacks and the progress display run under ``slicer.util.tryWithErrorDisplay``:
    a result that cannot be added to the scene, a failing ``onFailed`` or a progress event that cannot be shown
    is shown to the user, the status says "Failed" and the progress bar is reset.
    """

    def __init__(self, progressBar, statusLabel, runButton, cancelButton) -> None:
        self.progressBar, self.statusLabel = progressBar, statusLabel
        self.runButton, self.cancelButton = runButton, cancelButton
        self.handle = None
        self.onDone: Callable[[Any], None] | None = None
        self.onFailed: Callable[[BaseException], None] | None = None
        self.timer = qt.QTimer()
        self.timer.setInterval(POLL_INTERVAL_MS)
        self.timer.connect("timeout()", self.poll)
        self.cancelButton.connect("clicked(bool)", self.cancel)
        self.cancelButton.setEnabled(False)

    @property
    def running(self) -> bool:
        return self.handle is not None

    def start(
        self, handle, onDone: Callable[[Any], None], onFailed: Callable[[BaseException], None] | None = None
    ) -> None:
        """Follow ``handle`` (an assistcore.models.runner.RunHandle) until it is done."""
        self.handle, self.onDone, self.onFailed = handle, onDone, onFailed
        self.progressBar.setValue(0)
        self.statusLabel.setText(_("Starting..."))
        self.runButton.setEnabled(False)
        self.cancelButton.setEnabled(True)
        self.timer.start()

    def cancel(self) -> None:
        """Ask the pipeline to stop at its next checkpoint; the timer keeps polling until it has."""
        if self.handle is not None:
            self.handle.cancel()
            self.cancelButton.setEnabled(False)
            self.statusLabel.setText(_("Cancelling at the next step..."))

    def stop(self) -> None:
        """Cancel and stop polling without callbacks (the widget is being destroyed)."""
        if self.handle is not None:
            self.handle.cancel()
        self.timer.stop()
        self.handle = self.onDone = self.onFailed = None

    def poll(self) -> None:
        """Show the progress events that arrived since the last poll; finish once the run is done.

        A progress event that cannot be shown (a malformed event, a widget that raises) ends the run: it is
        cancelled, so the worker stops at its next checkpoint and nothing reaches the scene, and the error is
        shown; polling on would raise again every 100 ms with nobody told.
        """
        if self.handle is None:
            return
        with showingErrors(_("Could not show the assistant's progress.")) as shown:
            for event in self.handle.poll():
                self.progressBar.setValue(max(0, min(100, round(event.fraction * 100))))
                self.statusLabel.setText(f"{event.stage}: {event.message}" if event.message else event.stage)
        if shown.error is not None:
            self._abandon(shown.error)
        elif self.handle.done:
            self._finish()

    def _release(self):
        """Stop following the run and make the panel usable again; returns (handle, onDone, onFailed)."""
        self.timer.stop()
        ended = (self.handle, self.onDone, self.onFailed)
        self.handle = self.onDone = self.onFailed = None
        self.cancelButton.setEnabled(False)
        self.runButton.setEnabled(True)
        return ended

    def _showFailed(self, error: BaseException) -> None:
        self.progressBar.setValue(0)
        self.statusLabel.setText(_("Failed: {error}").format(error=error))

    def _abandon(self, error: BaseException) -> None:
        """The progress display failed (already shown): cancel the run and give the panel back (see :meth:`poll`)."""
        handle, _onDone, onFailed = self._release()
        handle.cancel()
        self._showFailed(error)
        self._callFailed(onFailed, error)

    def _callFailed(self, onFailed, error: BaseException) -> None:
        if onFailed is not None:
            with showingErrors(_("Could not reset the panel after the run."), waitCursor=True):
                onFailed(error)

    def _finish(self) -> None:
        from assistcore.errors import CancelledError

        handle, onDone, onFailed = self._release()
        try:
            result = handle.result()
        except CancelledError as error:  # the user asked for it: no error box
            self.progressBar.setValue(0)
            self.statusLabel.setText(_("Cancelled; nothing was added to the scene."))
            self._callFailed(onFailed, error)
            return
        except BaseException as error:  # the worker hands over whatever stopped it (MemoryError, SystemExit...)
            details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            logging.error("RadAssist run failed:\n%s", details)
            self._showFailed(error)
            # the worker's own traceback as the details, not this timer callback's
            slicer.util.errorDisplay(_("The assistant failed.") + "\n\n" + str(error), detailedText=details)
            self._callFailed(onFailed, error)
            return
        self.progressBar.setValue(100)
        self.statusLabel.setText(_("Done."))
        with showingErrors(_("Could not add the result to the scene."), waitCursor=True) as added:
            onDone(result)
        if added.error is not None:
            self._showFailed(added.error)


def fillModelComboBox(comboBox, assistant: str, warningLabel=None) -> None:
    """Models for ``assistant`` (item text = the card's display name, item data = model id).

    Demo models trained on synthetic data say so in their name ("(demo model, synthetic data - not for
    clinical use)", from ModelCard.display_name), and ``warningLabel`` is shown while one is selected.
    """
    from assistcore.models.registry import ModelRegistry

    registry = ModelRegistry()
    for problem in getattr(registry, "problems", []):  # broken cards are skipped, not hidden
        logging.warning("RadAssist model folder: %s", problem)
    entries = [entry for entry in registry.list() if entry.card.assistant == assistant]
    comboBox.clear()
    for entry in entries:
        comboBox.addItem(entry.card.display_name, entry.card.id)
        comboBox.setItemData(comboBox.count - 1, entry.card.intended_use, qt.Qt.ToolTipRole)
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

    A subclass sets ``assistant`` (model cards' assistant name) and implements ``inputsReady()``,
    ``startRun()`` (returns a RunHandle from its logic) and ``onResult(result)``; UI loading, parameter
    node binding, model and device lists, Run/Cancel with progress live here. The model combo box is not
    bound by ``connectGui`` (its items come from the registry, not from a fixed Choice), so its model id is
    kept in the parameter node's ``modelId`` by hand.
    """

    assistant = ""
    #: (combo box name, parameter name whose Choice annotation lists its items)
    choiceComboBoxes = (("deviceComboBox", "device"),)

    def fillChoiceComboBoxes(self) -> None:
        """Fill bound combo boxes with their Choice values when the GUI connector left them empty
        (Slicer's QComboBox connector fills them itself; older releases did not)."""
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
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChanged)
        self.ui.deviceComboBox.toolTip = _("auto: CUDA if available, then Apple MPS, then CPU")
        self.runController = RunController(
            self.ui.progressBar, self.ui.statusLabel, self.ui.runButton, self.ui.cancelButton
        )
        self.ui.runButton.connect("clicked(bool)", self.onRunButton)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

    @property
    def selectedModelId(self) -> str:
        if self._parameterNode is not None and hasattr(self._parameterNode, "modelId"):
            return self._parameterNode.modelId
        return self.ui.modelComboBox.currentData or ""

    def onModelChanged(self, index: int) -> None:
        if self._parameterNode is not None and hasattr(self._parameterNode, "modelId"):
            self._parameterNode.modelId = self.ui.modelComboBox.itemData(index) or ""

    def showModelOfParameterNode(self) -> None:
        """Select the parameter node's model in the combo box; record the combo's choice when it has none."""
        if not hasattr(self._parameterNode, "modelId"):
            return
        index = self.ui.modelComboBox.findData(self._parameterNode.modelId) if self._parameterNode.modelId else -1
        if index >= 0:
            self.ui.modelComboBox.setCurrentIndex(index)
        else:  # unknown or unset id (model removed since the scene was saved): use what is shown
            self.onModelChanged(self.ui.modelComboBox.currentIndex)

    def onRunButton(self) -> None:
        from AssistCoreLib.slicerDependencies import ensureRequirements

        with slicer.util.tryWithErrorDisplay(_("Could not start the assistant."), waitCursor=True):
            if ensureRequirements(slicer.util.mainWindow()):
                handle = self.startRun()
                self.runController.start(handle, lambda result: self._onRunDone(result, handle), self._onRunFailed)
                self.updateRunButton()

    def _onRunDone(self, result, handle=None) -> None:
        self.updateRunButton()
        self.onResult(result)
        self.keepRunResults(result, handle)

    def keepRunResults(self, result, handle) -> None:
        """Write the run's result folder (the command line's files, from the run's inputs) and make it the Report
        section's case, so the reader can draft, sign and export a report of a run made in the panel. A failure
        here is shown; the result stays in the scene."""
        panel = getattr(self, "reportPanel", None)
        if panel is None or handle is None:
            return
        with showingErrors(_("The result is in the scene, but its result folder for the report was not written.")):
            panel.takeRun(self.assistant, handle, result, self.reviewedResultsWriter(result, handle))

    def reviewedResultsWriter(self, result, handle):
        """A function writing this panel's reviews of ``result`` (the run of ``handle``) into its result folder
        (the Report section calls it before the first draft), or None when the module's reviews do not go into
        its report."""
        return None

    def _onRunFailed(self, error) -> None:
        self.updateRunButton()

    # ----- parameter node, as in Slicer's scripted-module template ---------------------------------
    def cleanup(self) -> None:
        self.runController.stop()
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
            self.showModelOfParameterNode()
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateRunButton)
            self.updateRunButton()

    def updateRunButton(self, caller=None, event=None) -> None:
        ready = self._parameterNode is not None and self.inputsReady() and not self.runController.running
        self.ui.runButton.enabled = bool(ready)
        self.ui.runButton.toolTip = _("Run the assistant") if ready else _("Select the required input volumes")
