"""Writing ``scene.mrb`` next to the main work of a command-line run.

Importing slicer-core (VTK, MRML, the segmentation logic) takes seconds in a fresh process, as long as a
fast-mode case takes to compute. A :class:`SceneWriter` created at the start of a run starts a helper
process that imports slicer-core on the other CPU core while this process reads the images and runs the
network; when the result is ready it goes to the helper, which builds the scene and writes the bundle while
this process writes the NIfTI files, pictures and report. In a process that has imported slicer-core
already (the second case of a batch, the demo, Slicer itself) the scene is built here, without a helper.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import multiprocessing
import os
import sys
from pathlib import Path
from typing import Any

from assistcore.errors import RadAssistError

#: how long to wait for the helper's answer before giving up (it has the whole scene to write)
TIMEOUT_S = 600.0


def _builder(path: str):
    module_name, _, function_name = path.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def _new_scene():
    """A headless scene and its logics, or the note saying why slicer-core cannot make one."""
    try:
        from AssistCoreLib.headless import createHeadlessScene

        return createHeadlessScene(), ""
    except ImportError as error:
        return None, f"scene.mrb not written: slicer-core missing ({error})"


def build_and_save(builder: str, path: str | Path, arguments: tuple, prepared=None) -> str:
    """Build a headless scene with ``builder`` ("module:function" called as function(scene, logics, *arguments))
    and save it as ``path``; returns "" or, when slicer-core is missing, a note saying so.

    :param prepared: a (scene and logics, note) pair made in advance by :func:`_new_scene`.
    """
    made, note = prepared or _new_scene()
    if made is None:
        return note
    from AssistCoreLib.scenes import saveSceneBundle

    scene, logics = made
    _builder(builder)(scene, logics, *arguments)
    saveSceneBundle(scene, path)
    return ""


def _serve(connection) -> None:
    """The helper process: make the scene now (the slow imports, while the parent computes), then build and
    save the one scene it is sent.

    The helper runs at a lower priority: its imports fill the CPU the parent leaves idle (single-threaded
    reading, Python between batches) instead of slowing the detector's or network's threads; by the time the
    parent sends the scene it waits for the helper, so the priority no longer matters.
    """
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice on Windows
        os.nice(10)
    prepared = _new_scene()
    job = connection.recv()
    if job is None:
        return
    builder, path, arguments = job
    try:
        connection.send(("ok", build_and_save(builder, path, arguments, prepared)))
    except Exception as error:  # sent back and raised in the parent with its message
        connection.send(("error", f"{type(error).__name__}: {error}"))


class SceneWriter:
    """Writes one scene bundle, in a helper process when slicer-core is not imported here yet (see module doc)."""

    def __init__(self, use_helper: bool | None = None) -> None:
        if use_helper is None:
            use_helper = "slicer" not in sys.modules and importlib.util.find_spec("slicer") is not None
        self._process = None
        self._connection = None
        self._job: tuple[str, str, tuple] | None = None
        if use_helper:
            context = multiprocessing.get_context("spawn")
            self._connection, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child,), daemon=True, name="radassist-scene")
            self._process.start()
            child.close()

    def write(self, builder: str, path: str | Path, *arguments: Any) -> str:
        """Build the scene with ``builder`` and save it as ``path``; "" when written, else why not.

        :raises RadAssistError: building or saving the scene failed (the message says why).
        """
        self.submit(builder, path, *arguments)
        return self.finish()

    def submit(self, builder: str, path: str | Path, *arguments: Any) -> None:
        """Send the scene to the helper and return at once (the caller writes its other files meanwhile);
        :meth:`finish` waits for it. Without a helper the scene is built in :meth:`finish`."""
        self._job = (builder, str(path), arguments)
        if self._process is not None:
            with contextlib.suppress(OSError):  # a stopped helper: finish() reports it
                self._connection.send(self._job)

    def finish(self) -> str:
        """Wait for the scene sent by :meth:`submit`; "" when written, else why not.

        :raises RadAssistError: building or saving the scene failed (the message says why).
        """
        builder, path, arguments = self._job
        if self._process is None:
            return build_and_save(builder, path, arguments)
        try:
            if not self._process.is_alive() and not self._connection.poll(0):
                raise EOFError("the helper process ended")
            if not self._connection.poll(TIMEOUT_S):
                raise RadAssistError(f"Writing {path} took longer than {TIMEOUT_S:.0f} s; it was stopped.")
            status, message = self._connection.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError) as error:
            raise RadAssistError(f"The scene writer stopped before writing {path} ({error}).") from error
        finally:
            self.close()
        if status == "error":
            raise RadAssistError(f"Could not write {path}: {message}.", "Run again with --debug and report it.")
        return message

    def close(self) -> None:
        """Stop the helper (if any) without writing."""
        if self._process is None:
            return
        try:
            if self._process.is_alive() and not self._connection.closed:
                self._connection.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
        self._connection.close()
        self._process = None

    def __enter__(self) -> SceneWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
