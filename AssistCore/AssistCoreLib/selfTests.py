"""Checks shared by the modules' Slicer self-tests: plain functions on the nodes a module added and a phantom's truth.

Each ``check...`` function raises AssertionError saying what was expected and what was found (unittest counts it as
a failure), and returns what it measured. The same functions run inside Slicer on ``slicer.mrmlScene`` (the
modules' ScriptedLoadableModuleTest classes) and headless on a slicer-core scene (Testing/test_self_tests.py),
where they are run with the bundled demo models on the phantoms below and shown to fail on wrong results.

The phantoms are chosen so that the bundled demo models find what they hold; the tolerances are loose enough for a
demo model and tight enough that a wrong answer (a box beside the lesion, levels named one off, a missing segment)
fails.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: BrainTumorLabel: an intra-axial tumour on a 3 mm grid (the demo model's fast mode runs in seconds on a CPU)
BRAIN_PHANTOM = {"seed": 1, "spacing_mm": 3.0, "tumor_type": "intra-axial"}
#: CRMAssist: a tumour reaching the mesorectal fascia on 7 slices, 320 x 320 in plane
CRM_PHANTOM = {"seed": 3, "crm_positive": True, "matrix": 320}
#: SpineAssist: C2 at the top of the field of view, an axial block on every disc C2/3..C6/7; the self-test runs on
#: the block through C4/5 (the demo model maps the blocks C3/4..C6/7 of this phantom onto their discs, not C2/3)
SPINE_PHANTOM = {"seed": 4, "with_t1": False}
SPINE_AXIAL_BLOCK = 2
#: BreastUSAssist: one lesion seen on frames 4-24 of a 30-frame sweep
BREAST_SWEEP = {"seed": 5}

#: a found box overlaps the truth when their intersection over union reaches this (detection studies use 0.2-0.5)
MINIMUM_BOX_IOU = 0.3
#: a level lies within this distance of its truth position: a third of the ~16 mm between cervical levels, so a
#: level named one off fails
LEVEL_TOLERANCE_MM = 5.0
#: whole-tumour Dice the demo model must reach on BRAIN_PHANTOM (labels moved off the reference grid fall far below)
MINIMUM_WHOLE_TUMOR_DICE = 0.5


def _check(condition: Any, message: str) -> None:
    """``assert`` that survives ``python -O``: raise AssertionError with ``message`` unless ``condition``."""
    if not condition:
        raise AssertionError(message)


def checkRunWithoutInputIsRefused(testCase, startWithoutInput) -> None:
    """Starting a run with no input volume raises a clear InputError, before any thread starts."""
    from assistcore.errors import InputError

    with testCase.assertRaises(InputError):
        startWithoutInput()


def checkVolumeConvertsWithItsGeometry(testCase, scene) -> None:
    """An oblique image goes into a volume node and comes back on exactly the same grid."""
    from assistcore.image import Image

    from .volumes import imageToVolumeNode, volumeNodeToImage

    angle = np.deg2rad(15.0)
    direction = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    image = Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), (0.5, 0.6, 3.0), (1.0, 2.0, 3.0), direction)
    back = volumeNodeToImage(imageToVolumeNode(scene, image, "selftest"))
    testCase.assertTrue(back.same_grid(image))
    testCase.assertTrue(np.array_equal(back.array_kji, image.array_kji))


# ----- BrainTumorLabel ------------------------------------------------------------------------------------------
def brainPhantomVolumes(scene) -> tuple[Any, dict[str, Any]]:
    """:data:`BRAIN_PHANTOM` and one volume node per sequence (t1, t1c, t2, flair) in ``scene``."""
    from assistcore.phantoms.brain import generate_brain_phantom

    from .volumes import imageToVolumeNode

    phantom = generate_brain_phantom(**BRAIN_PHANTOM)
    return phantom, {role: imageToVolumeNode(scene, image, role) for role, image in phantom.images.items()}


def checkBrainTumorSegmentation(
    scene,
    segmentationsLogic,
    segmentationNode,
    referenceNode,
    truthLabelsKji: np.ndarray,
    minimumDice: float = MINIMUM_WHOLE_TUMOR_DICE,
) -> dict[str, float]:
    """The tumour segmentation holds the four coded consensus regions and its labels lie on the reference volume.

    - four segments, in the order and with the names, label values and SNOMED category and type codes of the label
      table ``brain_tumor_regions`` (whole tumour with edema, tumour body, enhancing, non-enhancing);
    - the segmentation's reference geometry is a volume on ``referenceNode``'s grid;
    - exported onto ``referenceNode``'s grid, the whole tumour overlaps the truth (BraTS 2023 labels > 0 on that
      grid) with at least ``minimumDice``, and the tumour body is not empty.

    :param segmentationsLogic: ``slicer.modules.segmentations.logic()``, or a headless scene's.
    :returns: {"whole_tumor_dice", "tumor_body_dice"}.
    """
    from assistcore.labels import load_label_table, parse_slicer_terminology_string

    from .brainTumor import REGION_SEGMENTS
    from .segmentations import segmentationNodeToMasks, segmentLabelDefinitions
    from .volumes import volumeNodeToImage

    expected = load_label_table("brain_tumor_regions")
    found = segmentLabelDefinitions(segmentationNode)
    _check(
        [segment["name"] for segment in found] == [label.name for label in expected],
        f"segments {[segment['name'] for segment in found]}; expected {[label.name for label in expected]}",
    )
    for segment, label in zip(found, expected):
        codes = parse_slicer_terminology_string(segment["terminology"] or "~" * 6)
        for part in ("category", "type"):
            concept, truth = codes[part], getattr(label, part)
            _check(
                concept is not None and (concept.code, concept.scheme) == (truth.code, truth.scheme),
                f"segment {segment['name']!r}: {part} {concept}; expected {truth.scheme} {truth.code} "
                f"({truth.meaning})",
            )
        _check(segment["value"] == label.value, f"segment {segment['name']!r} has value {segment['value']}")
    # the module takes as reference geometry the first volume on the result's grid (any of the co-registered
    # sequences): what matters is that it is the reference volume's grid
    geometryNode = segmentationNode.GetNodeReference("referenceImageGeometryRef")
    _check(
        geometryNode is not None and volumeNodeToImage(geometryNode).same_grid(volumeNodeToImage(referenceNode)),
        f"the segmentation's reference geometry ({geometryNode and geometryNode.GetName()}) is not on the grid of "
        f"{referenceNode.GetName()}",
    )
    masks = segmentationNodeToMasks(scene, segmentationsLogic, segmentationNode, referenceNode)
    truth = np.asarray(truthLabelsKji)
    _check(masks[REGION_SEGMENTS["whole_tumor"]].shape == truth.shape, "the labels are not on the reference grid")
    dice = {
        "whole_tumor_dice": _dice(masks[REGION_SEGMENTS["whole_tumor"]], truth > 0),
        "tumor_body_dice": _dice(masks[REGION_SEGMENTS["tumor_body"]], np.isin(truth, (1, 3))),
    }
    _check(
        dice["whole_tumor_dice"] >= minimumDice,
        f"whole tumour Dice {dice['whole_tumor_dice']:.2f} with the truth on the reference grid; expected at least "
        f"{minimumDice}",
    )
    _check(masks[REGION_SEGMENTS["tumor_body"]].any(), "the tumour body segment is empty")
    return dice


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int(np.logical_and(a, b).sum()) / total if total else 1.0


# ----- CRMAssist ------------------------------------------------------------------------------------------------
def crmPhantomVolume(scene) -> tuple[Any, Any]:
    """:data:`CRM_PHANTOM` and its axial T2 as a volume node in ``scene``."""
    from assistcore.phantoms.rectum import generate_rectal_phantom

    from .volumes import imageToVolumeNode

    phantom = generate_rectal_phantom(**CRM_PHANTOM)
    return phantom, imageToVolumeNode(scene, phantom.t2, "phantom_T2")


def _sliceBoxes(boxes, image) -> list[tuple[int, list[float], Any]]:
    """(slice, [i0, j0, i1, j1], box) of boxes on ``image``, the slice taken from where the box lies."""
    result = []
    for box in boxes:
        k, i0, j0, i1, j1 = box.voxel_corners(image)
        result.append((int(k), [i0, j0, i1, j1], box))
    return result


def checkCrmBoxesOnTheLesion(nodes: dict, truthBoxes, threshold: float, minimumIoU: float = MINIMUM_BOX_IOU) -> list:
    """A box shown at ``threshold`` lies on the phantom's lesion, and the case verdict says CRM-positive risk there.

    :param nodes: what CRMAssist added ({"volume", "rois", "table"}).
    :param truthBoxes: the phantom's truth boxes (``RectalPhantom.boxes``, on the volume's grid).
    :returns: [(slice, score, IoU)] of the boxes at ``threshold`` that overlap a truth box on their slice by at least
        ``minimumIoU``, best first.
    """
    import json

    from assistcore.metrics import box_iou

    from .crm import VERDICT_ATTRIBUTE
    from .markups import roiNodeToBox
    from .volumes import volumeNodeToImage

    image = volumeNodeToImage(nodes["volume"])
    truth = _sliceBoxes(truthBoxes, image)
    _check(truth, "the phantom has no truth box: choose a CRM-positive phantom")
    found = [
        (k, corners, box)
        for k, corners, box in _sliceBoxes(map(roiNodeToBox, nodes["rois"]), image)
        if (box.score or 0.0) >= threshold
    ]
    hits = []
    for k, corners, box in found:
        onSlice = [truthCorners for truthK, truthCorners, _box in truth if truthK == k]
        iou = float(box_iou(np.array([corners]), np.array(onSlice)).max()) if onSlice else 0.0
        if iou >= minimumIoU:
            hits.append((k, float(box.score), round(iou, 3)))
    _check(
        hits,
        f"none of the {len(found)} box(es) at threshold {threshold} overlaps a truth box (slices "
        f"{sorted({k for k, _c, _b in truth})}) by IoU {minimumIoU} or more",
    )
    verdict = json.loads(nodes["table"].GetAttribute(VERDICT_ATTRIBUTE) or "{}")
    _check(verdict.get("crm_positive_risk"), f"the case verdict is {verdict}; expected CRM-positive risk")
    _check(
        {k for k, _score, _iou in hits} <= set(verdict.get("slices_involved", [])),
        f"the verdict's slices {verdict.get('slices_involved')} miss the slices of the boxes on the lesion",
    )
    return sorted(hits, key=lambda hit: -hit[2])


# ----- SpineAssist ----------------------------------------------------------------------------------------------
#: the levels every cervical self-test expects, top down
CERVICAL_VERTEBRAE = ("C2", "C3", "C4", "C5", "C6", "C7")
CERVICAL_DISCS = ("C2/3", "C3/4", "C4/5", "C5/6", "C6/7")


def spinePhantomVolumes(scene) -> tuple[Any, Any, Any, str]:
    """:data:`SPINE_PHANTOM`, its sagittal T2 and its axial block :data:`SPINE_AXIAL_BLOCK` as volume nodes in
    ``scene``, and the disc level that block was planned through."""
    from assistcore.phantoms.spine import generate_spine_phantom

    from .volumes import imageToVolumeNode

    phantom = generate_spine_phantom(**SPINE_PHANTOM)
    sagittal = imageToVolumeNode(scene, phantom.sagittal_t2, "phantom_sag_T2")
    axial = imageToVolumeNode(scene, phantom.axial_t2_blocks[SPINE_AXIAL_BLOCK], "phantom_ax_T2")
    return phantom, sagittal, axial, phantom.axial_block_levels[SPINE_AXIAL_BLOCK]


def checkSpineLevels(nodes: dict, phantom, toleranceMm: float = LEVEL_TOLERANCE_MM) -> dict[str, float]:
    """Vertebrae C2..C7 and discs C2/3..C6/7 are named, each within ``toleranceMm`` of the phantom's truth.

    Vertebrae are read from the labelled points SpineAssist added (``nodes["vertebrae"]``), discs from its disc
    planes (``nodes["planes"]``, level in ``RadAssist.Level``, origin at the disc centre); truth from the phantom
    (``SpinePhantom.vertebrae`` body centres, ``SpinePhantom.levels`` disc centres). The findings table has a row
    for each of these levels, and one disc row per disc plane, in the same order.

    :returns: {level: distance to the truth in mm} for the checked levels.
    """
    from .markups import fiducialNodeToPoints
    from .tables import tableNodeToRecords
    from .volumes import RAS_FROM_LPS

    found = {point.label: np.asarray(point.position_lps) for point in fiducialNodeToPoints(nodes["vertebrae"])}
    for plane in nodes["planes"]:
        origin = [0.0, 0.0, 0.0]
        plane.GetOriginWorld(origin)
        found[plane.GetAttribute("RadAssist.Level")] = RAS_FROM_LPS @ np.asarray(origin)
    truth = {vertebra.name: vertebra.center_lps for vertebra in phantom.vertebrae}
    truth.update({level.name: level.disc_center_lps for level in phantom.levels})
    expected = (*CERVICAL_VERTEBRAE, *CERVICAL_DISCS)
    missing = [name for name in expected if name not in found]
    _check(not missing, f"levels {missing} are not named; found {sorted(found)}")
    distances = {name: float(np.linalg.norm(found[name] - np.asarray(truth[name]))) for name in expected}
    far = {name: round(distance, 1) for name, distance in distances.items() if distance > toleranceMm}
    _check(not far, f"levels more than {toleranceMm} mm from the phantom's truth (mm): {far}")
    rows = tableNodeToRecords(nodes["table"])
    discs = [plane.GetAttribute("RadAssist.Level") for plane in nodes["planes"]]
    _check(
        [row["level"] for row in rows if row["kind"] == "disc"] == discs
        and set(expected) <= {row["level"] for row in rows},
        f"the findings table's levels {[row['level'] for row in rows]} do not match the levels shown",
    )
    return distances


def checkAxialBlockOnItsDisc(nodes: dict, level: str, jumpToRow, sliceAt) -> dict:
    """The findings row of ``level`` (the disc an axial block was planned through) jumps to an axial slice of that
    block, and that slice is named ``level``.

    :param jumpToRow: ``(nodes, row) -> target`` (SpineAssistLogic.jumpToRow in Slicer, SpineAssistLib.jumpPoints
        headless); ``target["axial_ras"]`` is the centre of the axial slice shown.
    :param sliceAt: ``pointRAS -> {"series", "slice_index", "level"} or None``, the level of the axial slice at a
        point (SpineAssistLib.sliceLevelAt on the result's axial series).
    :returns: what ``sliceAt`` found.
    """
    from .tables import tableNodeToRecords

    levels = [record["level"] for record in tableNodeToRecords(nodes["table"])]
    _check(level in levels, f"no findings row for {level}; rows: {levels}")
    target = jumpToRow(nodes, levels.index(level))
    _check(target["axial_ras"] is not None, f"the axial block is not mapped onto {level}")
    found = sliceAt(target["axial_ras"])
    _check(found is not None and found["level"] == level, f"the axial slice of row {level} is named {found}")
    return found


# ----- BreastUSAssist -------------------------------------------------------------------------------------------
def breastPhantomCine() -> tuple[Any, Any]:
    """:data:`BREAST_SWEEP` and its frames as a Cine (what a loaded cine gives the pipeline)."""
    from assistcore.breastus.cine import Cine
    from assistcore.phantoms.breast_us import generate_breast_sweep

    sweep = generate_breast_sweep(**BREAST_SWEEP)
    spacing = (float(sweep.pixel_spacing_mm),) * 2
    return sweep, Cine(
        frames=sweep.frames,
        source_path="phantom",
        kind="frames_folder",
        frame_time_ms=sweep.frame_time_ms,
        pixel_spacing_mm=spacing,
    )


def checkBreastLesionFound(nodes: dict, sweep, threshold: float, minimumIoU: float = MINIMUM_BOX_IOU) -> dict:
    """A fused lesion at ``threshold`` has its box on the sweep's truth lesion, on a frame showing that lesion.

    The lesion's ROI (``nodes["rois"]``, best frame in its attributes) is read back into frame pixels on the cine's
    grid (``nodes["volume"]``) and compared with the truth boxes of that frame (``UltrasoundSweep.boxes_xy``); its
    frame range must overlap the frames where the truth lesion is seen.

    :returns: {"detection_id", "best_frame", "iou", "score"} of the best-overlapping lesion.
    """
    from assistcore.metrics import box_iou

    from .markups import roiNodeToBox
    from .volumes import volumeNodeToImage

    frame = volumeNodeToImage(nodes["volume"])
    seen = {t for lesion in sweep.lesions for t in lesion["frames"]}
    _check(seen, "the sweep shows no lesion: choose a sweep with one")
    best = None
    for detectionId, roi in nodes["rois"].items():
        box = roiNodeToBox(roi)
        if (box.score or 0.0) < threshold:
            continue
        _k, x0, y0, x1, y1 = box.voxel_corners(frame)
        bestFrame = int(box.attributes["best_frame"])
        truth = np.asarray(sweep.boxes_xy[bestFrame]).reshape(-1, 4)
        iou = float(box_iou(np.array([[x0, y0, x1, y1]]), truth).max()) if len(truth) else 0.0
        spans = set(range(int(box.attributes["first_frame"]), int(box.attributes["last_frame"]) + 1))
        if iou >= minimumIoU and spans & seen and (best is None or iou > best["iou"]):
            best = {"detection_id": detectionId, "best_frame": bestFrame, "iou": round(iou, 3), "score": box.score}
    _check(
        best is not None,
        f"no lesion at threshold {threshold} has its box on the truth lesion (IoU {minimumIoU} or more on its best "
        f"frame; the lesion is seen on frames {min(seen)}-{max(seen)})",
    )
    return best
