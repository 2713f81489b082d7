"""The skeleton every ``*_app.py`` job shares: one case in, one result folder out, with its scene and timings.

A job reads its inputs, runs its pipeline and writes its own files; what is the same for the four assistants
lives here: the result folder is staged and published atomically (:func:`assistcore.atomic.result_directory`),
the scene bundle (``scene.mrb``) is built by a :class:`~radassist.scene_writer.SceneWriter` helper started
first (slicer-core's import overlaps with the work) while the job writes its other files, and the seconds spent
reading, writing and in total are recorded in the result's ``seconds_per_stage``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistcore.atomic import result_directory

from .scene_writer import SceneWriter

SCENE_FILE = "scene.mrb"


@dataclass
class CaseJob:
    """One running job: ``staging`` is the folder being written (published as ``out`` when the job succeeds).

    Times are ``time.perf_counter()`` seconds; call :meth:`read_done` once the inputs are read and
    :meth:`writing` before the first output file.
    """

    staging: Path
    scene_writer: SceneWriter
    started: float
    read_seconds: float = 0.0
    write_started: float = 0.0

    def read_done(self) -> None:
        self.read_seconds = time.perf_counter() - self.started

    def writing(self) -> None:
        self.write_started = time.perf_counter()

    def submit_scene(self, builder: str, *arguments: Any) -> None:
        """Send the scene to the helper (``builder`` is "module:function") and return at once."""
        self.scene_writer.submit(builder, self.staging / SCENE_FILE, *arguments)

    def finish(self, seconds_per_stage: dict[str, float], read_stage: str = "read") -> dict[str, Any]:
        """Wait for the scene, then record ``read_stage``, ``write`` and ``total`` seconds (rounded to ms).

        :returns: the report's extra entries: ``files`` (["scene.mrb"], or [] when it could not be written)
            and ``scene_note`` ("" when written, else why not).
        """
        scene_note = self.scene_writer.finish()
        now = time.perf_counter()
        seconds_per_stage[read_stage] = round(self.read_seconds, 3)
        seconds_per_stage["write"] = round(now - self.write_started, 3)
        seconds_per_stage["total"] = round(now - self.started, 3)
        return {"files": [] if scene_note else [SCENE_FILE], "scene_note": scene_note}


@contextmanager
def case_job(out: Path, command: str, overwrite: bool = False) -> Iterator[CaseJob]:
    """Start the scene helper and stage ``out`` (refused if it holds results unless ``overwrite``)."""
    started = time.perf_counter()
    with SceneWriter() as scene_writer, result_directory(out, command, overwrite) as staging:
        yield CaseJob(Path(staging), scene_writer, started)
