"""The assistant's computation in a separate process, with progress and cancel across the boundary.

Why not a thread of the app process: there torch's import of triton (through ``torch._dynamo``, which the
bundled ``torch.export`` programs need) crashes next to VTK's OpenGL libraries. A spawned process loads
neither VTK nor Slicer, keeps the model cached between runs of a session and gives its memory back when
the user signs out.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

_child: dict = {}


def _initialise(events, cancel) -> None:
    _child["events"], _child["cancel"] = events, cancel
    # below the app process: painting and view updates stay responsive while a model loads or runs
    os.nice(5)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="radassist-parent-watch", daemon=True).start()


def _exit_with_parent(parent_pid: int) -> None:
    """End this helper when the app process is gone (signed out, killed): a model in memory must not linger."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(0)


def _warm_up(kind: str) -> int:
    """Import torch and load the assistant's default model now, so the first run does not wait for it."""
    from .assistants import warm_up

    warm_up(kind)
    return os.getpid()


def _run_in_child(kind, inputs, case_id, options):
    from assistcore.models.runner import CancelToken

    from .assistants import compute_case

    events = _child["events"]
    return compute_case(kind, inputs, case_id, options, progress=events.put, cancel_token=CancelToken(_child["cancel"]))


class AssistantProcess:
    """One helper process per signed-in user; runs one assistant at a time."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._events = context.Queue()
        self._cancel = context.Event()
        self._pool = ProcessPoolExecutor(
            1, mp_context=context, initializer=_initialise, initargs=(self._events, self._cancel)
        )

    def warm_up(self, kind: str) -> Future:
        return self._pool.submit(_warm_up, kind)

    def run(self, kind: str, inputs: dict, case_id: str, options: dict | None, progress: Callable) -> Future:
        """Start a run of ``kind``'s assistant; ``progress`` gets each :class:`ProgressEvent` on a listener thread."""
        self._cancel.clear()
        future = self._pool.submit(_run_in_child, kind, inputs, case_id, options)

        def forward() -> None:
            while not future.done():
                try:
                    progress(self._events.get(timeout=0.1))
                except queue.Empty:
                    continue

        threading.Thread(target=forward, name="radassist-progress", daemon=True).start()
        return future

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self._cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
