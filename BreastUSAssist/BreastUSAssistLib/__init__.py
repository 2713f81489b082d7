"""BreastUSAssist helpers between the pipeline's result, the scene and the panel (scene passed in, no Qt).

The MRML work is in :mod:`AssistCoreLib.breastUs`; the Qt descriptor form is in
:mod:`BreastUSAssistLib.descriptorForm` (imported only inside Slicer).
"""

from __future__ import annotations

from pathlib import Path

from assistcore.breastus.cine import frames_to_uint8
from AssistCoreLib.breastUs import addBreastUsResultToScene

DEMO_KEYS = ("synthetic_training_data", "synthetic_demo_model")


def showResult(scene, result, caseId: str, sequencesLogic=None) -> dict:
    """The nodes of a :class:`assistcore.pipelines.breast_us.BreastUsResult` (see addBreastUsResultToScene)."""
    frames = frames_to_uint8(result.cine.frames)  # 8-bit as acquired: a smaller scene, saved faster
    return addBreastUsResultToScene(scene, frames, result.document(), caseId, sequencesLogic)


def caseIdOf(cinePath: str = "", browserNode=None) -> str:
    """A short name for the nodes: the loaded sequence's name, else the file or folder name."""
    if browserNode is not None and browserNode.GetName():
        return browserNode.GetName()
    name = Path(str(cinePath or "").strip().rstrip("/\\")).name
    for suffix in (".gz", ".dcm", ".mp4", ".avi", ".mov", ".gif", ".png", ".jpg"):
        name = name.removesuffix(suffix)
    return name or "cine"


def isSyntheticDemo(document: dict) -> bool:
    """Whether the detections came from a model trained on synthetic data (the card's flag, as the pipeline
    records it in the document's ``model``)."""
    model = (document or {}).get("model") or {}
    return any(bool(model.get(key)) for key in DEMO_KEYS)


def modelOf(nodes: dict) -> dict:
    """The document's ``model`` record kept on the detections table."""
    import json

    from AssistCoreLib.breastUs import DOCUMENT_ATTRIBUTE

    return json.loads(nodes["table"].GetAttribute(DOCUMENT_ATTRIBUTE) or "{}").get("model") or {}


def detectionIdOfRow(table, row: int) -> int:
    """The fused detection id in row ``row`` of the detections table."""
    from AssistCoreLib.tables import tableNodeToRecords

    return int(tableNodeToRecords(table)[row]["detection_id"])
