"""Scenes as Slicer data bundles (.mrb) that the Slicer desktop app opens, written atomically, and read back."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from assistcore.errors import InputError, RadAssistError

from .headless import attachDataIOManager, createHeadlessScene


def _addStorageNodes(scene) -> None:
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        if node.IsA("vtkMRMLStorableNode") and node.GetStorageNode() is None and not node.GetHideFromEditors():
            node.AddDefaultStorageNode()


def saveSceneBundle(scene, pathMRB: str | os.PathLike[str]) -> Path:
    """Write every storable node and the scene into a .mrb file (temporary name, then rename)."""
    pathMRB = Path(pathMRB)
    if scene.GetDataIOManager() is None:
        attachDataIOManager(scene)
    _addStorageNodes(scene)
    pathMRB.parent.mkdir(parents=True, exist_ok=True)
    # Slicer names the bundle's inner folder after the file, so write the final name inside a temporary
    # folder beside the target, then move it into place.
    with tempfile.TemporaryDirectory(prefix=f".{pathMRB.name}.", dir=pathMRB.parent) as staging:
        staged = Path(staging) / pathMRB.name
        if not scene.WriteToMRB(str(staged)) or not staged.is_file():
            raise RadAssistError(
                f"Could not write the scene bundle {pathMRB}.", "Check free disk space and permissions."
            )
        os.replace(staged, pathMRB)
    return pathMRB


def loadSceneBundle(pathMRB: str | os.PathLike[str]):
    """A new headless scene (with logics) holding the bundle's nodes. Returns (scene, logics)."""
    pathMRB = Path(pathMRB)
    if not pathMRB.is_file():
        raise InputError(f"Scene bundle not found: {pathMRB}.")
    scene, logics = createHeadlessScene()
    attachDataIOManager(scene, tempfile.mkdtemp(prefix="radassist-mrb-"))
    scene.ReadFromMRB(str(pathMRB))
    if scene.GetNumberOfNodesByClass("vtkMRMLStorableNode") == 0:
        raise InputError(f"Scene bundle {pathMRB} holds no data.", "Is it a Slicer .mrb file?")
    return scene, logics
