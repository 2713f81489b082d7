"""SpineAssist results <-> MRML: volumes, the coded level segmentation, labelled vertebra centres, one plane
per disc, and the findings table whose rows carry the point to jump to (LPS) and the slices.

Reviewer edits of a finding are written into the table (its ``reviewer`` column names who changed it), so they
are saved with the scene and read back by :func:`reviewsFromTable` for export.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from assistcore.annotations import LabelledPoint
from assistcore.labels import load_label_table

from .markups import RAS_FROM_LPS, pointsToFiducialNode
from .segmentations import labelArrayToSegmentationNode
from .tables import recordsToTableNode, tableNodeToRecords
from .volumes import imageToVolumeNode

PROVENANCE_ATTRIBUTE = "RadAssist.Provenance"
ROLE_ATTRIBUTE = "RadAssist.Role"
#: findings a reviewer may change, and the values the table offers
EDITABLE_FINDINGS = {
    "osteophyte": ("True", "False"),
    "listhesis_grade": ("0", "1", "2", "3", "4"),
    "disc": ("normal", "bulge", "central", "paracentral", "foraminal"),
    "disc_side": ("", "left", "right"),
    "pll_thickened": ("True", "False"),
    "lf_thickened": ("True", "False"),
}


def addSpineResultToScene(scene, logics, result, caseId: str, sagittalNode=None, axialNodes=None) -> dict:
    """Nodes for a :class:`assistcore.pipelines.spine.SpineResult`.

    ``sagittalNode`` and ``axialNodes`` (in the order of ``result.axial``): the volumes the user ran on, used
    instead of adding copies; without them (command line, scene bundles) the volumes are added.

    :returns: {"volumes": {role: node}, "segmentation": node, "axial_segmentations": [nodes],
        "vertebrae": fiducial node, "planes": [plane nodes], "table": table node}.
    """
    from assistcore.pipelines.spine import findings_rows

    volumes = {}
    if sagittalNode is None:
        sagittalNode = imageToVolumeNode(scene, result.sagittal, f"{caseId}_sag_T2")
    volumes["sag_t2"] = sagittalNode
    if result.sagittal_t1 is not None:
        volumes["sag_t1"] = imageToVolumeNode(scene, result.sagittal_t1, f"{caseId}_sag_T1")
    labels = load_label_table("spine_labels")
    segmentation = labelArrayToSegmentationNode(
        scene,
        logics.segmentations,
        result.level_map.array_kji,
        result.sagittal,
        labels,
        f"{caseId}_spine",
        sagittalNode,
    )
    segmentation.SetAttribute(PROVENANCE_ATTRIBUTE, json.dumps(result.provenance))
    axialSegmentations = []
    axialNodes = list(axialNodes or [])
    for index, series in enumerate(result.axial):
        volumes[series.name] = (
            axialNodes[index]
            if index < len(axialNodes) and axialNodes[index] is not None
            else imageToVolumeNode(scene, series.image, f"{caseId}_{series.name}")
        )
        if series.level_map is not None:
            node = labelArrayToSegmentationNode(
                scene,
                logics.segmentations,
                series.level_map.array_kji,
                series.image,
                labels,
                f"{caseId}_{series.name}_spine",
                volumes[series.name],
            )
            node.SetAttribute("RadAssist.SliceLevels", json.dumps([s.to_dict() for s in series.slices]))
            axialSegmentations.append(node)
    points = [
        LabelledPoint(tuple(v.center_lps), v.name, f"confidence {v.confidence:.2f}", {"confidence": v.confidence})
        for v in result.vertebrae
    ]
    vertebrae = pointsToFiducialNode(scene, points, f"{caseId}_vertebrae")
    vertebrae.SetAttribute(ROLE_ATTRIBUTE, "spine_vertebrae")
    vertebrae.SetLocked(True)
    planes = [_discPlaneNode(scene, disc, caseId) for disc in result.discs]
    table = recordsToTableNode(scene, findings_rows(result), f"{caseId}_spine_findings")
    table.SetAttribute(ROLE_ATTRIBUTE, "spine_findings")
    table.SetAttribute(
        "RadAssist.Labelling",
        json.dumps(
            {"method": result.labelling.method, "confidence": result.labelling.confidence, "warnings": result.warnings}
        ),
    )
    return {
        "volumes": volumes,
        "segmentation": segmentation,
        "axial_segmentations": axialSegmentations,
        "vertebrae": vertebrae,
        "planes": planes,
        "table": table,
    }


def _discPlaneNode(scene, disc, caseId: str):
    """A plane markups node through the disc centre with the disc's normal (RAS), named by the level."""
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsPlaneNode", scene.GenerateUniqueName(f"{caseId}_{disc.name}"))
    node.SetOrigin(*(RAS_FROM_LPS @ np.asarray(disc.center_lps, dtype=float)))
    node.SetNormal(*(RAS_FROM_LPS @ np.asarray(disc.normal_lps, dtype=float)))
    node.SetSize(30.0, 30.0)
    node.SetAttribute(ROLE_ATTRIBUTE, "spine_disc_plane")
    node.SetAttribute("RadAssist.Level", disc.name)
    node.SetLocked(True)
    return node


def jumpTarget(table, row: int) -> dict:
    """Where row ``row`` of the findings table points: {"point_ras": [x, y, z], "level": name, "sagittal_slice",
    "axial_series", "axial_slice"} (slices may be "")."""
    record = tableNodeToRecords(table)[row]
    point_lps = np.array([float(v) for v in str(record["point_lps_mm"]).split()])
    return {
        "point_ras": (RAS_FROM_LPS @ point_lps).tolist(),
        "level": record["level"],
        "sagittal_slice": record["sagittal_slice"],
        "axial_series": record.get("axial_series", ""),
        "axial_slice": record.get("axial_slice", ""),
    }


def setFinding(table, level: str, finding: str, value: str, reviewer: str = "reviewer") -> None:
    """A reviewer's change of one finding of one level, stored in the table (and so in the scene)."""
    from assistcore.errors import InputError

    if finding not in EDITABLE_FINDINGS or str(value) not in EDITABLE_FINDINGS[finding]:
        raise InputError(
            f"{finding}={value!r} is not an editable finding value.",
            f"Use one of {EDITABLE_FINDINGS.get(finding, ())}.",
        )
    levels = [record["level"] for record in tableNodeToRecords(table)]
    if level not in levels:
        raise InputError(f"Level {level} is not in the findings table.", "Pick a level from the table.")
    index = levels.index(level)
    columns = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    table.SetCellText(index, columns.index(finding), str(value))
    table.SetCellText(index, columns.index("reviewer"), reviewer)
    edits = json.loads(table.GetAttribute("RadAssist.Reviews") or "{}")
    edits.setdefault(level, {})[finding] = str(value)
    edits[level]["reviewer"] = reviewer
    table.SetAttribute("RadAssist.Reviews", json.dumps(edits))


def reviewedFindingsWriter(nodes: dict | None):
    """For the Report section (``AssistantWidget.reviewedResultsWriter``): a function writing the reviewer's edits
    of ``nodes["table"]`` into a result folder's findings (:func:`assistcore.pipelines.spine_outputs.
    write_reviewed_findings`), or None without a result."""
    if not nodes or nodes.get("table") is None:
        return None
    from assistcore.pipelines.spine_outputs import write_reviewed_findings

    return lambda folder: write_reviewed_findings(Path(folder), reviewsFromTable(nodes["table"]))


def reviewsFromTable(table) -> dict[str, dict]:
    """Reviewer edits kept in the scene: {level: {finding: value, "reviewer": name}}."""
    return json.loads(table.GetAttribute("RadAssist.Reviews") or "{}")
