"""The Slicer-only glue (run controller, model list, dependency installer) driven with stand-ins for Qt and
``slicer.util``: the real RunHandle, registry and requirement list, without the Slicer app.

What the stand-ins cannot show (Qt's event loop, real dialogs, pip inside Slicer) is left to the modules'
self-tests in Slicer.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
import types
from pathlib import Path

import pytest

from assistcore.errors import CancelledError, InputError
from assistcore.models.runner import start_in_thread

ROOT = Path(__file__).resolve().parents[1]


class Widget:
    """Stand-in for the few Qt widget calls the glue makes."""

    def __init__(self) -> None:
        self.enabled, self.visible, self.text, self.value = True, True, "", 0
        self.slots: dict[str, object] = {}

    def connect(self, signal, slot) -> None:
        self.slots[signal] = slot

    def setEnabled(self, enabled) -> None:
        self.enabled = enabled

    def setVisible(self, visible) -> None:
        self.visible = visible

    def setText(self, text) -> None:
        self.text = text

    def setValue(self, value) -> None:
        self.value = value

    def click(self) -> None:
        self.slots["clicked(bool)"]()


class ComboBox(Widget):
    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, object]] = []
        self.toolTips: dict[int, str] = {}
        self.currentIndex = -1

    def clear(self) -> None:
        self.items, self.currentIndex = [], -1

    def addItem(self, text, data=None) -> None:
        self.items.append((text, data))
        self.currentIndex = max(self.currentIndex, 0)

    @property
    def count(self) -> int:
        return len(self.items)

    def itemData(self, index):
        return self.items[index][1]

    def setItemData(self, index, value, role) -> None:
        self.toolTips[index] = value

    def select(self, index) -> None:
        self.currentIndex = index
        self.slots["currentIndexChanged(int)"](index)


class Timer(Widget):
    def __init__(self) -> None:
        super().__init__()
        self.active, self.interval = False, None

    def setInterval(self, milliseconds) -> None:
        self.interval = milliseconds

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False


def recordingTryWithErrorDisplay(calls: list[tuple]):
    """``slicer.util.tryWithErrorDisplay`` as Slicer 5 has it: an error in the block is shown in an error box
    ("message\n\nerror") and raised again; here the box is a recorded ("errorDisplay", text) call."""

    @contextlib.contextmanager
    def tryWithErrorDisplay(message=None, show=True, waitCursor=False):
        try:
            yield
        except Exception as error:
            if show:
                calls.append(("errorDisplay", f"{message}\n\n{error}" if message is not None else str(error)))
            raise

    return tryWithErrorDisplay


@pytest.fixture
def fake_slicer(monkeypatch):
    """``qt``, ``slicer``, ``slicer.util`` and ``slicer.i18n`` stand-ins that record what they are asked."""
    calls: list[tuple] = []
    answers = {"confirm": True}
    util = types.SimpleNamespace(
        errorDisplay=lambda text, **kwargs: calls.append(("errorDisplay", text)),
        tryWithErrorDisplay=recordingTryWithErrorDisplay(calls),
        confirmOkCancelDisplay=lambda text, **kwargs: calls.append(("confirm", text)) or answers["confirm"],
        pip_install=lambda requirements: calls.append(("pip_install", requirements)),
    )
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr = lambda text: text
    slicer = types.ModuleType("slicer")
    slicer.util, slicer.i18n = util, i18n
    qt = types.ModuleType("qt")
    qt.QTimer = Timer
    qt.Qt = types.SimpleNamespace(ToolTipRole=3)
    for name, module in (("slicer", slicer), ("slicer.i18n", i18n), ("slicer.util", util), ("qt", qt)):
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(calls=calls, answers=answers, util=util)


@pytest.fixture
def widget_helpers(fake_slicer):
    """AssistCoreLib/widgetHelpers.py loaded against the stand-ins (under a private name)."""
    path = ROOT / "AssistCore" / "AssistCoreLib" / "widgetHelpers.py"
    spec = importlib.util.spec_from_file_location("_widget_helpers_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def controller(widget_helpers):
    parts = types.SimpleNamespace(progress=Widget(), status=Widget(), run=Widget(), cancel=Widget())
    parts.controller = widget_helpers.RunController(parts.progress, parts.status, parts.run, parts.cancel)
    parts.done, parts.failed = [], []
    return parts


def _start(parts, pipeline):
    handle = start_in_thread(pipeline, {}, {})
    parts.controller.start(handle, parts.done.append, parts.failed.append)
    return handle


def test_run_controller_shows_progress_then_hands_the_result_to_the_done_callback(controller, fake_slicer):
    reported, release = threading.Event(), threading.Event()

    def pipeline(images, options, progress=None, cancel_token=None):
        from assistcore.models.runner import ProgressEvent

        progress(ProgressEvent("segment", 0.5, "slice 3/6"))
        reported.set()
        release.wait(10)
        return "the result"

    handle = _start(controller, pipeline)
    assert controller.controller.timer.active and controller.controller.timer.interval == 100
    assert not controller.run.enabled and controller.cancel.enabled
    assert reported.wait(10)
    controller.controller.poll()
    assert (controller.progress.value, controller.status.text) == (50, "segment: slice 3/6")
    assert controller.controller.running and controller.done == []
    release.set()
    assert handle.wait(10)
    controller.controller.poll()
    assert controller.done == ["the result"] and controller.failed == []
    assert (controller.progress.value, controller.status.text) == (100, "Done.")
    assert controller.run.enabled and not controller.cancel.enabled and not controller.controller.timer.active
    assert fake_slicer.calls == []


def test_cancel_button_stops_the_run_at_its_next_checkpoint_without_an_error_box(controller, fake_slicer):
    def pipeline(images, options, progress=None, cancel_token=None):
        while True:
            cancel_token.raise_if_cancelled()
            threading.Event().wait(0.01)

    handle = _start(controller, pipeline)
    controller.cancel.click()
    assert not controller.cancel.enabled and "Cancelling" in controller.status.text
    assert handle.wait(10)
    controller.controller.poll()
    assert controller.done == [] and isinstance(controller.failed[0], CancelledError)
    assert controller.status.text.startswith("Cancelled") and controller.progress.value == 0
    assert fake_slicer.calls == [], "a cancel the user asked for is not an error"
    assert controller.run.enabled


def test_a_failed_run_is_shown_with_error_display_and_reported_to_the_failed_callback(controller, fake_slicer):
    def pipeline(images, options, progress=None, cancel_token=None):
        raise InputError("Volume 'T2' is 2D.", "Select a 3D series.")

    handle = _start(controller, pipeline)
    assert handle.wait(10)
    controller.controller.poll()
    assert controller.done == [] and isinstance(controller.failed[0], InputError)
    [(kind, text)] = fake_slicer.calls
    assert kind == "errorDisplay" and "Volume 'T2' is 2D. Select a 3D series." in text
    assert controller.status.text.startswith("Failed") and controller.run.enabled


def _finished(parts, pipeline):
    """Start ``pipeline``, let it finish, then poll once as the timer would."""
    handle = _start(parts, pipeline)
    assert handle.wait(10)
    parts.controller.poll()
    return handle


def _usable(parts) -> None:
    """The panel after a failed run: Run enabled, Cancel disabled, progress reset, nothing polled any more."""
    assert parts.run.enabled and not parts.cancel.enabled and not parts.controller.timer.active
    assert parts.progress.value == 0 and parts.status.text.startswith("Failed")
    assert not parts.controller.running


def test_a_result_that_cannot_be_added_to_the_scene_is_shown_and_the_panel_is_usable_again(controller, fake_slicer):
    def addToScene(result):
        raise RuntimeError(f"the scene refused {result}")

    handle = start_in_thread(lambda images, options, progress=None, cancel_token=None: "the result", {}, {})
    controller.controller.start(handle, addToScene, controller.failed.append)
    assert handle.wait(10)
    controller.controller.poll()  # must not raise: a timer callback has nobody to hand the error to
    [(kind, text)] = fake_slicer.calls
    assert kind == "errorDisplay" and "Could not add the result to the scene." in text
    assert "the scene refused the result" in text
    _usable(controller)
    assert "the scene refused" in controller.status.text


class Stopped(BaseException):
    """Not an Exception: what a worker may end with (SystemExit, KeyboardInterrupt, GeneratorExit)."""


def test_a_worker_ended_by_a_base_exception_is_shown_and_reported_like_any_failure(controller, fake_slicer):
    def pipeline(images, options, progress=None, cancel_token=None):
        raise Stopped("the worker was stopped")

    _finished(controller, pipeline)
    [(kind, text)] = fake_slicer.calls
    assert kind == "errorDisplay" and "The assistant failed." in text and "the worker was stopped" in text
    assert isinstance(controller.failed[0], Stopped) and controller.done == []
    _usable(controller)


def test_a_progress_event_that_cannot_be_shown_cancels_the_run_and_is_shown_once(controller, fake_slicer):
    from assistcore.models.runner import ProgressEvent

    reported, release = threading.Event(), threading.Event()

    def pipeline(images, options, progress=None, cancel_token=None):
        progress(ProgressEvent("segment", None, "slice 1/6"))  # no fraction: the progress bar cannot show it
        reported.set()
        release.wait(10)
        cancel_token.raise_if_cancelled()
        return "the result"

    handle = _start(controller, pipeline)
    assert reported.wait(10)
    controller.controller.poll()
    [(kind, text)] = fake_slicer.calls
    assert kind == "errorDisplay" and "Could not show the assistant's progress." in text
    assert handle.cancel_token.cancelled, "the worker stops at its next checkpoint"
    _usable(controller)
    assert isinstance(controller.failed[0], TypeError)
    release.set()
    assert handle.wait(10)
    controller.controller.poll()  # the run is no longer followed: no result, no second box
    assert controller.done == [] and len(fake_slicer.calls) == 1


def test_a_failed_run_whose_failure_callback_raises_is_still_shown_and_the_panel_usable(controller, fake_slicer):
    def pipeline(images, options, progress=None, cancel_token=None):
        raise InputError("Volume 'T2' is 2D.")

    def onFailed(error):
        raise RuntimeError("the panel could not be reset")

    handle = start_in_thread(pipeline, {}, {})
    controller.controller.start(handle, controller.done.append, onFailed)
    assert handle.wait(10)
    controller.controller.poll()
    texts = [text for kind, text in fake_slicer.calls if kind == "errorDisplay"]
    assert len(texts) == 2 and "Volume 'T2' is 2D." in texts[0] and "the panel could not be reset" in texts[1]
    _usable(controller)


def test_model_list_names_demo_models_and_shows_the_warning_only_for_them(widget_helpers, monkeypatch, tmp_path):
    monkeypatch.setenv("RADASSIST_BUNDLED_MODELS", str(ROOT / "Resources" / "Models"))
    monkeypatch.setenv("RADASSIST_USER_MODELS", str(tmp_path / "user"))
    monkeypatch.delenv("RADASSIST_MODELS_PATH", raising=False)
    comboBox, warning = ComboBox(), Widget()
    widget_helpers.fillModelComboBox(comboBox, "crm", warning)
    text, modelId = comboBox.items[0]
    assert modelId == "crm-demo"
    assert "(demo model, synthetic data - not for clinical use)" in text
    assert "not for clinical use" in comboBox.toolTips[0]
    assert warning.visible

    brain, brainWarning = ComboBox(), Widget()
    widget_helpers.fillModelComboBox(brain, "brain_tumor", brainWarning)
    assert [data for _, data in brain.items][:2] == ["brain-tumor-deepmedic-captk", "brain-tumor-demo"]
    assert "demo model" not in brain.items[0][0] and "demo model" in brain.items[1][0]
    assert not brainWarning.visible, "the default brain model is trained on real gliomas"

    other, otherWarning = ComboBox(), Widget()
    widget_helpers.fillModelComboBox(other, "generic", otherWarning)  # no generic model is bundled
    assert [data for _, data in other.items] == [""] and "No model found" in other.items[0][0]
    assert not otherWarning.visible


@pytest.fixture
def installed(monkeypatch):
    """Which import names exist, as importlib.util.find_spec reports them; pip adds to it."""
    present = {
        "pydicom",
        "jsonschema",
        "scipy",
        "sklearn",
        "matplotlib",
        "platformdirs",
        "PIL",
        "tqdm",
        "nibabel",
        "nrrd",
    }
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name in present else None)
    return present


@pytest.fixture
def dependencies(fake_slicer):
    from AssistCoreLib import slicerDependencies

    return slicerDependencies


def test_nothing_is_asked_or_installed_when_every_package_is_there(dependencies, installed, fake_slicer):
    installed.add("onnxruntime")
    assert dependencies.ensureRequirements() is True
    assert fake_slicer.calls == []


def test_missing_packages_are_installed_only_after_the_user_agrees(dependencies, installed, fake_slicer):
    installed -= {"jsonschema"}
    fake_slicer.util.pip_install = lambda requirements: (
        fake_slicer.calls.append(("pip_install", requirements)) or (installed.update({"jsonschema", "onnxruntime"}))
    )
    assert dependencies.ensureRequirements() is True
    (ask, question), install = fake_slicer.calls
    assert ask == "confirm" and "jsonschema>=4.18" in question and "onnxruntime>=1.16" in question
    assert install == ("pip_install", ["jsonschema>=4.18", "onnxruntime>=1.16"])


def test_declining_the_install_installs_nothing(dependencies, installed, fake_slicer):
    fake_slicer.answers["confirm"] = False
    assert dependencies.ensureRequirements() is False
    assert [call[0] for call in fake_slicer.calls] == ["confirm"]


def test_packages_still_missing_after_pip_are_named_in_the_error(dependencies, installed, fake_slicer):
    with pytest.raises(RuntimeError, match="onnxruntime>=1.16"):
        dependencies.ensureRequirements()


def test_neither_torch_nor_monai_is_asked_for_inside_slicer(dependencies, installed, fake_slicer):
    from AssistCoreLib.dependencies import REQUIREMENTS

    assert not {"torch", "torchvision", "monai"} & set(REQUIREMENTS)
    assert not any("torch" in requirement or "monai" in requirement for requirement in REQUIREMENTS.values())
    installed.add("onnxruntime")
    assert dependencies.ensureRequirements() is True and fake_slicer.calls == []
