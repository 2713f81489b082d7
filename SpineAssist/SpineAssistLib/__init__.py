"""SpineAssist adapters between the pipeline's results and MRML nodes (scene passed in, no Qt), and the small
helpers the widget uses: the anchor option, the axial slice -> level lookup, jump points, findings export.

Nothing here imports Qt or ``slicer.app``; MRML and assistcore imports are made inside the functions, so the
pure parts can be unit-tested without Slicer and the rest with the slicer-core wheel (headless scene).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

#: vertebrae a user can name with the anchor point
ANCHOR_LEVELS = ("C2", "C3", "C4", "C5", "C6", "C7", "T1")
ROLE_ATTRIBUTE = "RadAssist.Role"
ANCHOR_ROLE = "spine_anchor"
SLICE_LEVELS_ATTRIBUTE = "RadAssist.SliceLevels"
LABELLING_ATTRIBUTE = "RadAssist.Labelling"
PROVENANCE_ATTRIBUTE = "RadAssist.Provenance"
#: findings a reviewer may change on a vertebra row; every other editable finding belongs to disc rows
VERTEBRA_FINDINGS = ("osteophyte",)


# ----- anchor ---------------------------------------------------------------------------------------------------
def anchorOption(pointRAS, level: str) -> tuple[tuple[float, float, float], str]:
    """The pipeline's ``anchor`` option for a point the user placed (Slicer RAS mm) on vertebra ``level``:
    ((x, y, z) in LPS mm, level). LPS from RAS: negate the first two coordinates."""
    from assistcore.errors import InputError

    if level not in ANCHOR_LEVELS:
        raise InputError(f"Anchor level {level!r} is not one of {', '.join(ANCHOR_LEVELS)}.", "Pick a level.")
    x, y, z = (float(value) for value in pointRAS)
    return ((-x, -y, z), level)


def findOrAddAnchorNode(scene, name: str = "SpineAssist_anchor"):
    """The scene's anchor point list (found by its role attribute), added with room for one point if missing."""
    nodes = scene.GetNodesByClass("vtkMRMLMarkupsFiducialNode")
    for index in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(index)
        if node.GetAttribute(ROLE_ATTRIBUTE) == ANCHOR_ROLE:
            return node
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", scene.GenerateUniqueName(name))
    node.SetAttribute(ROLE_ATTRIBUTE, ANCHOR_ROLE)
    node.SetMaximumNumberOfControlPoints(1)
    node.CreateDefaultDisplayNodes()
    return node


def anchorPointRAS(node) -> list[float] | None:
    """World RAS of the anchor node's first placed point, or None when no point is placed."""
    if node is None:
        return None
    for index in range(node.GetNumberOfControlPoints()):
        if node.GetNthControlPointPositionStatus(index) == node.PositionDefined:
            position = [0.0, 0.0, 0.0]
            node.GetNthControlPointPositionWorld(index, position)
            return [float(value) for value in position]
    return None


# ----- levels from a segmentation the user already has (instead of the network) ----------------------------------
def segmentationLevelLabels(scene, segmentationNode, sagittalNode, segmentationsLogic=None):
    """A segmentation node (TotalSegmentator, TotalSpineSeg, drawn by hand...) as the pipeline's ``labels`` and
    ``level_map`` options: (label map Image on the sagittal T2's grid, {value: segment name}).

    Values follow the segment order: 1 for the first segment, 2 for the next, ... (segments that share a name
    share the value of the first). Where segments overlap, the one later in the segment list wins (Slicer's
    export order). Segment names are read by ``assistcore.spine.levels.canonical_structure_name``
    ("vertebrae_C5", "C5 vertebra", "disc_C5_C6", "C5/6", "spinal_cord", "spinal_canal"); segments with other
    names are left to the pipeline, which drops them with a warning. Nothing is left in the scene.

    :param segmentationsLogic: ``slicer.modules.segmentations.logic()`` by default; a headless one in tests.
    :raises InputError: no segmentation or sagittal node, no segment, or no segment named as a vertebra.
    """
    from assistcore.errors import InputError
    from assistcore.labels import CodedConcept, LabelDefinition
    from assistcore.spine.levels import VERTEBRA_VALUE, canonical_structure_name
    from AssistCoreLib.segmentations import segmentationNodeToLabelArray
    from AssistCoreLib.volumes import volumeNodeToImage

    if segmentationNode is None or sagittalNode is None:
        raise InputError("Select the sagittal T2 volume and the segmentation to take the levels from.")
    segmentation = segmentationNode.GetSegmentation()
    names = []
    for index in range(segmentation.GetNumberOfSegments()):
        name = segmentation.GetSegment(segmentation.GetNthSegmentID(index)).GetName()
        if name not in names:
            names.append(name)
    if not any(canonical_structure_name(name) in VERTEBRA_VALUE for name in names):
        raise InputError(
            f"No segment of {segmentationNode.GetName()} is named as a vertebra (segments: "
            f"{', '.join(names[:12]) or 'none'}).",
            "Choose a segmentation with vertebra segments named like vertebrae_C5 or C5, or clear the choice "
            "to use the network.",
        )
    if segmentationsLogic is None:
        import slicer

        segmentationsLogic = slicer.modules.segmentations.logic()
    # only the names and values are used by the export; the codes are a placeholder
    anatomy = CodedConcept("123037004", "SCT", "Anatomical Structure")
    labels = [LabelDefinition(value, name, (1.0, 1.0, 1.0), anatomy, anatomy) for value, name in enumerate(names, 1)]
    array = segmentationNodeToLabelArray(scene, segmentationsLogic, segmentationNode, sagittalNode, labels)
    return volumeNodeToImage(sagittalNode).with_array(array), {label.value: label.name for label in labels}


# ----- results in the scene -------------------------------------------------------------------------------------
def showResult(scene, result, sagittalNode=None, segmentationsLogic=None, axialNodes=None) -> dict:
    """Add a SpineResult next to the sagittal T2 the user ran on (see AssistCoreLib.spine.addSpineResultToScene).

    :param segmentationsLogic: ``slicer.modules.segmentations.logic()`` by default; a headless one in tests.
    """
    from AssistCoreLib.headless import HeadlessLogics
    from AssistCoreLib.spine import addSpineResultToScene

    if segmentationsLogic is None:
        import slicer

        segmentationsLogic = slicer.modules.segmentations.logic()
    caseId = (sagittalNode.GetName() if sagittalNode is not None else "") or "case"
    logics = HeadlessLogics(None, None, segmentationsLogic, None, None, None)
    return addSpineResultToScene(scene, logics, result, caseId, sagittalNode, axialNodes)


def isSyntheticDemo(provenance: dict) -> bool:
    """Whether the result came from a demo model trained on synthetic data."""
    return bool((provenance or {}).get("synthetic_demo_model"))


def labellingSummary(table) -> dict[str, Any]:
    """{"method", "confidence", "warnings"} stored on the findings table by the adapter."""
    stored = json.loads(table.GetAttribute(LABELLING_ATTRIBUTE) or "{}")
    return {
        "method": stored.get("method", ""),
        "confidence": stored.get("confidence"),
        "warnings": list(stored.get("warnings") or []),
    }


def findingsForKind(kind: str) -> list[str]:
    """The editable findings that apply to a table row of ``kind`` ("vertebra" or "disc")."""
    from AssistCoreLib.spine import EDITABLE_FINDINGS

    if kind == "vertebra":
        return [name for name in EDITABLE_FINDINGS if name in VERTEBRA_FINDINGS]
    return [name for name in EDITABLE_FINDINGS if name not in VERTEBRA_FINDINGS]


def findingValues(finding: str) -> list[str]:
    """The values a reviewer may choose for ``finding``."""
    from AssistCoreLib.spine import EDITABLE_FINDINGS

    return list(EDITABLE_FINDINGS.get(finding, ()))


# ----- geometry: slice centres, axial slice -> level ------------------------------------------------------------
def ijkToWorldMatrix(volumeNode) -> np.ndarray:
    """4x4 from (i, j, k, 1) to world RAS, linear parent transforms included."""
    import vtk

    from AssistCoreLib.volumes import nodeToWorldMatrix, vtkMatrixToArray

    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(matrix)
    return nodeToWorldMatrix(volumeNode) @ vtkMatrixToArray(matrix)


def volumeSize(volumeNode) -> tuple[int, int, int]:
    return tuple(int(value) for value in volumeNode.GetImageData().GetDimensions())


def sliceCenterRAS(volumeNode, sliceIndex: int) -> list[float]:
    """World RAS of the centre of k-slice ``sliceIndex`` of ``volumeNode``."""
    size_i, size_j, _ = volumeSize(volumeNode)
    point = ijkToWorldMatrix(volumeNode) @ np.array([(size_i - 1) / 2, (size_j - 1) / 2, float(sliceIndex), 1.0])
    return [float(value) for value in point[:3]]


def axialSeriesOf(segmentationNodes) -> list[dict]:
    """What the axial slice -> level lookup needs for each axial segmentation made by the adapter:
    {"name", "volume" (the node whose grid it is on), "rasToIjk" (4x4), "size_ijk", "levels" ({k: level})}."""
    series = []
    for node in segmentationNodes or []:
        text = node.GetAttribute(SLICE_LEVELS_ATTRIBUTE)
        volume = node.GetNodeReference("referenceImageGeometryRef")
        if not text or volume is None or volume.GetImageData() is None:
            continue
        slices = json.loads(text)
        series.append(
            {
                "name": slices[0]["series"] if slices else volume.GetName(),
                "volume": volume,
                "rasToIjk": np.linalg.inv(ijkToWorldMatrix(volume)),
                "size_ijk": volumeSize(volume),
                "levels": {int(item["slice_index"]): item["level"] for item in slices},
            }
        )
    return series


def sliceLevelAt(pointRAS, axialSeries: list[dict]) -> dict | None:
    """The axial slice a point (the centre of the axial slice view, world RAS) lies on, and its level.

    :returns: {"series", "slice_index", "level" (None: the slice crosses no disc)}, or None when the point is
        outside every axial series along its slice axis. Where series overlap, one whose field of view holds the
        point in plane wins, then the one whose slice centre is nearest.
    """
    best = None
    for series in axialSeries:
        i, j, k = (np.asarray(series["rasToIjk"]) @ np.array([*map(float, pointRAS), 1.0]))[:3]
        size_i, size_j, size_k = series["size_ijk"]
        if not -0.5 <= k <= size_k - 0.5:
            continue
        index = int(min(max(round(k), 0), size_k - 1))
        inPlane = -0.5 <= i <= size_i - 0.5 and -0.5 <= j <= size_j - 0.5
        key = (not inPlane, abs(k - index))
        if best is None or key < best[0]:
            best = (key, {"series": series["name"], "slice_index": index, "level": series["levels"].get(index)})
    return best[1] if best else None


def jumpPoints(nodes: dict, row: int) -> dict:
    """Where to show row ``row`` of the findings table: AssistCoreLib.spine.jumpTarget plus the RAS centres of
    its sagittal slice ("sagittal_ras") and axial slice ("axial_ras", with "axial_volume"), None when absent."""
    from AssistCoreLib.spine import jumpTarget

    target = jumpTarget(nodes["table"], row)
    sagittal = nodes["volumes"].get("sag_t2")
    target["sagittal_ras"] = (
        sliceCenterRAS(sagittal, int(target["sagittal_slice"]))
        if sagittal is not None and str(target["sagittal_slice"]) != ""
        else None
    )
    axial = nodes["volumes"].get(target["axial_series"]) if target["axial_series"] else None
    hasSlice = axial is not None and str(target["axial_slice"]) != ""
    target["axial_volume"] = axial if hasSlice else None
    target["axial_ras"] = sliceCenterRAS(axial, int(target["axial_slice"])) if hasSlice else None
    return target


# ----- export ---------------------------------------------------------------------------------------------------
def exportFindings(nodes: dict, folder) -> dict:
    """``spine_findings.json`` (labelling, model provenance, warnings, reviews, one row per level) and
    ``spine_findings.csv`` (the rows as in the table, reviewer edits included, plus the edited findings per row)
    into ``folder``; returns {"json": path, "csv": path}."""
    import csv
    import io
    from pathlib import Path

    from assistcore.atomic import write_text_atomic
    from AssistCoreLib.spine import reviewsFromTable
    from AssistCoreLib.tables import tableNodeToRecords

    table, segmentation = nodes["table"], nodes.get("segmentation")
    reviews = reviewsFromTable(table)
    rows = [
        {
            **record,
            "reviewed_findings": ";".join(sorted(k for k in reviews.get(record["level"], {}) if k != "reviewer")),
        }
        for record in tableNodeToRecords(table)
    ]
    provenance = json.loads(segmentation.GetAttribute(PROVENANCE_ATTRIBUTE) or "{}") if segmentation else {}
    document = {
        "labelling": labellingSummary(table),
        "model": provenance,
        "note": "Demo model trained on synthetic data: not for clinical use." if isSyntheticDemo(provenance) else "",
        "reviews": reviews,
        "rows": rows,
    }
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(rows[0]) if rows else ["level", "reviewed_findings"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    folder = Path(folder)
    return {
        "json": write_text_atomic(folder / "spine_findings.json", json.dumps(document, indent=2)),
        "csv": write_text_atomic(folder / "spine_findings.csv", buffer.getvalue()),
    }


def levelSegmentationSelector(scene):
    """The optional segmentation selector whose segments name the levels (instead of the network)."""
    import slicer
    from slicer.i18n import tr as _

    selector = slicer.qMRMLNodeComboBox()
    selector.nodeTypes = ["vtkMRMLSegmentationNode"]
    selector.noneEnabled, selector.addEnabled, selector.removeEnabled = True, False, False
    selector.setMRMLScene(scene)
    selector.toolTip = _(
        "Segments named by level (vertebrae_C5, disc_C5_C6, C5/6, spinal_cord...), e.g. TotalSegmentator or "
        "TotalSpineSeg output: used instead of the network and the anchor point; overlaps: the later segment wins"
    )
    return selector
