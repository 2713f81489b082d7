"""A headless MRML scene with the module logics RadAssist needs (tests, command line, web app)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any


@dataclass
class HeadlessLogics:
    application: Any
    volumes: Any
    segmentations: Any
    subjectHierarchy: Any
    markups: Any
    tables: Any


def attachDataIOManager(scene, cacheDirectory: str | None = None) -> None:
    """Give ``scene`` the data IO and cache managers that reading and writing .mrb bundles need."""
    import slicer

    cache = slicer.vtkCacheManager()
    cache.SetRemoteCacheDirectory(cacheDirectory or tempfile.mkdtemp(prefix="radassist-mrml-cache-"))
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

    logFile = vtk.vtkFileOutputWindow()
    logFile.SetFileName(os.path.join(tempfile.gettempdir(), "radassist-vtk.log"))
    logFile.SetAppend(True)
    vtk.vtkOutputWindow.SetInstance(logFile)


def createHeadlessScene() -> tuple[Any, HeadlessLogics]:
    """A new scene with application, colour, volumes, segmentations, subject hierarchy, markups and tables
    logics registered (colours first: the volumes logic looks up colour nodes when it starts)."""
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
    )
    attachDataIOManager(scene)
    return scene, logics
