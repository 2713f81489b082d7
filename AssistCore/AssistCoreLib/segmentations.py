"""Label arrays <-> segmentation nodes with names, colours, terminology and the original label values.

Each segment carries its label value in the segment tag ``RadAssist.LabelValue`` and its coded terminology
in ``TerminologyEntry``; a colour table (referenced from the segmentation node) maps names to values, so
exporting gives back exactly the values that came in, not 1..N.
"""

from __future__ import annotations

import numpy as np

from assistcore.image import Image
from assistcore.labels import LabelDefinition

from .volumes import imageToVolumeNode, labelArrayToLabelmapNode, volumeNodeToImage

LABEL_VALUE_TAG = "RadAssist.LabelValue"
TERMINOLOGY_TAG = "TerminologyEntry"
COLOR_TABLE_REFERENCE = "RadAssistLabelColorTable"


def segmentTag(segment, key: str) -> str:
    """A segment tag's value, or "" when the segment has no such tag."""
    import vtk

    value = vtk.mutable("")
    return str(value) if segment.GetTag(key, value) else ""


def labelColorTableNode(scene, labels: list[LabelDefinition], name: str):
    """A colour table whose entry ``value`` is named and coloured like the label with that value."""
    table = scene.AddNewNodeByClass("vtkMRMLColorTableNode", scene.GenerateUniqueName(name))
    table.SetTypeToUser()
    table.SetNumberOfColors(max(label.value for label in labels) + 1)
    table.SetColor(0, "Background", 0.0, 0.0, 0.0, 0.0)
    for label in labels:
        table.SetColor(label.value, label.name, *label.color_rgb, 1.0)
    table.SetAttribute("Category", "RadAssist")
    return table


def _subjectHierarchy(scene):
    import slicer

    return slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)


def subjectHierarchyItem(scene, node) -> int:
    """The node's subject-hierarchy item, created under the scene if missing (headless scenes have no
    plugin that adds items automatically, the Slicer app does)."""
    hierarchy = _subjectHierarchy(scene)
    item = hierarchy.GetItemByDataNode(node)
    if not item:
        item = hierarchy.CreateItem(hierarchy.GetSceneItemID(), node)
    return item


def placeNextTo(scene, node, sourceNode) -> None:
    """Put ``node`` under the same subject-hierarchy parent (patient/study) as ``sourceNode``."""
    hierarchy = _subjectHierarchy(scene)
    parent = hierarchy.GetItemParent(subjectHierarchyItem(scene, sourceNode))
    hierarchy.SetItemParent(subjectHierarchyItem(scene, node), parent)


def labelArrayToSegmentationNode(
    scene,
    segmentationsLogic,
    label_kji: np.ndarray,
    reference: Image,
    labels: list[LabelDefinition],
    name: str,
    sourceVolumeNode=None,
):
    """A segmentation node with one segment per label definition (empty labels become empty segments).

    :param label_kji: label map on ``reference``'s grid, values as in ``labels``.
    :param sourceVolumeNode: the image it was made from: reference geometry and subject-hierarchy place.
    """
    segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    segmentationNode.CreateDefaultDisplayNodes()
    referenceNode = sourceVolumeNode or imageToVolumeNode(scene, reference.with_array(label_kji * 0), f"{name}_grid")
    segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(referenceNode)
    colorTable = labelColorTableNode(scene, labels, f"{name}_labels")
    labelmapNode = labelArrayToLabelmapNode(scene, label_kji, reference, f"{name}_import")
    labelmapNode.CreateDefaultDisplayNodes()
    labelmapNode.GetDisplayNode().SetAndObserveColorNodeID(colorTable.GetID())
    segmentationsLogic.ImportLabelmapToSegmentationNode(labelmapNode, segmentationNode)
    scene.RemoveNode(labelmapNode)
    if sourceVolumeNode is None:
        scene.RemoveNode(referenceNode)
    segmentation = segmentationNode.GetSegmentation()
    for index, label in enumerate(labels):
        segmentId = segmentation.GetSegmentIdBySegmentName(label.name)
        if not segmentId:
            segmentId = segmentation.AddEmptySegment(label.name, label.name, label.color_rgb)
        segmentation.SetSegmentIndex(segmentId, index)  # the label table's order, not import order
        segment = segmentation.GetSegment(segmentId)
        segment.SetColor(*label.color_rgb)
        segment.SetTag(LABEL_VALUE_TAG, str(label.value))
        segment.SetTag(TERMINOLOGY_TAG, label.slicer_terminology_string())
    segmentationNode.SetNodeReferenceID(COLOR_TABLE_REFERENCE, colorTable.GetID())
    if sourceVolumeNode is not None:
        segmentationNode.SetNodeReferenceID("referenceImageGeometryRef", sourceVolumeNode.GetID())
        placeNextTo(scene, segmentationNode, sourceVolumeNode)
    return segmentationNode


def segmentationNodeToLabelArray(scene, segmentationsLogic, segmentationNode, referenceVolumeNode) -> np.ndarray:
    """Export every segment to a label map (k, j, i) on ``referenceVolumeNode``'s grid with the original values.

    Values come from the node's label colour table (segment name -> value); segments added later in the
    Segment Editor without a value get the next free values.
    """
    import vtk

    segmentation = segmentationNode.GetSegmentation()
    colorTable = segmentationNode.GetNodeReference(COLOR_TABLE_REFERENCE)
    segmentIds = vtk.vtkStringArray()
    segmentation.GetSegmentIDs(segmentIds)
    if colorTable is None or any(
        colorTable.GetColorIndexByName(segmentation.GetSegment(segmentIds.GetValue(i)).GetName()) < 0
        for i in range(segmentIds.GetNumberOfValues())
    ):
        colorTable = _colorTableFromSegmentTags(scene, segmentation, segmentIds)
    labelmapNode = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", scene.GenerateUniqueName("export"))
    try:
        segmentationsLogic.ExportSegmentsToLabelmapNode(
            segmentationNode,
            segmentIds,
            labelmapNode,
            referenceVolumeNode,
            0,
            colorTable,  # 0 = reference extent
        )
        return volumeNodeToImage(labelmapNode).array_kji
    finally:
        scene.RemoveNode(labelmapNode)


def _colorTableFromSegmentTags(scene, segmentation, segmentIds):
    values: dict[str, int] = {}
    colors = {}
    for index in range(segmentIds.GetNumberOfValues()):
        segment = segmentation.GetSegment(segmentIds.GetValue(index))
        tag = segmentTag(segment, LABEL_VALUE_TAG)
        if tag:
            values[segment.GetName()] = int(tag)
        colors[segment.GetName()] = segment.GetColor()
    nextValue = max(values.values(), default=0) + 1
    for name in colors:
        if name not in values:
            values[name], nextValue = nextValue, nextValue + 1
    table = scene.AddNewNodeByClass("vtkMRMLColorTableNode", scene.GenerateUniqueName("export_labels"))
    table.SetTypeToUser()
    table.SetNumberOfColors(max(values.values(), default=0) + 1)
    table.SetColor(0, "Background", 0.0, 0.0, 0.0, 0.0)
    for name, value in values.items():
        table.SetColor(value, name, *colors[name], 1.0)
    return table


def segmentLabelDefinitions(segmentationNode) -> list[dict]:
    """Name, value, colour and terminology string of every segment (for reports and sidecars)."""
    import vtk

    segmentation = segmentationNode.GetSegmentation()
    segmentIds = vtk.vtkStringArray()
    segmentation.GetSegmentIDs(segmentIds)
    result = []
    for index in range(segmentIds.GetNumberOfValues()):
        segment = segmentation.GetSegment(segmentIds.GetValue(index))
        result.append(
            {
                "name": segment.GetName(),
                "value": int(segmentTag(segment, LABEL_VALUE_TAG) or 0) or None,
                "color_rgb": tuple(segment.GetColor()),
                "terminology": segmentTag(segment, TERMINOLOGY_TAG),
            }
        )
    return result


def maskSegmentationNode(
    scene,
    segmentationsLogic,
    masks: dict[str, np.ndarray],
    reference: Image,
    labels: list[LabelDefinition],
    name: str,
    sourceVolumeNode,
):
    """A segmentation whose segments may overlap: one segment per mask (masks[label.name], (k, j, i) bool).

    Overlapping segments live in separate layers, so nested regions (whole tumour around tumour body around
    enhancing tumour) are each kept whole and edited independently in the Segment Editor.
    """
    segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    segmentationNode.CreateDefaultDisplayNodes()
    segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(sourceVolumeNode)
    segmentation = segmentationNode.GetSegmentation()
    for label in labels:
        mask = masks[label.name]
        if mask.any():
            labelmapNode = labelArrayToLabelmapNode(scene, mask.astype(np.uint8), reference, f"{name}_import")
            before = segmentation.GetNumberOfSegments()
            segmentationsLogic.ImportLabelmapToSegmentationNode(labelmapNode, segmentationNode)
            scene.RemoveNode(labelmapNode)
            segmentId = segmentation.GetNthSegmentID(before)
            segmentation.GetSegment(segmentId).SetName(label.name)
        else:
            segmentId = segmentation.AddEmptySegment(label.name, label.name, label.color_rgb)
        segment = segmentation.GetSegment(segmentId)
        segment.SetColor(*label.color_rgb)
        segment.SetTag(LABEL_VALUE_TAG, str(label.value))
        segment.SetTag(TERMINOLOGY_TAG, label.slicer_terminology_string())
    segmentationNode.SetNodeReferenceID("referenceImageGeometryRef", sourceVolumeNode.GetID())
    placeNextTo(scene, segmentationNode, sourceVolumeNode)
    return segmentationNode


def segmentationNodeToMasks(scene, segmentationsLogic, segmentationNode, referenceVolumeNode) -> dict[str, np.ndarray]:
    """Every segment as its own (k, j, i) bool mask on the reference grid, by segment name (overlaps kept)."""
    import vtk

    segmentation = segmentationNode.GetSegmentation()
    masks = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segmentId = segmentation.GetNthSegmentID(index)
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segmentId)
        labelmapNode = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", scene.GenerateUniqueName("export"))
        try:
            segmentationsLogic.ExportSegmentsToLabelmapNode(segmentationNode, ids, labelmapNode, referenceVolumeNode)
            masks[segmentation.GetSegment(segmentId).GetName()] = volumeNodeToImage(labelmapNode).array_kji > 0
        finally:
            scene.RemoveNode(labelmapNode)
    return masks
