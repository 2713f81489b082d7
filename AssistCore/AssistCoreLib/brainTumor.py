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
