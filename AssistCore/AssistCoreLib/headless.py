"""A headless MRML scene with the module logics RadAssist needs (tests, command line, web app)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

_processCache: dict[str, str] = {}


@dataclass
class HeadlessLogics:
    application: Any
    volumes: Any
    segmentations: Any
    subjectHierarchy: Any
    markups: Any
    tables: Any
    sequences: Any = None  # absent where a caller builds the logics itself (inside Slicer)


def processCacheDirectory() -> str:
    """One temporary cache folder for every headless scene of this process, removed when the process exits.

    Slicer stages .mrb contents in the scene's cache folder and removes them itself; one folder per scene
    would leave an empty folder in the temporary directory for every scene ever made.
    """
    path = _processCache.get("path")
    if path is None or not os.path.isdir(path):
        path = _processCache["path"] = tempfile.mkdtemp(prefix="radassist-mrml-cache-")
        atexit.register(shutil.rmtree, path, True)
    return path


def attachDataIOManager(scene, cacheDirectory: str | None = None) -> None:
    """Give ``scene`` the data IO and cache managers that reading and writing .mrb bundles need.

    :param cacheDirectory: where Slicer stages bundle contents; default :func:`processCacheDirectory`.
    """
    import slicer

    cache = slicer.vtkCacheManager()
    cache.SetRemoteCacheDirectory(cacheDirectory or processCacheDirectory())
    manager = slicer.vtkDataIOManager()
    manager.SetCacheManager(cache)
    scene.SetDataIOManager(manager)
    scene.SetCacheManager(cache)


def quietVTK() -> None:
    """Send VTK's messages (zip progress, informational chatter) to a log file instead of the terminal.

    Only for headless use: inside Slicer the application owns the output window.
    """
    import os

    import vtk

    if isinstance(vtk.vtkOutputWindow.GetInstance(), vtk.vtkFileOutputWindow):
        return  # already redirected (every headless scene calls this)
    logFile = vtk.vtkFileOutputWindow()
    logFile.SetFileName(os.path.join(tempfile.gettempdir(), "radassist-vtk.log"))
    logFile.SetAppend(True)
    vtk.vtkOutputWindow.SetInstance(logFile)


def createHeadlessScene() -> tuple[Any, HeadlessLogics]:
    """A new scene with application, colour, volumes, segmentations, subject hierarchy, markups, tables and
    sequences logics registered (colours first: the volumes logic looks up colour nodes when it starts), and a data
    IO manager so the scene can be written to and read from .mrb bundles.

    For tests, the command line and the web app; inside Slicer use ``slicer.mrmlScene`` and its logics.
    """
    import slicer

    quietVTK()
    scene = slicer.vtkMRMLScene()
    application = slicer.vtkSlicerApplicationLogic()
    application.SetMRMLScene(scene)
    application.GetColorLogic().SetMRMLScene(scene)
    application.GetColorLogic().AddDefaultColorNodes()

    def register(logic, name):
        logic.SetMRMLScene(scene)
        logic.SetMRMLApplicationLogic(application)
        application.SetModuleLogic(name, logic)
        return logic

    register(application.GetColorLogic(), "Colors")
    logics = HeadlessLogics(
        application=application,
        volumes=register(slicer.vtkSlicerVolumesLogic(), "Volumes"),
        segmentations=register(slicer.vtkSlicerSegmentationsModuleLogic(), "Segmentations"),
        subjectHierarchy=register(slicer.vtkSlicerSubjectHierarchyModuleLogic(), "SubjectHierarchy"),
        markups=register(slicer.vtkSlicerMarkupsLogic(), "Markups"),
        tables=register(slicer.vtkSlicerTablesLogic(), "Tables"),
        # proxy nodes follow their browser, and .mrb bundles holding sequence browsers can be read
        sequences=register(slicer.vtkSlicerSequencesLogic(), "Sequences"),
    )
    attachDataIOManager(scene)
    return scene, logics
