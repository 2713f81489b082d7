"""BrainTumorLabel in MRML (slicer-core): coded segmentation with provenance, QA and export of edited labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("slicer")

from assistcore.image_io import read_image
from assistcore.labels import parse_slicer_terminology_string
from assistcore.pipelines.brain_tumor import BrainResult
from AssistCoreLib.brainTumor import (
    PROVENANCE_ATTRIBUTE,
    addBrainResultToScene,
    exportSegmentation,
    qaForSegmentation,
)
from AssistCoreLib.headless import createHeadlessScene
from AssistCoreLib.segmentations import segmentLabelDefinitions

pytestmark = pytest.mark.mrml


@pytest.fixture
def a_brain_result(an_oblique_image):
    labels = np.zeros(an_oblique_image.shape_kji, np.uint8)
    labels[2:5, 3:9, 2:8] = 2
    labels[3:5, 4:7, 3:6] = 3
    labels[3, 5, 4] = 1
    provenance = {"model_id": "m", "parameters": {"reference_sequence": "flair"}}
    return BrainResult(labels, an_oblique_image, 0.1, {}, provenance)


def test_result_becomes_a_coded_segmentation_next_to_its_sequences(a_brain_result, an_oblique_image):
    scene, logics = createHeadlessScene()
    segmentation, volumes = addBrainResultToScene(scene, logics, a_brain_result, {"flair": an_oblique_image}, "C1")
    definitions = segmentLabelDefinitions(segmentation)
    assert [(d["name"], d["color_rgb"]) for d in definitions] == [
        ("Whole tumor", (1.0, 1.0, 0.0)),  # consensus colours: yellow, red, purple, blue
        ("Tumor body", (1.0, 0.0, 0.0)),
        ("Enhancing tumor", pytest.approx((160 / 255, 32 / 255, 240 / 255))),
        ("Non-enhancing tumor", pytest.approx((30 / 255, 100 / 255, 1.0))),
    ]
    assert parse_slicer_terminology_string(definitions[3]["terminology"])["type"].code == "6574001"  # necrosis
    assert json.loads(segmentation.GetAttribute(PROVENANCE_ATTRIBUTE))["model_id"] == "m"
    assert segmentation.GetNodeReference("referenceImageGeometryRef") is volumes["flair"]


def test_regions_overlap_as_nested_segments_and_editing_one_out_of_nesting_is_flagged(a_brain_result, an_oblique_image):
    from assistcore.labels import load_label_table
    from AssistCoreLib.brainTumor import editedRegionMasks
    from AssistCoreLib.segmentations import maskSegmentationNode, segmentationNodeToMasks

    scene, logics = createHeadlessScene()
    segmentation, volumes = addBrainResultToScene(scene, logics, a_brain_result, {"flair": an_oblique_image}, "C1")
    masks = editedRegionMasks(scene, logics, segmentation, volumes["flair"])
    assert masks["whole_tumor"].sum() == (a_brain_result.labels_kji > 0).sum()  # whole tumour kept whole
    assert masks["tumor_body"].sum() == np.isin(a_brain_result.labels_kji, (1, 3)).sum()
    # an annotator paints enhancing tumour outside the tumour body: QA must say so
    edited = {
        name: mask.copy()
        for name, mask in segmentationNodeToMasks(scene, logics.segmentations, segmentation, volumes["flair"]).items()
    }
    edited["Enhancing tumor"][0, 0, 0] = True
    editedNode = maskSegmentationNode(
        scene,
        logics.segmentations,
        edited,
        an_oblique_image,
        load_label_table("brain_tumor_regions"),
        "edited",
        volumes["flair"],
    )
    qa = qaForSegmentation(scene, logics, editedNode, volumes["flair"])
    assert any(flag["check"] == "nesting" and flag["region"] == "enhancing" for flag in qa["flags"])


def test_qa_and_export_use_the_segmentation_as_edited(a_brain_result, an_oblique_image, tmp_path):
    scene, logics = createHeadlessScene()
    segmentation, volumes = addBrainResultToScene(scene, logics, a_brain_result, {"flair": an_oblique_image}, "C1")
    qa = qaForSegmentation(scene, logics, segmentation, volumes["flair"])
    (lesion,) = qa["lesions"]
    voxel_ml = float(np.prod(an_oblique_image.spacing_mm)) / 1000
    assert lesion["volume_ml"] == pytest.approx((a_brain_result.labels_kji > 0).sum() * voxel_ml)
    files = exportSegmentation(scene, logics, segmentation, volumes["flair"], tmp_path, "C1", "flair", "brats2021")
    exported = read_image(files["labels"])
    assert files["labels"].name == "C1_flair_seg-brats2021.nii.gz"
    assert exported.same_grid(an_oblique_image)
    expected = a_brain_result.labels_kji.copy()
    expected[expected == 3] = 4
    np.testing.assert_array_equal(exported.array_kji, expected)
    assert json.loads(files["sidecar"].read_text())["provenance"]["edited_in"] == "3D Slicer Segment Editor"


def test_module_adapter_finds_the_volume_the_labels_lie_on(a_brain_result, an_oblique_image, monkeypatch):
    import sys
    from pathlib import Path

    from assistcore.image import Image
    from AssistCoreLib.volumes import imageToVolumeNode

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "BrainTumorLabel"))
    sys.modules.pop("BrainTumorLabelLib", None)
    import BrainTumorLabelLib

    scene, _ = createHeadlessScene()
    shifted = Image(
        an_oblique_image.array_kji, an_oblique_image.spacing_mm, (0.0, 0.0, 0.0), an_oblique_image.direction_lps
    )
    imageToVolumeNode(scene, shifted, "t2")
    imageToVolumeNode(scene, an_oblique_image, "flair")
    assert BrainTumorLabelLib._findReferenceNode(scene, a_brain_result).GetName() == "flair"


@pytest.mark.parametrize("table", ["brain_tumor_labels", "brain_tumor_regions", "crm_labels"])
def test_segment_codes_are_in_the_slicer_terminology_they_name(table):
    """Slicer's terminology picker must find every code (checked against the lists trame-slicer ships)."""
    import importlib.util
    from pathlib import Path

    from assistcore.labels import load_label_table, terminology_problems

    spec = importlib.util.find_spec("trame_slicer")
    if spec is None:
        pytest.skip("trame-slicer (with Slicer's terminology lists) not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "resources" / "terminologies"
    files = sorted(folder.glob("SegmentationCategoryTypeModifier-*.term.json"))
    assert files, f"no terminology lists in {folder}"
    assert terminology_problems(load_label_table(table), files) == []
