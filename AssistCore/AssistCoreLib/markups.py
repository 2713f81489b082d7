"""Boxes <-> ROI markups nodes (score, label, slice, model as node attributes); points <-> fiducials."""

from __future__ import annotations

import json

import numpy as np

from assistcore.annotations import Box, LabelledPoint

from .volumes import RAS_FROM_LPS, nodeToWorldMatrix, vtkMatrixToArray

ATTRIBUTE_PREFIX = "RadAssist."


def boxToROINode(scene, box: Box, name: str):
    """An ROI markups node with the box's centre, size and orientation (RAS), attributes on the node."""
    import vtk

    node = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", scene.GenerateUniqueName(name))
    axesRAS = RAS_FROM_LPS @ box.axes_lps
    centerRAS = RAS_FROM_LPS @ np.asarray(box.center_lps)
    matrix = vtk.vtkMatrix4x4()
    for row in range(3):
        for column in range(3):
            matrix.SetElement(row, column, float(axesRAS[row, column]))
        matrix.SetElement(row, 3, float(centerRAS[row]))
    node.GetObjectToNodeMatrix().DeepCopy(matrix)
    node.SetSize(*box.size_mm)
    attributes = {"score": box.score, "label": box.label, "slice": box.slice_index, "model": box.model_id}
    for key, value in {**box.attributes, **attributes}.items():
        if value is not None:
            node.SetAttribute(ATTRIBUTE_PREFIX + key, _encode(value))
    return node


#: node attribute naming what a RadAssist node is (a CRM box, a lesion, a results table...)
ROLE_ATTRIBUTE = "RadAssist.Role"


def probabilityColor(score: float) -> tuple[float, float, float]:
    """Yellow (0.5 and below) to red (1.0): the higher the probability, the redder the box."""
    fraction = min(1.0, max(0.0, (score - 0.5) / 0.5))
    return (1.0, 1.0 - 0.8 * fraction, 0.1)


def detectionROINode(scene, box: Box, name: str, role: str):
    """A detector's box as a locked ROI node coloured by its score, with ``RadAssist.Role`` = ``role``."""
    node = boxToROINode(scene, box, name)
    node.SetAttribute(ROLE_ATTRIBUTE, role)
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.SetSelectedColor(*probabilityColor(box.score))
    display.SetColor(*probabilityColor(box.score))
    display.SetHandlesInteractive(False)  # a detection is a finding, not something to drag by accident
    node.SetLocked(True)
    return node


def _encode(value) -> str:
    """Node attributes are strings: plain text stays readable in Slicer's UI, anything else is JSON, and
    text that would read back as JSON (a label "2", "true") is quoted so it comes back as text."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError:
            return value
    return json.dumps(value)


def _attribute(node, key: str):
    value = node.GetAttribute(ATTRIBUTE_PREFIX + key)
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def roiNodeToBox(node) -> Box:
    """The box an ROI node shows (inverse of :func:`boxToROINode`), in world LPS: linear parent transforms
    are included, so a box moved with its volume in Slicer comes back where it is displayed."""
    world = nodeToWorldMatrix(node) @ vtkMatrixToArray(node.GetObjectToNodeMatrix())
    scale = np.linalg.norm(world[:3, :3], axis=0)  # 1 unless a parent transform scales
    axesLPS = RAS_FROM_LPS @ (world[:3, :3] / scale)
    centerLPS = RAS_FROM_LPS @ world[:3, 3]
    size = np.multiply(node.GetSize(), scale)
    known = {"score", "label", "slice", "model"}
    names = [
        name[len(ATTRIBUTE_PREFIX) :] for name in node.GetAttributeNames() or () if name.startswith(ATTRIBUTE_PREFIX)
    ]
    return Box(
        tuple(centerLPS),
        tuple(size),
        axesLPS,
        score=_attribute(node, "score"),
        label=str(_attribute(node, "label") or ""),
        slice_index=_attribute(node, "slice"),
        model_id=str(_attribute(node, "model") or ""),
        attributes={name: _attribute(node, name) for name in names if name not in known},
    )


def pointsToFiducialNode(scene, points: list[LabelledPoint], name: str):
    """A point-list markups node, one labelled control point per point (RAS); a point's ``attributes`` go
    into the node attribute ``RadAssist.pointAttributes`` (JSON list, one dict per point) when any is set."""
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", scene.GenerateUniqueName(name))
    for point in points:
        index = node.AddControlPoint(*(RAS_FROM_LPS @ np.asarray(point.position_lps)), point.label)
        node.SetNthControlPointDescription(index, point.description)
    if any(point.attributes for point in points):
        node.SetAttribute(ATTRIBUTE_PREFIX + "pointAttributes", json.dumps([point.attributes for point in points]))
    return node


def fiducialNodeToPoints(node) -> list[LabelledPoint]:
    """Every control point as a labelled point (label, description) in world LPS (parent transforms applied)."""
    points = []
    attributes = _attribute(node, "pointAttributes") or []
    for index in range(node.GetNumberOfControlPoints()):
        ras = [0.0, 0.0, 0.0]
        node.GetNthControlPointPositionWorld(index, ras)
        points.append(
            LabelledPoint(
                tuple(RAS_FROM_LPS @ np.asarray(ras)),
                node.GetNthControlPointLabel(index),
                node.GetNthControlPointDescription(index),
                dict(attributes[index]) if index < len(attributes) else {},
            )
        )
    return points
