"""Running pipelines in-process without freezing a GUI: a worker thread, progress events, cancel tokens.

A pipeline takes ``progress`` (a callable receiving :class:`ProgressEvent`) and ``cancel_token``, reports
progress between steps and calls ``cancel_token.raise_if_cancelled()`` between slices or windows. The
Slicer widget starts it with :func:`start_in_thread` and polls the handle from a timer; the command line
calls the pipeline directly with a terminal progress bar.
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
    stage: str
    fraction: float  # 0..1 of the whole run
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """Set by the user (Cancel button, Ctrl+C); checked by the pipeline between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError("Run cancelled by the user; no results were written.")


class ProgressReporter:
    """Maps each stage's own 0..1 progress onto the whole run, stages weighted by their expected cost.

    :param stages: (name, weight) in the order they run.
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

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        if self._callback is None:
            return
        overall = self._start[stage] + self._weight[stage] * min(max(fraction, 0.0), 1.0)
        self._callback(ProgressEvent(stage, overall, message))


class RunHandle:
    """A pipeline running in a worker thread. Poll it; never block the GUI thread on it."""

    def __init__(self, cancel_token: CancelToken) -> None:
        self.cancel_token = cancel_token
        self._events: queue.Queue[ProgressEvent] = queue.Queue()
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def poll(self) -> list[ProgressEvent]:
        """Progress events since the last poll (non-blocking)."""
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        assert self._thread is not None
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self) -> Any:
        """The pipeline's return value; re-raises its exception (CancelledError when cancelled)."""
        if not self.done:
            raise RuntimeError("The run has not finished; check .done first.")
        if self._error is not None:
            raise self._error
        return self._result


def start_in_thread(
    function: Callable[..., Any], *args: Any, cancel_token: CancelToken | None = None, **kwargs: Any
) -> RunHandle:
    """Run ``function(*args, progress=..., cancel_token=..., **kwargs)`` in a daemon worker thread."""
    handle = RunHandle(cancel_token or CancelToken())

    def work() -> None:
        try:
            handle._result = function(*args, progress=handle._events.put, cancel_token=handle.cancel_token, **kwargs)
        except BaseException as error:  # handed to the caller through result()
            handle._error = error

    handle._thread = threading.Thread(
        target=work, name=f"radassist-{getattr(function, '__name__', 'run')}", daemon=True
    )
    handle._thread.start()
    return handle


def count_sliding_windows(image_size: Sequence[int], roi_size: Sequence[int], overlap: float) -> int:
    """Number of windows MONAI's sliding_window_inference visits for one image (same scan rule)."""
    total = 1
    for size, roi in zip(image_size, roi_size):
        roi = min(roi, size)
        interval = max(int(roi * (1 - overlap)), 1)
        total *= 1 if size <= roi else math.ceil((size - roi) / interval) + 1
    return total


def sliding_window_inference_with_progress(
    inputs: Any,
    predictor: Callable[[Any], Any],
    roi_size: Sequence[int],
    overlap: float = 0.25,
    sw_batch_size: int = 1,
    progress: Callable[[float, str], None] | None = None,
    cancel_token: CancelToken | None = None,
    **kwargs: Any,
) -> Any:
    """MONAI's sliding_window_inference, reporting windows done/total and stopping at the next window when
    cancelled. ``inputs`` is a tensor (batch, channels, *spatial)."""
    from monai.inferers import sliding_window_inference

    total = math.ceil(count_sliding_windows(inputs.shape[2:], roi_size, overlap) / sw_batch_size)
    done = 0

    def counted(window: Any) -> Any:
        nonlocal done
        if cancel_token is not None:
            cancel_token.raise_if_cancelled()
        output = predictor(window)
        done += 1
        if progress is not None:
            progress(min(done / total, 1.0), f"window {done}/{total}")
        return output

    return sliding_window_inference(inputs, roi_size, sw_batch_size, counted, overlap=overlap, **kwargs)
