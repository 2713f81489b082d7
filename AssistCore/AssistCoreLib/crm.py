"""CRMAssist results <-> MRML: the T2 volume, one ROI node per box (one slice thick, oriented with the volume,
coloured by probability), a slice table with reviewer verdicts, and the case verdict on the table node.

The threshold slider shows boxes at or above it and hides the rest; reviewer decisions (accept/reject per
slice) live in the table's ``review`` column, so they are saved with the scene and exported with the boxes.
"""

from __future__ import annotations

import json

from assistcore.annotations import Box

from .markups import ATTRIBUTE_PREFIX, detectionROINode, roiNodeToBox
from .tables import recordsToTableNode, tableNodeToRecords
from .volumes import imageToVolumeNode

VERDICT_ATTRIBUTE = "RadAssist.Verdict"
PROVENANCE_ATTRIBUTE = "RadAssist.Provenance"
ROLE_ATTRIBUTE = "RadAssist.Role"
REVIEW_CHOICES = ("", "accept", "reject")


def addCrmResultToScene(scene, result, caseId: str, volumeNode=None) -> dict:
    """Nodes for a :class:`assistcore.pipelines.crm.CrmResult`: volume (unless given), ROIs, slice table.

    :returns: {"volume": node, "rois": [nodes], "table": node}.
    """
    if volumeNode is None:
        volumeNode = imageToVolumeNode(scene, result.image, f"{caseId}_T2")
    rois = []
    modelId = result.provenance.get("model_id", "")
    for box in result.boxes:
        shape = Box.from_slice_corners(
            result.image,
            box.slice_index,
            *box.box_ij,
            score=box.score,
            label="CRM+",
            model_id=modelId,
            attributes={"region": box.region_id},
        )
        rois.append(detectionROINode(scene, shape, f"{caseId}_CRM_s{box.slice_index:03d}", "crm_box"))
    table = recordsToTableNode(
        scene,
        [{**row, "review": ""} for row in result.slice_rows()],
        f"{caseId}_CRM_slices",
        columnTypes={
            "slice_index": "int",
            "max_probability": "float",
            "boxes_at_threshold": "int",
            "positive": "bool",
            "review": "string",
        },
    )
    table.SetAttribute(VERDICT_ATTRIBUTE, json.dumps(result.verdict()))
    table.SetAttribute(PROVENANCE_ATTRIBUTE, json.dumps(result.provenance))
    table.SetAttribute(ROLE_ATTRIBUTE, "crm_slices")
    setThreshold(rois, table, result.threshold)
    return {"volume": volumeNode, "rois": rois, "table": table}


def _score(node) -> float:
    value = node.GetAttribute(ATTRIBUTE_PREFIX + "score")
    return float(value) if value is not None else 0.0


def setThreshold(rois, table, threshold: float) -> dict:
    """Show boxes scoring at or above ``threshold`` and hide the others; update the table and the verdict."""
    involved = set()
    for node in rois:
        visible = _score(node) >= threshold
        display = node.GetDisplayNode()
        if display is not None:
            display.SetVisibility(visible)
        if visible:
            involved.add(int(json.loads(node.GetAttribute(ATTRIBUTE_PREFIX + "slice"))))
    records = tableNodeToRecords(table)
    for record in records:
        record["boxes_at_threshold"] = sum(
            1
            for node in rois
            if _score(node) >= threshold
            and int(json.loads(node.GetAttribute(ATTRIBUTE_PREFIX + "slice"))) == record["slice_index"]
        )
        record["positive"] = record["slice_index"] in involved
    _rewriteTable(table, records)
    maximum = max((_score(node) for node in rois), default=0.0)
    verdict = {
        "crm_positive_risk": bool(involved),
        "max_probability": round(maximum, 4),
        "threshold": threshold,
        "slices_involved": sorted(involved),
    }
    table.SetAttribute(VERDICT_ATTRIBUTE, json.dumps(verdict))
    return verdict


def _rewriteTable(table, records: list[dict]) -> None:
    vtkTable = table.GetTable()
    for columnIndex in range(vtkTable.GetNumberOfColumns()):
        array = vtkTable.GetColumn(columnIndex)
        name = array.GetName()
        for row, record in enumerate(records):
            value = record[name]
            array.SetValue(row, int(value) if isinstance(value, bool) else value)
        array.Modified()
    table.Modified()


def setReview(table, sliceIndex: int, decision: str) -> None:
    """Record a reviewer's decision (accept, reject, or "" to clear) for one slice, in the scene."""
    from assistcore.errors import InputError

    if decision not in REVIEW_CHOICES:
        raise InputError(f"Unknown review decision {decision!r}.", "Use accept, reject or an empty string.")
    records = tableNodeToRecords(table)
    for record in records:
        if record["slice_index"] == sliceIndex:
            record["review"] = decision
            break
    else:
        raise InputError(f"Slice {sliceIndex} is not in the table {table.GetName()}.")
    _rewriteTable(table, records)


def reviewedSlicesWriter(nodes: dict | None):
    """For the Report section (``AssistantWidget.reviewedResultsWriter``): a function recording the slice reviews
    of ``nodes["table"]`` in a result folder (:func:`assistcore.pipelines.crm.write_slice_reviews`), or None
    without a result."""
    if not nodes or nodes.get("table") is None:
        return None
    from pathlib import Path

    from assistcore.pipelines.crm import write_slice_reviews

    return lambda folder: write_slice_reviews(Path(folder), reviewsFromTable(nodes["table"]))


def reviewsFromTable(table) -> dict[int, str]:
    """{slice index: decision} for every reviewed slice."""
    return {record["slice_index"]: record["review"] for record in tableNodeToRecords(table) if record["review"]}


def exportReview(rois, table, folder) -> dict:
    """Write ``boxes.json`` (boxes as now in the scene, with the slice's review) and ``slices.csv``."""
    from pathlib import Path

    from assistcore.atomic import write_csv_atomic, write_text_atomic

    folder = Path(folder)
    reviews = reviewsFromTable(table)
    boxes = []
    for node in rois:
        box = roiNodeToBox(node)
        boxes.append(
            {
                "slice_index": box.slice_index,
                "center_lps_mm": [round(v, 3) for v in box.center_lps],
                "size_mm": [round(v, 3) for v in box.size_mm],
                "score": box.score,
                "region_id": box.attributes.get("region"),
                "review": reviews.get(box.slice_index, ""),
            }
        )
    verdict = json.loads(table.GetAttribute(VERDICT_ATTRIBUTE) or "{}")
    document = {"verdict": verdict, "boxes": boxes, "reviews": {str(k): v for k, v in sorted(reviews.items())}}
    records = tableNodeToRecords(table)
    return {
        "boxes": write_text_atomic(folder / "boxes_reviewed.json", json.dumps(document, indent=2)),
        "slices": write_csv_atomic(folder / "slices_reviewed.csv", records, None if records else ["slice_index"]),
    }
