"""Running pipelines in-process without freezing a GUI: a worker thread, progress events, cancel tokens.

The contract every pipeline follows::

    def run(inputs, options, progress=None, cancel_token=None): ...

``progress`` receives :class:`ProgressEvent` objects; ``cancel_token.raise_if_cancelled()`` is called
between slices or windows, so a cancelled run stops at the next one with :class:`CancelledError` (and
writes nothing, since outputs are written atomically at the end). The Slicer widget starts a pipeline
with :func:`start_in_thread` and polls the returned :class:`RunHandle` from a timer; the command line
calls the pipeline directly with a terminal progress bar as ``progress``.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import CancelledError


@dataclass(frozen=True)
class ProgressEvent:
    """``fraction`` (0..1) is of the whole run when it comes from a :class:`ProgressReporter`, else of
    the stage that sent it."""

    stage: str
    fraction: float
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """Set by the user (Cancel button, Ctrl+C); checked by the pipeline between steps. Thread-safe.

    :param event: what holds the flag: a ``threading.Event`` by default; a ``multiprocessing`` event lets
        another process cancel (the Station's assistant process).
    """

    def __init__(self, event=None) -> None:
        self._event = event if event is not None else threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """:raises CancelledError: once :meth:`cancel` was called."""
        if self._event.is_set():
            raise CancelledError("Run cancelled by the user; no results were written.")


class ProgressReporter:
    """Maps each stage's own 0..1 progress onto the whole run, stages weighted by their expected cost.

    Call it as ``reporter(stage, fraction, message)`` or hand it a stage-level :class:`ProgressEvent`
    (``reporter(event)``), so building blocks that emit events (such as
    :func:`sliding_window_inference_with_progress`) can report through it. Overall fractions never go back.

    :param stages: (name, weight) in the order they run, e.g. [("load", 1), ("inference", 8), ("save", 1)].
    :param callback: receives the overall :class:`ProgressEvent`; None reports nothing.
    """

    def __init__(self, stages: Sequence[tuple[str, float]], callback: ProgressCallback | None = None) -> None:
        total = sum(weight for _, weight in stages) or 1.0
        self._start: dict[str, float] = {}
        self._weight: dict[str, float] = {}
        position = 0.0
        for name, weight in stages:
            self._start[name], self._weight[name] = position / total, weight / total
            position += weight
        self._callback = callback
        self._last = 0.0

    def __call__(self, stage: str | ProgressEvent, fraction: float = 0.0, message: str = "") -> None:
        if isinstance(stage, ProgressEvent):
            stage, fraction, message = stage.stage, stage.fraction, stage.message
        if stage not in self._start:
            raise KeyError(f"Unknown progress stage {stage!r}; known: {', '.join(self._start)}")
        if self._callback is None:
            return
        overall = self._start[stage] + self._weight[stage] * min(max(fraction, 0.0), 1.0)
        self._last = max(self._last, min(overall, 1.0))
        self._callback(ProgressEvent(stage, self._last, message))

    def stage(self, name: str) -> Callable[[float, str], None]:
        """A ``(fraction, message)`` callback for one stage, for loops that only know their own progress."""
        return lambda fraction, message="": self(name, fraction, message)


class RunHandle:
    """A pipeline running in a worker thread. Poll it from the GUI thread; never block the GUI on it."""

    def __init__(self, cancel_token: CancelToken) -> None:
        self.cancel_token = cancel_token
        self._events: queue.Queue[ProgressEvent] = queue.Queue()
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        #: what the run was started on, set by whoever starts it (the Slicer modules write the run's result
        #: folder from them): input images by role, and the case ID its files are named with
        self.inputs: dict[str, Any] = {}
        self.case_id = ""

    def poll(self) -> list[ProgressEvent]:
        """Progress events since the last poll, oldest first (non-blocking)."""
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    @property
    def done(self) -> bool:
        """True once the worker has finished (returned, failed or stopped after a cancel)."""
        return self._thread is not None and not self._thread.is_alive()

    def cancel(self) -> None:
        """Ask the pipeline to stop at its next checkpoint (returns at once)."""
        self.cancel_token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds (None: until done); True when the run has finished."""
        assert self._thread is not None
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self, timeout: float | None = 0.0) -> Any:
        """The pipeline's return value; re-raises its exception (CancelledError when cancelled).

        :param timeout: seconds to wait for the run to finish (0: do not wait; None: wait as long as it takes).
        :raises RuntimeError: the run has not finished within ``timeout``.
        """
        if timeout != 0.0:
            self.wait(timeout)
        if not self.done:
            raise RuntimeError("The run has not finished; check .done or pass a timeout.")
        if self._error is not None:
            raise self._error
        return self._result


def start_in_thread(
    function: Callable[..., Any],
    *args: Any,
    progress: ProgressCallback | None = None,
    cancel_token: CancelToken | None = None,
    **kwargs: Any,
) -> RunHandle:
    """Run ``function(*args, progress=..., cancel_token=..., **kwargs)`` in a daemon worker thread.

    Every :class:`ProgressEvent` the function reports is queued for :meth:`RunHandle.poll` and, when
    ``progress`` is given, also passed to it *in the worker thread* (fine for logging or a terminal bar;
    a Qt widget must use ``poll`` from a timer instead).
    """
    handle = RunHandle(cancel_token or CancelToken())

    def report(event: ProgressEvent) -> None:
        handle._events.put(event)
        if progress is not None:
            progress(event)

    def work() -> None:
        try:
            handle._result = function(*args, progress=report, cancel_token=handle.cancel_token, **kwargs)
        except BaseException as error:  # handed to the caller through result()
            handle._error = error

    handle._thread = threading.Thread(
        target=work, name=f"radassist-{getattr(function, '__name__', 'run')}", daemon=True
    )
    handle._thread.start()
    return handle


def count_sliding_windows(
    image_size: Sequence[int], roi_size: Sequence[int | None], overlap: float | Sequence[float] = 0.25
) -> int:
    """Windows MONAI's ``sliding_window_inference`` visits for one image (its scan rule, without torch).

    Sizes are spatial, in the tensor's axis order. An image smaller than the window is padded to it
    (one window along that axis); a roi size of 0, None or less falls back to the image size.
    """
    overlaps = list(overlap) if isinstance(overlap, Sequence) else [overlap] * len(image_size)
    total = 1
    for size, roi, axis_overlap in zip(image_size, roi_size, overlaps, strict=True):
        roi = int(size) if roi is None or roi <= 0 else int(roi)
        padded = max(int(size), roi)
        if roi >= padded:
            continue
        interval = max(int(roi * (1 - axis_overlap)), 1)
        total *= math.ceil((padded - roi) / interval) + 1
    return total


def sliding_window_inference_with_progress(
    inputs: Any,
    predictor: Callable[..., Any],
    roi_size: Sequence[int],
    overlap: float = 0.25,
    progress: ProgressCallback | None = None,
    cancel_token: CancelToken | None = None,
    sw_batch_size: int = 1,
    stage: str = "inference",
    **kwargs: Any,
) -> Any:
    """MONAI's ``sliding_window_inference``, reporting windows done/total and stopping at the next window
    once ``cancel_token`` is cancelled.

    MONAI's own ``progress`` flag only drives a tqdm bar, so the predictor is wrapped: before each batch of
    windows the token is checked, after it a ``ProgressEvent(stage, windows_done / windows_total,
    "window i/n")`` is sent (hand a :class:`ProgressReporter` as ``progress`` to map it onto a whole run).

    :param inputs: tensor (batch, channels, *spatial), e.g. (1, 4, D, H, W).
    :param predictor: the network (or any callable) taking a batch of windows.
    :param kwargs: passed on to MONAI (mode, sw_device, device, padding_mode, ...).
    :raises CancelledError: cancelled; no output is returned.
    """
    from monai.inferers import sliding_window_inference

    batch_size = int(inputs.shape[0])
    total = count_sliding_windows(tuple(inputs.shape[2:]), roi_size, overlap) * batch_size
    done = 0

    def counted(windows: Any, *args: Any, **predictor_kwargs: Any) -> Any:
        nonlocal done
        if cancel_token is not None:
            cancel_token.raise_if_cancelled()
        output = predictor(windows, *args, **predictor_kwargs)
        done += int(windows.shape[0])
        if progress is not None:
            progress(ProgressEvent(stage, min(done / total, 1.0), f"window {min(done, total)}/{total}"))
        return output

    return sliding_window_inference(inputs, roi_size, sw_batch_size, counted, overlap=overlap, **kwargs)
