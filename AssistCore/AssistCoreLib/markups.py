"""Boxes <-> ROI markups nodes (score, label, slice, model as node attributes); points <-> fiducials."""

from __future__ import annotations

import json

import numpy as np

from assistcore.annotations import Box, LabelledPoint

from .volumes import RAS_FROM_LPS

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
    for key, value in {**attributes, **box.attributes}.items():
        if value is not None:
            node.SetAttribute(ATTRIBUTE_PREFIX + key, json.dumps(value) if not isinstance(value, str) else value)
    return node


def _attribute(node, key: str):
    value = node.GetAttribute(ATTRIBUTE_PREFIX + key)
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def roiNodeToBox(node) -> Box:
    """The box an ROI node shows (inverse of :func:`boxToROINode`)."""
    matrix = node.GetObjectToNodeMatrix()
    objectToNode = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
    axesLPS = RAS_FROM_LPS @ objectToNode[:3, :3]
    centerLPS = RAS_FROM_LPS @ objectToNode[:3, 3]
    size = node.GetSize()
    known = {"score", "label", "slice", "model"}
    names = [
        name[len(ATTRIBUTE_PREFIX) :] for name in node.GetAttributeNames() or () if name.startswith(ATTRIBUTE_PREFIX)
    ]
    return Box(
        tuple(centerLPS),
        tuple(size),
        axesLPS,
        score=_attribute(node, "score"),
        label=_attribute(node, "label") or "",
        slice_index=_attribute(node, "slice"),
        model_id=_attribute(node, "model") or "",
        attributes={name: _attribute(node, name) for name in names if name not in known},
    )


def pointsToFiducialNode(scene, points: list[LabelledPoint], name: str):
    """A point-list markups node, one labelled control point per point (RAS)."""
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", scene.GenerateUniqueName(name))
    for point in points:
        index = node.AddControlPoint(*(RAS_FROM_LPS @ np.asarray(point.position_lps)), point.label)
        node.SetNthControlPointDescription(index, point.description)
    return node


def fiducialNodeToPoints(node) -> list[LabelledPoint]:
    points = []
    for index in range(node.GetNumberOfControlPoints()):
        ras = [0.0, 0.0, 0.0]
        node.GetNthControlPointPosition(index, ras)
        points.append(
            LabelledPoint(
                tuple(RAS_FROM_LPS @ np.asarray(ras)),
                node.GetNthControlPointLabel(index),
                node.GetNthControlPointDescription(index),
            )
        )
    return points
