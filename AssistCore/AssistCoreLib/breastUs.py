"""BreastUSAssist results <-> MRML: the cine as a sequence of frame volumes with a browser, one ROI per fused
lesion detection (its best frame's box, coloured by score), a detections table with reviewer verdicts and a
table of per-lesion descriptors (assistcore.breastus.descriptors).

Works from (frames array, detections document) so it does not depend on the pipeline's result class; the
document is the pipeline's ``detections.json`` dict. What the tables do not show (cine metadata, model, the
per-frame boxes, the fused records' boxes) is kept as JSON in attributes of the detections table, so
:func:`exportDocument` gives back the document with the reviews and descriptors as edited in the scene, also
after the scene was saved and reopened.

Frame geometry: a frame is a one-slice volume with identity LPS direction (column i -> patient left, row j ->
posterior), so the Red (axial) view shows it as acquired: row 0 at the top, column 0 at the left. The centre of
pixel (0, 0) is at the origin; spacing is the cine's pixel spacing (1 mm when unknown) and one column spacing
through the plane. ``box_xy`` are pixel-edge coordinates (pixel (x, y) spans x..x+1, y..y+1).

No Qt, no ``slicer.mrmlScene``: the scene is passed in, so this runs headless on the slicer-core wheel.
"""

from __future__ import annotations

import json
import math

import numpy as np

from assistcore.annotations import Box
from assistcore.breastus.descriptors import LesionDescriptors, descriptor_columns, descriptor_rows
from assistcore.errors import InputError

from .breastUsCine import addCineSequence, frameImage  # (the names below are re-exported: callers import them here)
from .breastUsCine import cineFromBrowser as cineFromBrowser
from .breastUsCine import framesFromBrowser as framesFromBrowser
from .breastUsCine import runCinePipeline as runCinePipeline
from .breastUsCine import startCinePipeline as startCinePipeline
from .markups import ATTRIBUTE_PREFIX, detectionROINode
from .tables import recordsToTableNode, tableNodeToRecords

ROLE_ATTRIBUTE = "RadAssist.Role"
DOCUMENT_ATTRIBUTE = "RadAssist.BreastUS.Document"  # the document without its frames, fused, descriptors, reviews
FRAMES_ATTRIBUTE = "RadAssist.BreastUS.Frames"  # the per-frame boxes (JSON list, as in the document)
FUSED_ATTRIBUTE = "RadAssist.BreastUS.Fused"  # the fused detection records (JSON list, as in the document)
REFERENCE_PREFIX = "RadAssist.BreastUS."
REVIEW_CHOICES = ("", "accept", "reject")
DETECTION_COLUMNS = {
    "detection_id": "int",
    "first_frame": "int",
    "last_frame": "int",
    "best_frame": "int",
    "fused_score": "float",
    "n_frames": "int",
    "width_mm": "float",
    "height_mm": "float",
    "review": "string",
}
#: document keys held by the scene's tables and attributes rather than in DOCUMENT_ATTRIBUTE
_TABLE_KEYS = ("frames", "fused", "descriptors", "reviews")


def _json(value) -> str:
    def plain(item):
        if isinstance(item, np.integer):
            return int(item)
        if isinstance(item, np.floating):
            return float(item)
        if isinstance(item, np.ndarray):
            return item.tolist()
        raise TypeError(f"{type(item).__name__} is not JSON serialisable")

    return json.dumps(value, default=plain)


def _checkedReviews(reviews: dict, detectionIds) -> dict[int, str]:
    checked = {}
    for key, verdict in (reviews or {}).items():
        if verdict not in REVIEW_CHOICES:
            raise InputError(f"Review of detection {key} is {verdict!r}.", "Use accept, reject or an empty string.")
        if int(key) not in detectionIds:
            raise InputError(f"A review names detection {key}, which is not among the fused detections.")
        checked[int(key)] = verdict
    return checked


def addBreastUsResultToScene(scene, framesThw, document: dict, caseId: str, sequencesLogic=None) -> dict:
    """The cine (sequence, browser, proxy volume), one ROI per fused detection, the detections and descriptors
    tables for a detections document (the pipeline's ``detections.json`` dict) and its frames.

    :param framesThw: (T, H, W) frames, 0..1 (stored as given, dtype kept).
    :param sequencesLogic: the Sequences module logic, so the proxy volume is the one it manages (Slicer:
        ``slicer.modules.sequences.logic()``; headless: ``createHeadlessScene()[1].sequences``); None makes a
        proxy here.
    :returns: {"sequence", "browser", "volume" (proxy), "rois" {detection id: ROI node}, "table",
        "descriptorsTable"}.
    :raises InputError: frames and document disagree, an invalid review or descriptor.
    """
    frames = np.asarray(framesThw)
    cineInfo = dict(document.get("cine") or {})
    fused, reviews, descriptors = _checkedDocument(frames, cineInfo, document)
    sequence, browser, proxy = addCineSequence(scene, frames, cineInfo, caseId, sequencesLogic)
    rois = _addDetectionROIs(scene, frames[0], cineInfo, document, fused, caseId)
    table = recordsToTableNode(
        scene,
        _detectionTableRows(fused, reviews),
        f"{caseId}_lesions",
        columns=list(DETECTION_COLUMNS),
        columnTypes=DETECTION_COLUMNS,
    )
    descriptorsTable = recordsToTableNode(
        scene,
        descriptor_rows(descriptors),
        f"{caseId}_lesion_descriptors",
        columns=descriptor_columns(),
        columnTypes={column: "int" if column == "detection_id" else "string" for column in descriptor_columns()},
    )
    table.SetAttribute(ROLE_ATTRIBUTE, "breast_us_detections")
    descriptorsTable.SetAttribute(ROLE_ATTRIBUTE, "breast_us_descriptors")
    base = {key: (None if key in _TABLE_KEYS else value) for key, value in document.items()}
    table.SetAttribute(DOCUMENT_ATTRIBUTE, _json(base))
    table.SetAttribute(FRAMES_ATTRIBUTE, _json(document.get("frames") or []))
    table.SetAttribute(FUSED_ATTRIBUTE, _json(fused))
    nodes = {
        "sequence": sequence,
        "browser": browser,
        "volume": proxy,
        "rois": rois,
        "table": table,
        "descriptorsTable": descriptorsTable,
    }
    for role in ("sequence", "browser", "volume"):
        table.SetNodeReferenceID(REFERENCE_PREFIX + role, nodes[role].GetID())
    table.SetNodeReferenceID(REFERENCE_PREFIX + "descriptors", descriptorsTable.GetID())
    for node in rois.values():
        table.AddNodeReferenceID(REFERENCE_PREFIX + "roi", node.GetID())
    detectionVisibility(nodes, 0, float(document.get("threshold", 0.0) or 0.0))
    return nodes


def _checkedDocument(frames: np.ndarray, cineInfo: dict, document: dict):
    """The document's fused records, reviews {detection id: verdict} and descriptors, once they agree with the
    (T, H, W) frames and with each other.

    :raises InputError: frames of another shape or count, a review or descriptors of an unknown detection.
    """
    if frames.ndim != 3 or frames.shape[0] == 0:
        raise InputError(f"Cine frames have shape {frames.shape}; expected (frames, rows, columns).")
    if cineInfo.get("n_frames") not in (None, frames.shape[0]):
        raise InputError(f"The document describes {cineInfo['n_frames']} frames but {frames.shape[0]} were given.")
    fused = list(document.get("fused") or [])
    detectionIds = [int(record["detection_id"]) for record in fused]
    reviews = _checkedReviews(document.get("reviews") or {}, set(detectionIds))
    descriptors = [LesionDescriptors.from_dict(record) for record in document.get("descriptors") or []]
    unknown = sorted({record.detection_id for record in descriptors} - set(detectionIds))
    if unknown:
        raise InputError(f"Descriptors name detection(s) {unknown}, which are not among the fused detections.")
    return fused, reviews, descriptors


def _addDetectionROIs(scene, firstFrameHW: np.ndarray, cineInfo: dict, document: dict, fused: list, caseId: str):
    """One ROI per fused detection, its best frame's box on the frame plane; {detection id: ROI node}."""
    frame = frameImage(firstFrameHW, cineInfo.get("pixel_spacing_mm"))
    modelId = str((document.get("model") or {}).get("model_id", ""))
    rois = {}
    for record in fused:
        detectionId = int(record["detection_id"])
        x0, y0, x1, y1 = (float(v) for v in record["best_box_xy"])
        attributes = {key: int(record[key]) for key in ("first_frame", "last_frame", "best_frame")}
        box = Box.from_slice_corners(
            frame,
            0,
            x0,
            y0,
            x1,
            y1,
            score=float(record["fused_score"]),
            label="lesion",
            model_id=modelId,
            attributes={"detection_id": detectionId, **attributes},
        )
        rois[detectionId] = detectionROINode(scene, box, f"{caseId}_lesion_{detectionId}", "breast_us_detection")
    return rois


def _detectionTableRows(fused: list, reviews: dict[int, str]) -> list[dict]:
    """One detections-table row per fused record (sizes in mm, None when the spacing is unknown)."""
    rows = []
    for record in fused:
        size = record.get("size_mm")
        rows.append(
            {
                "detection_id": int(record["detection_id"]),
                "first_frame": int(record["first_frame"]),
                "last_frame": int(record["last_frame"]),
                "best_frame": int(record["best_frame"]),
                "fused_score": float(record["fused_score"]),
                "n_frames": int(record.get("n_frames", 0)),
                "width_mm": None if size is None else float(size[0]),
                "height_mm": None if size is None else float(size[1]),
                "review": reviews.get(int(record["detection_id"]), ""),
            }
        )
    return rows


def breastUsNodes(table) -> dict:
    """The nodes dict of :func:`addBreastUsResultToScene` found again from its detections table (a reopened
    scene); the proxy volume is the browser's current proxy."""
    if table is None or table.GetAttribute(ROLE_ATTRIBUTE) != "breast_us_detections":
        raise InputError("This table is not a BreastUSAssist detections table.", "Choose one BreastUSAssist made.")
    sequence = table.GetNodeReference(REFERENCE_PREFIX + "sequence")
    browser = table.GetNodeReference(REFERENCE_PREFIX + "browser")
    proxy = browser.GetProxyNode(sequence) if browser is not None and sequence is not None else None
    rois = {}
    for index in range(table.GetNumberOfNodeReferences(REFERENCE_PREFIX + "roi")):
        node = table.GetNthNodeReference(REFERENCE_PREFIX + "roi", index)
        if node is not None:
            rois[int(_roiAttribute(node, "detection_id"))] = node
    return {
        "sequence": sequence,
        "browser": browser,
        "rois": rois,
        "table": table,
        "volume": proxy or table.GetNodeReference(REFERENCE_PREFIX + "volume"),
        "descriptorsTable": table.GetNodeReference(REFERENCE_PREFIX + "descriptors"),
    }


def breastUsTables(scene) -> list:
    """Every BreastUSAssist detections table in the scene, in the order they were added."""
    tables = []
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLTableNode")):
        node = scene.GetNthNodeByClass(index, "vtkMRMLTableNode")
        if node.GetAttribute(ROLE_ATTRIBUTE) == "breast_us_detections":
            tables.append(node)
    return tables


def _roiAttribute(node, key: str):
    value = node.GetAttribute(ATTRIBUTE_PREFIX + key)
    return None if value is None else json.loads(value)


def _records(nodes: dict) -> list[dict]:
    return tableNodeToRecords(nodes["table"])


def _record(nodes: dict, detectionId: int) -> dict:
    for record in _records(nodes):
        if record["detection_id"] == int(detectionId):
            return record
    raise InputError(f"Detection {detectionId} is not in the table {nodes['table'].GetName()}.")


def detectionVisibility(nodes: dict, frameIndex: int, threshold: float) -> list[int]:
    """Show the ROIs whose detection spans ``frameIndex`` (first..last frame) and scores at or above
    ``threshold``, hide the others (ROIs follow the frames); returns the visible detection ids."""
    visible = []
    for detectionId, node in sorted(nodes["rois"].items()):
        first, last = _roiAttribute(node, "first_frame"), _roiAttribute(node, "last_frame")
        shown = first <= frameIndex <= last and float(_roiAttribute(node, "score")) >= threshold
        display = node.GetDisplayNode()
        if display is not None:
            display.SetVisibility(shown)
        if shown:
            visible.append(detectionId)
    return visible


def currentFrame(nodes: dict) -> int:
    """The frame the browser shows."""
    return int(nodes["browser"].GetSelectedItemNumber())


def jumpToDetection(nodes: dict, detectionId: int) -> int:
    """Show the detection's best frame (the browser's selected item); returns that frame index."""
    best = int(_record(nodes, detectionId)["best_frame"])
    nodes["browser"].SetSelectedItemNumber(best)
    return best


def detectionCenterRAS(nodes: dict, detectionId: int) -> list[float]:
    """RAS centre of the detection's ROI (to centre the views on it)."""
    node = nodes["rois"].get(int(detectionId))
    if node is None:
        raise InputError(f"Detection {detectionId} has no ROI in the scene.")
    center = [0.0, 0.0, 0.0]
    node.GetCenterWorld(center)
    return center


def _rewriteRows(tableNode, records: list[dict]) -> None:
    """Replace every row of ``tableNode`` with ``records`` (columns and their types kept)."""
    import vtk

    table = tableNode.GetTable()
    table.SetNumberOfRows(len(records))
    for columnIndex in range(table.GetNumberOfColumns()):
        array = table.GetColumn(columnIndex)
        name = array.GetName()
        for row, record in enumerate(records):
            value = record.get(name)
            if isinstance(array, vtk.vtkStringArray):
                array.SetValue(row, "" if value is None else str(value))
            elif isinstance(array, vtk.vtkDoubleArray):
                array.SetValue(row, math.nan if value is None else float(value))
            else:
                array.SetValue(row, int(value or 0))
        array.Modified()
    tableNode.Modified()


def setReview(nodes: dict, detectionId: int, verdict: str) -> None:
    """Record a reviewer's verdict (accept, reject, or "" to clear) for one fused detection, in the table."""
    if verdict not in REVIEW_CHOICES:
        raise InputError(f"Unknown review verdict {verdict!r}.", "Use accept, reject or an empty string.")
    records = _records(nodes)
    _record(nodes, detectionId)  # raises for an unknown detection
    for record in records:
        if record["detection_id"] == int(detectionId):
            record["review"] = verdict
    _rewriteRows(nodes["table"], records)


def reviewsFromTable(table) -> dict[int, str]:
    """{detection id: verdict} for every reviewed detection."""
    return {record["detection_id"]: record["review"] for record in tableNodeToRecords(table) if record["review"]}


def descriptorsFromTable(table) -> list[LesionDescriptors]:
    """The descriptor records in the table (values checked against the lexicon), by detection id."""
    return [LesionDescriptors.from_dict(record) for record in tableNodeToRecords(table)]


def descriptorsFor(nodes: dict, detectionId: int) -> LesionDescriptors:
    """The detection's descriptor record, or an empty one when none was recorded."""
    for record in descriptorsFromTable(nodes["descriptorsTable"]):
        if record.detection_id == int(detectionId):
            return record
    return LesionDescriptors(int(detectionId))


def setDescriptors(nodes: dict, descriptors: LesionDescriptors | dict) -> None:
    """Store (add or replace) one detection's descriptor record in the descriptors table.

    :raises InputError: an invalid value (checked by LesionDescriptors) or a detection not in the result.
    """
    if not isinstance(descriptors, LesionDescriptors):
        descriptors = LesionDescriptors.from_dict(descriptors)
    else:  # values set directly on the dict after construction are checked too
        descriptors = LesionDescriptors.from_dict(descriptors.to_dict())
    _record(nodes, descriptors.detection_id)
    table = nodes["descriptorsTable"]
    records = [record for record in descriptorsFromTable(table) if record.detection_id != descriptors.detection_id]
    _rewriteRows(table, descriptor_rows([*records, descriptors]))


def exportDocument(nodes: dict) -> dict:
    """The detections document as now in the scene: the input document with the current reviews and
    descriptors."""
    table = nodes["table"]
    document = json.loads(table.GetAttribute(DOCUMENT_ATTRIBUTE) or "{}")
    for key in _TABLE_KEYS:
        document.setdefault(key, None)
    document["frames"] = json.loads(table.GetAttribute(FRAMES_ATTRIBUTE) or "[]")
    document["fused"] = json.loads(table.GetAttribute(FUSED_ATTRIBUTE) or "[]")
    document["descriptors"] = [record.to_dict() for record in descriptorsFromTable(nodes["descriptorsTable"])]
    document["reviews"] = {str(key): value for key, value in sorted(reviewsFromTable(table).items())}
    return document
