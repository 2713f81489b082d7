"""BrainTumorLabel results <-> MRML: sequences as volumes, regions as one coded segmentation with provenance."""

from __future__ import annotations

import json

from assistcore.labels import load_label_table

from .segmentations import labelArrayToSegmentationNode
from .volumes import imageToVolumeNode

PROVENANCE_ATTRIBUTE = "RadAssist.Provenance"


def addBrainResultToScene(scene, logics, result, images: dict, caseId: str, referenceNode=None):
    """Volumes for the sequences (unless ``referenceNode`` is given) and the tumour segmentation next to it."""
    nodes = {}
    if referenceNode is None:
        for role, image in images.items():
            nodes[role] = imageToVolumeNode(scene, image, f"{caseId}_{role}")
        referenceNode = nodes[result.provenance["parameters"]["reference_sequence"]]
    segmentation = labelArrayToSegmentationNode(
        scene,
        logics.segmentations,
        result.labels_kji,
        result.reference,
        load_label_table("brain_tumor_labels"),
        f"{caseId}_tumor",
        referenceNode,
    )
    segmentation.SetAttribute(PROVENANCE_ATTRIBUTE, json.dumps(result.provenance))
    return segmentation, nodes


def _editedLabels(scene, logics, segmentationNode, referenceNode):
    """Internal labels (1 non-enhancing, 2 edema, 3 enhancing) of a possibly edited segmentation."""
    from .segmentations import segmentationNodeToLabelArray
    from .volumes import volumeNodeToImage

    labels = segmentationNodeToLabelArray(scene, logics.segmentations, segmentationNode, referenceNode)
    return volumeNodeToImage(referenceNode), labels


def qaForSegmentation(
    scene, logics, segmentationNode, referenceNode, extraAxial: bool = False, imageQualityGrade: int | None = None
) -> dict:
    """The consensus QA checks on the segmentation as the annotator left it."""
    from assistcore.brain.qa import run_qa

    reference, labels = _editedLabels(scene, logics, segmentationNode, referenceNode)
    return run_qa(labels, reference, extra_axial=extraAxial, image_quality_grade=imageQualityGrade).to_dict()


def exportSegmentation(
    scene, logics, segmentationNode, referenceNode, folder, caseId: str, sequence: str, convention: str = "brats2021"
) -> dict:
    """NIfTI files + sidecar for the (edited) segmentation, provenance taken from the node."""
    from pathlib import Path

    from assistcore.pipelines.brain_tumor import export_label_files

    reference, labels = _editedLabels(scene, logics, segmentationNode, referenceNode)
    provenance = json.loads(segmentationNode.GetAttribute(PROVENANCE_ATTRIBUTE) or "{}")
    provenance["edited_in"] = "3D Slicer Segment Editor"
    return export_label_files(labels, reference, Path(folder), caseId, sequence, convention, provenance)
