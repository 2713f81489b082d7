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
import os
from pathlib import Path
from typing import Any

import numpy as np

from assistcore.annotations import Box
from assistcore.breastus.descriptors import LesionDescriptors, descriptor_columns, descriptor_rows
from assistcore.errors import InputError
from assistcore.image import Image

from .markups import ATTRIBUTE_PREFIX, detectionROINode
from .tables import recordsToTableNode, tableNodeToRecords
from .volumes import _imageData, ijkToRASMatrix

ROLE_ATTRIBUTE = "RadAssist.Role"
DOCUMENT_ATTRIBUTE = "RadAssist.BreastUS.Document"  # the document without its frames, fused, descriptors, reviews
FRAMES_ATTRIBUTE = "RadAssist.BreastUS.Frames"  # the per-frame boxes (JSON list, as in the document)
FUSED_ATTRIBUTE = "RadAssist.BreastUS.Fused"  # the fused detection records (JSON list, as in the document)
SPACING_KNOWN_ATTRIBUTE = "RadAssist.BreastUS.PixelSpacingKnown"  # "false": 1 mm stands in for an unknown spacing
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
#: Cine.kind of a cine taken from a sequence loaded in Slicer
SEQUENCE_KIND = "slicer_sequence"
#: value of the sequence's index when the cine has no frame time (the frame number is the index)
FRAME_INDEX_NAME = "frame"


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


def frameImage(frameHW: np.ndarray, pixelSpacingMm=None) -> Image:
    """One frame (H, W) as a one-slice image: identity LPS direction, pixel (0, 0) centred on the origin,
    spacing (column, row, column) from ``pixelSpacingMm`` = (row, column) mm, or 1 mm when None."""
    rowMm, columnMm = (float(v) for v in pixelSpacingMm) if pixelSpacingMm is not None else (1.0, 1.0)
    array = np.asarray(frameHW)[np.newaxis]
    return Image(array, (columnMm, rowMm, columnMm), (0.0, 0.0, 0.0), np.eye(3))


def _indexValue(frameIndex: int, frameTimeMs) -> str:
    if frameTimeMs is None:
        return str(frameIndex)
    return f"{frameIndex * float(frameTimeMs):.3f}".rstrip("0").rstrip(".")


def _addCineSequence(scene, framesThw: np.ndarray, cineInfo: dict, caseId: str, sequencesLogic=None):
    import slicer

    spacing = cineInfo.get("pixel_spacing_mm")
    frameTimeMs = cineInfo.get("frame_time_ms")
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", scene.GenerateUniqueName(f"{caseId}_cine"))
    sequence.SetIndexType(sequence.NumericIndex)
    sequence.SetIndexName("time" if frameTimeMs is not None else FRAME_INDEX_NAME)
    sequence.SetIndexUnit("ms" if frameTimeMs is not None else "")
    sequence.SetAttribute(SPACING_KNOWN_ATTRIBUTE, "true" if spacing is not None else "false")
    for index, frame in enumerate(framesThw):
        image = frameImage(frame, spacing)
        volume = slicer.vtkMRMLScalarVolumeNode()  # not in the scene: the sequence keeps a copy
        volume.SetAndObserveImageData(_imageData(image.array_kji))
        volume.SetIJKToRASMatrix(ijkToRASMatrix(image))
        sequence.SetDataNodeAtValue(volume, _indexValue(index, frameTimeMs))
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", scene.GenerateUniqueName(f"{caseId}_browser"))
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    if sequencesLogic is not None:
        sequencesLogic.UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence)
    if proxy is None:  # no Sequences logic: a proxy showing frame 0 (it follows the browser once a logic runs)
        proxy = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(f"{caseId}_cine"))
        proxy.CopyContent(sequence.GetNthDataNode(0))
        browser.AddProxyNode(proxy, sequence, False)
    proxy.CreateDefaultDisplayNodes()
    display = proxy.GetDisplayNode()
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(0.0, 1.0)  # frames are 0..1
    browser.SetSelectedItemNumber(0)
    return sequence, browser, proxy


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

    sequence, browser, proxy = _addCineSequence(scene, frames, cineInfo, caseId, sequencesLogic)
    frame = frameImage(frames[0], cineInfo.get("pixel_spacing_mm"))
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
    table = recordsToTableNode(
        scene, rows, f"{caseId}_lesions", columns=list(DETECTION_COLUMNS), columnTypes=DETECTION_COLUMNS
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
    for role, node in (
        ("sequence", sequence),
        ("browser", browser),
        ("volume", proxy),
        ("descriptors", descriptorsTable),
    ):
        table.SetNodeReferenceID(REFERENCE_PREFIX + role, node.GetID())
    for node in rois.values():
        table.AddNodeReferenceID(REFERENCE_PREFIX + "roi", node.GetID())
    nodes = {
        "sequence": sequence,
        "browser": browser,
        "volume": proxy,
        "rois": rois,
        "table": table,
        "descriptorsTable": descriptorsTable,
    }
    detectionVisibility(nodes, 0, float(document.get("threshold", 0.0) or 0.0))
    return nodes


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


def detectionRows(document: dict) -> list[dict]:
    """CSV rows, one per fused detection: frames, best box (pixel edges), scores, size and review."""
    reviews = document.get("reviews") or {}
    rows = []
    for record in document.get("fused") or []:
        x0, y0, x1, y1 = record["best_box_xy"]
        size = record.get("size_mm") or (None, None)
        rows.append(
            {
                "detection_id": record["detection_id"],
                "first_frame": record["first_frame"],
                "last_frame": record["last_frame"],
                "best_frame": record["best_frame"],
                "best_x0": x0,
                "best_y0": y0,
                "best_x1": x1,
                "best_y1": y1,
                "fused_score": record["fused_score"],
                "mean_score": record.get("mean_score"),
                "n_frames": record.get("n_frames"),
                "n_boxes": record.get("n_boxes"),
                "width_mm": size[0],
                "height_mm": size[1],
                "review": reviews.get(str(record["detection_id"]), ""),
            }
        )
    return rows


def exportFiles(nodes: dict, folder) -> dict[str, Path]:
    """Write ``detections.json`` (:func:`exportDocument`), ``detections.csv`` and ``descriptors.csv`` into
    ``folder``, each atomically; returns {"json", "detections", "descriptors"}: paths."""
    from assistcore.atomic import write_csv_atomic, write_text_atomic

    folder = Path(folder)
    if not str(folder) or not folder.is_dir():
        raise InputError(f"Export folder {str(folder)!r} does not exist.", "Choose an existing folder.")
    document = exportDocument(nodes)
    rows = detectionRows(document)
    descriptors = [LesionDescriptors.from_dict(record) for record in document["descriptors"]]
    return {
        "json": write_text_atomic(folder / "detections.json", json.dumps(document, indent=2)),
        "detections": write_csv_atomic(folder / "detections.csv", rows, None if rows else ["detection_id"]),
        "descriptors": write_csv_atomic(folder / "descriptors.csv", descriptor_rows(descriptors), descriptor_columns()),
    }


# ----- input: a loaded sequence browser as a cine, and the pipeline in a worker thread -------------------------
def _grey(array: np.ndarray) -> np.ndarray:
    """(H, W[, C]) pixels as one grey float32 plane (colour by luminance)."""
    if array.ndim == 3:
        if array.shape[-1] >= 3:
            return (array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])).astype(np.float32)
        array = array[..., 0]
    return array.astype(np.float32)


def _scaled01(frames: np.ndarray, dtype) -> np.ndarray:
    """The whole cine on 0..1 with one scale (frames keep their relative brightness): 8-bit by 255, values
    already in 0..1 as they are, anything else by the cine's minimum and maximum."""
    if np.dtype(dtype) == np.uint8:
        return frames / np.float32(255.0)
    low, high = float(frames.min()), float(frames.max())
    if low >= 0.0 and high <= 1.0:
        return frames
    return (frames - low) / np.float32(high - low) if high > low else np.zeros_like(frames)


def framesFromBrowser(browserNode) -> dict[str, Any]:
    """The browser's master sequence as cine arrays: {"frames" (T, H, W) float32 0..1, "pixel_spacing_mm"
    (row, column) or None, "frame_time_ms" or None, "source": name}.

    Frames are the volumes' first (only) slice as stored (row 0 first); colour is turned to grey. The frame time
    comes from a numeric index in ms or s. The pixel spacing is the volumes' unless the sequence says it is a
    stand-in (made by :func:`addBreastUsResultToScene` for a cine without one).

    :raises InputError: no browser, no volumes in its sequence, volumes of several slices or different sizes.
    """
    from vtkmodules.util import numpy_support

    sequence = browserNode.GetMasterSequenceNode() if browserNode is not None else None
    if sequence is None or sequence.GetNumberOfDataNodes() == 0:
        raise InputError("Select a sequence browser holding the cine's frames.", "Load the cine into Slicer first.")
    frames, spacing, dtype = [], None, np.float32
    for index in range(sequence.GetNumberOfDataNodes()):
        node = sequence.GetNthDataNode(index)
        if node is None or not node.IsA("vtkMRMLScalarVolumeNode") or node.GetImageData() is None:
            raise InputError(f"Item {index} of sequence {sequence.GetName()} is not an image volume.")
        imageData = node.GetImageData()
        columns, rows, slices = imageData.GetDimensions()
        if slices != 1:
            raise InputError(f"Item {index} of sequence {sequence.GetName()} has {slices} slices, not one frame.")
        components = imageData.GetNumberOfScalarComponents()
        array = numpy_support.vtk_to_numpy(imageData.GetPointData().GetScalars())
        array = array.reshape((rows, columns) if components == 1 else (rows, columns, components))
        frames.append(_grey(array))
        spacing, dtype = spacing or node.GetSpacing(), array.dtype
    if len({frame.shape for frame in frames}) != 1:
        raise InputError(f"The frames of sequence {sequence.GetName()} differ in size.")
    frameTimeMs = None
    unit = (sequence.GetIndexUnit() or "").strip().lower()
    if sequence.GetIndexType() == sequence.NumericIndex and unit in ("ms", "s") and len(frames) > 1:
        values = [float(sequence.GetNthIndexValue(index)) for index in range(len(frames))]
        frameTimeMs = float(np.median(np.diff(values))) * (1000.0 if unit == "s" else 1.0)
    known = sequence.GetAttribute(SPACING_KNOWN_ATTRIBUTE) != "false"
    return {
        "frames": _scaled01(np.stack(frames), dtype).astype(np.float32),
        "pixel_spacing_mm": (float(spacing[1]), float(spacing[0])) if known else None,
        "frame_time_ms": frameTimeMs,
        "source": browserNode.GetName(),
    }


def cineFromBrowser(browserNode):
    """The browser's frames as an :class:`assistcore.breastus.cine.Cine` (see :func:`framesFromBrowser`)."""
    from assistcore.breastus.cine import Cine

    arrays = framesFromBrowser(browserNode)
    return Cine(
        frames=arrays["frames"],
        source_path=arrays["source"],
        kind=SEQUENCE_KIND,
        frame_time_ms=arrays["frame_time_ms"],
        pixel_spacing_mm=arrays["pixel_spacing_mm"],
    )


def _checkedCineInput(cineOrPath):
    if cineOrPath is None or (isinstance(cineOrPath, str | os.PathLike) and not str(cineOrPath).strip()):
        raise InputError("Choose a cine: a DICOM file, a video, a folder of frames or a loaded sequence.")
    if isinstance(cineOrPath, str | os.PathLike) and not Path(cineOrPath).exists():
        raise InputError(f"Cine not found: {cineOrPath}.", "Check the path.")
    return cineOrPath


def runCinePipeline(cineOrPath, options: dict, progress=None, cancel_token=None):
    """Read the cine when given a path (DICOM, video, folder of frames), then run the breast_us pipeline on it;
    returns its result (``.cine``, ``.document()``). Runs in the caller's thread."""
    from .pipelines import findPipeline

    cine = _checkedCineInput(cineOrPath)
    if isinstance(cine, str | os.PathLike):
        from assistcore.breastus.cine import read_cine

        cine = read_cine(cine)
    if cancel_token is not None:
        cancel_token.raise_if_cancelled()
    return findPipeline("breast_us")(cine, options, progress=progress, cancel_token=cancel_token)


def startCinePipeline(cineOrPath, options: dict):
    """Check the input, then :func:`runCinePipeline` in a worker thread; poll the returned RunHandle.

    :raises InputError: no cine, or a path that does not exist (before any thread starts).
    :raises RadAssistError: this version of RadAssist has no breast_us pipeline.
    """
    from assistcore.models.runner import CancelToken, start_in_thread

    from .pipelines import findPipeline

    _checkedCineInput(cineOrPath)
    findPipeline("breast_us")
    return start_in_thread(runCinePipeline, cineOrPath, dict(options), cancel_token=CancelToken())
