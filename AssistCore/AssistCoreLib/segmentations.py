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


def _nodeIds(scene) -> set[str]:
    return {scene.GetNthNode(index).GetID() for index in range(scene.GetNumberOfNodes())}


def _removeScratchNode(scene, node, existingIds: set[str]) -> None:
    """Remove a temporary node together with the display, storage and colour nodes made for it.

    Slicer's labelmap import/export adds a display node and a ``<segmentation>_ColorTable`` per call; a
    plain ``RemoveNode`` leaves them behind, to pile up in the scene and in every saved .mrb.
    """
    dependents = [node.GetStorageNode()]
    for index in range(node.GetNumberOfDisplayNodes()):
        display = node.GetNthDisplayNode(index)
        dependents.append(display)
        color = display.GetColorNode() if display is not None else None
        if color is not None and color.GetID() not in existingIds:
            dependents.append(color)
    scene.RemoveNode(node)
    for dependent in dependents:
        if dependent is not None and dependent.GetScene() is scene:
            scene.RemoveNode(dependent)


def labelColorTableNode(scene, labels: list[LabelDefinition], name: str):
    """A colour table whose entry ``value`` is named and coloured like the label with that value."""
    table = scene.AddNewNodeByClass("vtkMRMLColorTableNode", scene.GenerateUniqueName(name))
    table.SetTypeToUser()
    table.SetNumberOfColors(max(label.value for label in labels) + 1)
    table.SetColor(0, "Background", 0.0, 0.0, 0.0, 0.0)
    for label in labels:
        table.SetColor(label.value, label.name, *label.color_rgb, 1.0)
        # Slicer 5.8+ colour tables carry terminology per entry: a labelmap shown or re-imported with this
        # table in Slicer gets the coded segments back.
        table.SetTerminologyFromString(label.value, label.slicer_terminology_string())
    table.SetAttribute("Category", "RadAssist")
    return table


def _checkLabelArray(label_kji: np.ndarray, reference: Image, labels: list[LabelDefinition], name: str) -> None:
    """Refuse before any node is made: a wrong grid or values without a definition would give a wrong or
    nameless segment (Slicer imports an unknown value as a segment named "" and exports it renumbered)."""
    from assistcore.errors import GeometryError, ImageValueError, InputError

    if not labels:
        raise InputError(f"No label definitions given for segmentation {name!r}.", "Pass the label table.")
    values = [label.value for label in labels]
    if len(set(values)) != len(values) or min(values) <= 0:
        raise InputError(f"Label values must be unique and positive, got {values}.", "Fix the label table.")
    if tuple(label_kji.shape) != reference.shape_kji:
        raise GeometryError(
            f"Label array shape {tuple(label_kji.shape)} does not match the reference grid {reference.shape_kji}"
            f" for segmentation {name!r}.",
            "Resample the label map onto the reference image first.",
        )
    if not (np.issubdtype(label_kji.dtype, np.integer) or label_kji.dtype == np.bool_):
        raise ImageValueError(
            f"Label array for {name!r} has dtype {label_kji.dtype}; label maps hold integers.",
            "Round and cast it to an integer type (e.g. numpy.uint8) first.",
        )
    unknown = sorted(set(np.unique(label_kji).tolist()) - {0, *values})
    if unknown:
        raise ImageValueError(
            f"Label array for {name!r} holds values {unknown} that no label definition has (defined: {values}).",
            "Add definitions for them or set those voxels to 0.",
        )


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

    Segments are in the label table's order; each carries its name, colour, ``TerminologyEntry`` tag and
    its label value (tag ``RadAssist.LabelValue``); a colour table with the same values is referenced from
    the node (``RadAssistLabelColorTable``) so export gives the same values back.

    :param segmentationsLogic: ``vtkSlicerSegmentationsModuleLogic`` (``slicer.modules.segmentations.logic()``
        in Slicer, ``createHeadlessScene()[1].segmentations`` headless).
    :param label_kji: label map (k, j, i), integer, on ``reference``'s grid, values 0 or as in ``labels``.
    :param reference: the image whose grid ``label_kji`` is on (LPS geometry).
    :param sourceVolumeNode: the volume it was made from: reference geometry and subject-hierarchy place.
    :raises GeometryError: shape differs from ``reference``; :raises ImageValueError: undefined values.
    """
    _checkLabelArray(label_kji, reference, labels, name)
    segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    segmentationNode.CreateDefaultDisplayNodes()
    colorTable = labelColorTableNode(scene, labels, f"{name}_labels")
    existingIds = _nodeIds(scene)
    referenceNode = sourceVolumeNode or imageToVolumeNode(
        scene, reference.with_array(np.zeros(label_kji.shape, np.uint8)), f"{name}_grid"
    )
    segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(referenceNode)
    labelmapNode = labelArrayToLabelmapNode(scene, label_kji, reference, f"{name}_import")
    labelmapNode.CreateDefaultDisplayNodes()
    labelmapNode.GetDisplayNode().SetAndObserveColorNodeID(colorTable.GetID())
    segmentationsLogic.ImportLabelmapToSegmentationNode(labelmapNode, segmentationNode)
    _removeScratchNode(scene, labelmapNode, existingIds)
    if sourceVolumeNode is None:
        _removeScratchNode(scene, referenceNode, existingIds)
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


def segmentationNodeToLabelArray(
    scene, segmentationsLogic, segmentationNode, referenceVolumeNode, labels: list[LabelDefinition] | None = None
) -> np.ndarray:
    """Export every segment to a label map (k, j, i) on ``referenceVolumeNode``'s grid with the original values.

    Values by segment name, first found of: ``labels`` (when given), the node's label colour table, the
    segment's ``RadAssist.LabelValue`` tag; segments with none of these (added later in the Segment Editor)
    get the next free values. Empty segments export as no voxels. Where segments overlap, the one later in
    the segment list wins (Slicer's export order). Nothing is left in the scene.
    """
    import vtk

    segmentation = segmentationNode.GetSegmentation()
    segmentIds = vtk.vtkStringArray()
    segmentation.GetSegmentIDs(segmentIds)
    existingIds = _nodeIds(scene)
    colorTable = _exportColorTable(scene, segmentationNode, segmentIds, labels)
    labelmapNode = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", scene.GenerateUniqueName("export"))
    try:
        exported = segmentationsLogic.ExportSegmentsToLabelmapNode(
            segmentationNode,
            segmentIds,
            labelmapNode,
            referenceVolumeNode,
            0,  # vtkSegmentation::EXTENT_REFERENCE_GEOMETRY: the reference volume's full grid
            colorTable,
        )
        if not exported:
            from assistcore.errors import GeometryError

            raise GeometryError(
                f"Slicer could not export segmentation {segmentationNode.GetName()} onto"
                f" {referenceVolumeNode.GetName()}.",
                "Check that the reference volume holds image data and the segmentation is not empty of segments.",
            )
        return volumeNodeToImage(labelmapNode).array_kji
    finally:
        _removeScratchNode(scene, labelmapNode, existingIds)
        scene.RemoveNode(colorTable)


def _exportColorTable(scene, segmentationNode, segmentIds, labels: list[LabelDefinition] | None):
    """A temporary colour table: segment name -> label value (see :func:`segmentationNodeToLabelArray`)."""
    segmentation = segmentationNode.GetSegmentation()
    byName = {label.name: label.value for label in labels or ()}
    labelTable = segmentationNode.GetNodeReference(COLOR_TABLE_REFERENCE)
    values: dict[str, int] = {}
    colors = {}
    for index in range(segmentIds.GetNumberOfValues()):
        segment = segmentation.GetSegment(segmentIds.GetValue(index))
        name = segment.GetName()
        colors[name] = segment.GetColor()
        tableValue = labelTable.GetColorIndexByName(name) if labelTable is not None else -1
        tag = segmentTag(segment, LABEL_VALUE_TAG)
        if name in byName:
            values[name] = byName[name]
        elif tableValue > 0:
            values[name] = tableValue
        elif tag:
            values[name] = int(tag)
    nextValue = max(values.values(), default=0) + 1
    for name in colors:
        if name not in values:
            values[name], nextValue = nextValue, nextValue + 1
    table = scene.AddNewNodeByClass("vtkMRMLColorTableNode", scene.GenerateUniqueName("export_labels"))
    table.SetHideFromEditors(True)
    table.SetSaveWithScene(False)
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
            existingIds = _nodeIds(scene)
            labelmapNode = labelArrayToLabelmapNode(scene, mask.astype(np.uint8), reference, f"{name}_import")
            before = segmentation.GetNumberOfSegments()
            segmentationsLogic.ImportLabelmapToSegmentationNode(labelmapNode, segmentationNode)
            _removeScratchNode(scene, labelmapNode, existingIds)
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
        existingIds = _nodeIds(scene)
        labelmapNode = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", scene.GenerateUniqueName("export"))
        try:
            segmentationsLogic.ExportSegmentsToLabelmapNode(segmentationNode, ids, labelmapNode, referenceVolumeNode)
            masks[segmentation.GetSegment(segmentId).GetName()] = volumeNodeToImage(labelmapNode).array_kji > 0
        finally:
            _removeScratchNode(scene, labelmapNode, existingIds)
    return masks
