"""Scenes as Slicer data bundles (.mrb) that the Slicer desktop app opens, written atomically, and read back.

A bundle is a zip of ``<name>/<name>.mrml`` plus ``<name>/Data/`` with one file per storable node in the
format Slicer itself writes: volumes .nrrd, segmentations .seg.nrrd, markups .mrk.json, tables .tsv with a
.schema.tsv of column types, colour tables .csv. Node attributes (the RadAssist.* metadata, box scores),
segment tags (terminology, label values) and node references travel in those files and the .mrml.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from assistcore.errors import InputError, RadAssistError

from .headless import attachDataIOManager, createHeadlessScene


def _addStorageNodes(scene) -> None:
    """Give every user-visible storable node the storage node Slicer would choose (default file format)."""
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        if node.IsA("vtkMRMLStorableNode") and node.GetStorageNode() is None and not node.GetHideFromEditors():
            node.AddDefaultStorageNode()


def _messages(collection) -> str:
    text = collection.GetAllMessagesAsString().strip()
    return f" Slicer said: {text}" if text else ""


def saveSceneBundle(scene, pathMRB: str | os.PathLike[str]) -> Path:
    """Write every storable node and the scene into a .mrb file (temporary name, then rename).

    The scene's storage nodes keep pointing where they pointed before (Slicer restores them after writing),
    so saving does not change what the scene refers to. Nothing but ``pathMRB`` is left beside it.
    """
    import slicer

    pathMRB = Path(pathMRB)
    if pathMRB.suffix.lower() != ".mrb":
        raise InputError(f"Scene bundle name must end in .mrb: {pathMRB}.", "Slicer opens bundles by extension.")
    if scene.GetDataIOManager() is None or scene.GetCacheManager() is None:
        attachDataIOManager(scene)
    _addStorageNodes(scene)
    pathMRB.parent.mkdir(parents=True, exist_ok=True)
    messages = slicer.vtkMRMLMessageCollection()
    # Slicer names the bundle's inner folder after the file, so write the final name inside a temporary
    # folder beside the target (same file system: the rename is atomic), then move it into place.
    with tempfile.TemporaryDirectory(prefix=f".{pathMRB.name}.", dir=pathMRB.parent) as staging:
        staged = Path(staging) / pathMRB.name
        if not scene.WriteToMRB(str(staged), None, messages) or not staged.is_file():
            raise RadAssistError(
                f"Could not write the scene bundle {pathMRB}.{_messages(messages)}",
                "Check free disk space and permissions.",
            )
        os.replace(staged, pathMRB)
    return pathMRB


def loadSceneBundle(pathMRB: str | os.PathLike[str]):
    """A new headless scene (with logics) holding the bundle's nodes. Returns (scene, logics).

    The bundle is unpacked into a private temporary folder that is removed before returning: every node's
    data is in memory by then.
    """
    import slicer

    pathMRB = Path(pathMRB)
    if not pathMRB.is_file():
        raise InputError(f"Scene bundle not found: {pathMRB}.", "Check the path.")
    if not zipfile.is_zipfile(pathMRB):
        raise InputError(f"{pathMRB} is not a Slicer scene bundle (not a zip file).", "Give a .mrb saved by Slicer.")
    scene, logics = createHeadlessScene()
    messages = slicer.vtkMRMLMessageCollection()
    with tempfile.TemporaryDirectory(prefix="radassist-mrb-") as unpackDirectory:
        attachDataIOManager(scene, unpackDirectory)
        readOK = scene.ReadFromMRB(str(pathMRB), False, messages)
        attachDataIOManager(scene)  # the unpack folder goes away now; later saves stage elsewhere
    # Default colour tables are storable nodes of every headless scene; data read from files has storage nodes.
    if not readOK or scene.GetNumberOfNodesByClass("vtkMRMLStorageNode") == 0:
        raise InputError(
            f"Scene bundle {pathMRB} could not be read or holds no data.{_messages(messages)}",
            "Is it a Slicer .mrb file? Try opening it in the Slicer desktop app.",
        )
    return scene, logics
