"""BrainTumorLabel results <-> MRML: sequences as volumes, regions as one coded segmentation with provenance."""

from __future__ import annotations

import json

from assistcore.brain.regions import labels_from_region_masks, region_masks
from assistcore.labels import load_label_table

from .segmentations import maskSegmentationNode, segmentationNodeToMasks
from .volumes import imageToVolumeNode

PROVENANCE_ATTRIBUTE = "RadAssist.Provenance"
#: consensus region key (assistcore.brain.regions) -> segment name (assistcore/data/brain_tumor_regions.json)
REGION_SEGMENTS = {
    "whole_tumor": "Whole tumor",
    "tumor_body": "Tumor body",
    "enhancing": "Enhancing tumor",
    "non_enhancing": "Non-enhancing tumor",
}


def regionSegmentationNode(scene, logics, labels_kji, reference, caseId: str, referenceNode, provenance=None):
    """The four consensus regions of an internal label map (k, j, i) as one coded, overlapping segmentation.

    :param reference: the image ``labels_kji`` is on; ``referenceNode`` its volume node (reference geometry).
    :param provenance: recorded on the node (the export writes it into the sidecar), when given.
    """
    masks = {REGION_SEGMENTS[key]: mask for key, mask in region_masks(labels_kji).items()}
    segmentation = maskSegmentationNode(
        scene,
        logics.segmentations,
        masks,
        reference,
        load_label_table("brain_tumor_regions"),
        f"{caseId}_tumor",
        referenceNode,
    )
    if provenance is not None:
        segmentation.SetAttribute(PROVENANCE_ATTRIBUTE, json.dumps(provenance))
    return segmentation


def addBrainResultToScene(scene, logics, result, images: dict, caseId: str, referenceNode=None):
    """Volumes for the sequences (unless ``referenceNode`` is given) and the tumour segmentation next to it."""
    nodes = {}
    if referenceNode is None:
        for role, image in images.items():
            nodes[role] = imageToVolumeNode(scene, image, f"{caseId}_{role}")
        referenceNode = nodes[result.provenance["parameters"]["reference_sequence"]]
    segmentation = regionSegmentationNode(
        scene, logics, result.labels_kji, result.reference, caseId, referenceNode, result.provenance
    )
    return segmentation, nodes


def editedRegionMasks(scene, logics, segmentationNode, referenceNode) -> dict:
    """The four consensus regions as the annotator left them: {region key: (k, j, i) bool}."""
    byName = segmentationNodeToMasks(scene, logics.segmentations, segmentationNode, referenceNode)
    return {key: byName[name] for key, name in REGION_SEGMENTS.items() if name in byName}


def _editedLabels(scene, logics, segmentationNode, referenceNode):
    """Internal labels (1 non-enhancing, 2 edema, 3 enhancing) of a possibly edited segmentation."""
    from .volumes import volumeNodeToImage

    masks = editedRegionMasks(scene, logics, segmentationNode, referenceNode)
    return volumeNodeToImage(referenceNode), labels_from_region_masks(masks)


def qaForSegmentation(
    scene, logics, segmentationNode, referenceNode, extraAxial: bool = False, imageQualityGrade: int | None = None
) -> dict:
    """The consensus QA checks on the segmentation as the annotator left it."""
    from assistcore.brain.qa import run_qa

    from .volumes import volumeNodeToImage

    # QA on the region masks themselves, so that regions edited out of nesting are caught
    masks = editedRegionMasks(scene, logics, segmentationNode, referenceNode)
    reference = volumeNodeToImage(referenceNode)
    return run_qa(masks, reference, extra_axial=extraAxial, image_quality_grade=imageQualityGrade).to_dict()


def exportSegmentation(
    scene,
    logics,
    segmentationNode,
    referenceNode,
    folder,
    caseId: str,
    sequence: str,
    convention: str = "brats2021",
    editedIn: str = "3D Slicer Segment Editor",
) -> dict:
    """NIfTI files + sidecar for the (edited) segmentation, provenance taken from the node.

    :param editedIn: where the labels were edited, recorded in the provenance (Slicer or the Station).
    """
    from pathlib import Path

    from assistcore.pipelines.brain_tumor import export_label_files

    reference, labels = _editedLabels(scene, logics, segmentationNode, referenceNode)
    provenance = json.loads(segmentationNode.GetAttribute(PROVENANCE_ATTRIBUTE) or "{}")
    provenance["edited_in"] = editedIn
    return export_label_files(labels, reference, Path(folder), caseId, sequence, convention, provenance)


def reviewedLabelsWriter(scene, logics, segmentationNode, referenceNode, result, handle):
    """For the Report section (``AssistantWidget.reviewedResultsWriter``): a function that rewrites the run's
    result folder with the labels as the annotator left them in ``segmentationNode`` (label files, lesion
    pictures, and report.json's regions, lesions and QA recomputed; the model's uncertainty kept; provenance
    ``edited_in``), or does nothing while they are the model's. None without a segmentation."""
    if segmentationNode is None or referenceNode is None:
        return None

    def write(folder) -> None:
        import dataclasses

        import numpy as np

        from assistcore.brain.qa import run_qa
        from assistcore.result_folders import write_result_folder

        _reference, labels = _editedLabels(scene, logics, segmentationNode, referenceNode)
        if labels.shape == result.labels_kji.shape and np.array_equal(labels, result.labels_kji):
            return
        extraAxial = result.provenance.get("parameters", {}).get("tumor_type") == "extra-axial"
        edited = dataclasses.replace(
            result,
            labels_kji=labels,
            qa=run_qa(labels, result.reference, extra_axial=extraAxial).to_dict(),
            provenance={**result.provenance, "edited_in": "3D Slicer Segment Editor"},
        )
        write_result_folder("brain_tumor", edited, folder, handle.case_id, handle.inputs)

    return write
