"""MRML adapters against the real slicer-core wheel: volumes, segmentations, ROIs, points, tables, .mrb."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core wheel not installed (pip install 'trame-slicer[standalone]')")

from assistcore.annotations import Box, LabelledPoint
from assistcore.image_io import read_image, write_image
from assistcore.labels import LabelDefinition, parse_slicer_terminology_string
from AssistCoreLib.headless import createHeadlessScene
from AssistCoreLib.markups import boxToROINode, fiducialNodeToPoints, pointsToFiducialNode, roiNodeToBox
from AssistCoreLib.scenes import loadSceneBundle, saveSceneBundle
from AssistCoreLib.segmentations import (
    COLOR_TABLE_REFERENCE,
    labelArrayToSegmentationNode,
    segmentationNodeToLabelArray,
    segmentLabelDefinitions,
)
from AssistCoreLib.tables import recordsToTableNode, tableNodeToRecords
from AssistCoreLib.volumes import imageToVolumeNode, volumeNodeToImage

pytestmark = pytest.mark.mrml


def _label(value: int, name: str, color: str, type_code: str = "108369006", type_meaning: str = "Neoplasm"):
    return LabelDefinition.from_dict(
        {
            "value": value,
            "name": name,
            "color": color,
            "snomed": {
                "category": {"code": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure"},
                "type": {"code": type_code, "scheme": "SCT", "meaning": type_meaning},
            },
        }
    )


LABELS = [_label(1, "Necrosis", "#0000ff"), _label(2, "Edema", "#ffff00"), _label(4, "Enhancing", "#a020f0")]


@pytest.fixture
def a_scene():
    scene, logics = createHeadlessScene()
    return scene, logics


def _three_labels(array_kji: np.ndarray) -> np.ndarray:
    """Values 1, 2, 4 from intensity tertiles: non-consecutive values prove they are kept, not renumbered."""
    low, high = np.percentile(array_kji, [40, 80])
    labels = np.zeros(array_kji.shape, dtype=np.uint8)
    labels[array_kji > 0] = 1
    labels[array_kji > low] = 2
    labels[array_kji > high] = 4
    return labels


def _assert_identical(a, b, atol=1e-5):
    assert a.shape_kji == b.shape_kji
    np.testing.assert_allclose(a.spacing_mm, b.spacing_mm, atol=atol)
    np.testing.assert_allclose(a.origin_lps, b.origin_lps, atol=atol)
    np.testing.assert_allclose(a.direction_lps, b.direction_lps, atol=1e-6)
    np.testing.assert_array_equal(a.array_kji, b.array_kji)


def test_oblique_image_survives_volume_node_round_trip_with_dtype(a_scene, an_oblique_image):
    scene, _ = a_scene
    node = imageToVolumeNode(scene, an_oblique_image, "oblique")
    back = volumeNodeToImage(node)
    _assert_identical(an_oblique_image, back, atol=1e-9)
    assert back.array_kji.dtype == an_oblique_image.array_kji.dtype
    # Slicer sees RAS: the origin's first two coordinates are negated
    np.testing.assert_allclose(node.GetOrigin(), np.multiply(an_oblique_image.origin_lps, [-1, -1, 1]))


def test_segmentation_keeps_names_colours_codes_values_reference_and_place(a_scene, an_oblique_image):
    scene, logics = a_scene
    volume = imageToVolumeNode(scene, an_oblique_image, "source")
    labels_kji = _three_labels(an_oblique_image.array_kji)
    labels_kji[labels_kji == 1] = 0  # label 1 empty: its segment must still exist
    segmentation = labelArrayToSegmentationNode(
        scene, logics.segmentations, labels_kji, an_oblique_image, LABELS, "tumour", volume
    )
    definitions = segmentLabelDefinitions(segmentation)
    assert [(d["name"], d["value"]) for d in definitions] == [("Necrosis", 1), ("Edema", 2), ("Enhancing", 4)]
    assert definitions[2]["color_rgb"] == pytest.approx((160 / 255, 32 / 255, 240 / 255))
    codes = parse_slicer_terminology_string(definitions[2]["terminology"])
    assert (codes["type"].code, codes["category"].code) == ("108369006", "49755003")
    assert segmentation.GetNodeReference("referenceImageGeometryRef") is volume
    assert segmentation.GetNodeReference(COLOR_TABLE_REFERENCE) is not None
    hierarchy = scene.GetSubjectHierarchyNode()
    study = hierarchy.CreateStudyItem(hierarchy.CreateSubjectItem(hierarchy.GetSceneItemID(), "patient"), "study")
    hierarchy.SetItemParent(hierarchy.GetItemByDataNode(volume), study)
    placed = labelArrayToSegmentationNode(
        scene, logics.segmentations, labels_kji, an_oblique_image, LABELS, "b", volume
    )
    assert hierarchy.GetItemParent(hierarchy.GetItemByDataNode(placed)) == study
    exported = segmentationNodeToLabelArray(scene, logics.segmentations, segmentation, volume)
    np.testing.assert_array_equal(exported, labels_kji)


def test_box_round_trips_through_an_oriented_roi_with_attributes(a_scene, an_oblique_image):
    scene, _ = a_scene
    box = Box.from_slice_corners(
        an_oblique_image, 3, 2, 4, 7, 9, score=0.91, label="CRM+", model_id="crm-demo", attributes={"region": 2}
    )
    node = boxToROINode(scene, box, "box")
    assert node.GetAttribute("RadAssist.score") == "0.91" and node.GetAttribute("RadAssist.slice") == "3"
    back = roiNodeToBox(node)
    np.testing.assert_allclose(back.center_lps, box.center_lps, atol=1e-6)
    np.testing.assert_allclose(back.size_mm, box.size_mm, atol=1e-6)
    np.testing.assert_allclose(back.axes_lps, box.axes_lps, atol=1e-6)
    assert (back.score, back.label, back.slice_index, back.model_id, back.attributes) == (
        0.91,
        "CRM+",
        3,
        "crm-demo",
        {"region": 2},
    )
    assert back.voxel_corners(an_oblique_image) == pytest.approx((3, 2, 4, 7, 9))


def test_labelled_points_and_records_round_trip(a_scene):
    scene, _ = a_scene
    points = [LabelledPoint((10.0, -20.0, 30.5), "C2", "dens"), LabelledPoint((11.0, -18.0, 12.0), "C3", "")]
    back = fiducialNodeToPoints(pointsToFiducialNode(scene, points, "levels"))
    assert [(p.label, p.description) for p in back] == [("C2", "dens"), ("C3", "")]
    np.testing.assert_allclose([p.position_lps for p in back], [p.position_lps for p in points])
    records = [{"level": "C2/3", "thickness_mm": 2.5, "slices": 3, "thickened": True}]
    records.append({"level": "C3/4", "thickness_mm": 1.25, "slices": 2, "thickened": False})
    assert tableNodeToRecords(recordsToTableNode(scene, records, "findings")) == records


def test_scene_bundle_round_trip_keeps_everything(a_scene, an_oblique_image, tmp_path):
    scene, logics = a_scene
    volume = imageToVolumeNode(scene, an_oblique_image, "source")
    labels_kji = _three_labels(an_oblique_image.array_kji)
    labelArrayToSegmentationNode(scene, logics.segmentations, labels_kji, an_oblique_image, LABELS, "tumour", volume)
    boxToROINode(scene, Box.from_slice_corners(an_oblique_image, 1, 0, 0, 3, 3, score=0.75), "box")
    recordsToTableNode(scene, [{"slice": 1, "probability": 0.75}], "slices")
    path = saveSceneBundle(scene, tmp_path / "out" / "scene.mrb")
    assert [p.name for p in path.parent.iterdir()] == ["scene.mrb"], "no temporary files left"

    loaded, loadedLogics = loadSceneBundle(path)
    loadedVolume = loaded.GetFirstNodeByName("source")
    # Slicer stores a left-handed grid (this fixture's) in its own right-handed form: the same voxels at the
    # same physical places, possibly with an axis reversed. Resampling back onto the original grid is exact.
    from assistcore.resample import resample_to_reference

    onOriginalGrid = resample_to_reference(volumeNodeToImage(loadedVolume), an_oblique_image, "nearest")
    np.testing.assert_array_equal(onOriginalGrid.array_kji, an_oblique_image.array_kji)
    loadedSegmentation = loaded.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    assert [d["name"] for d in segmentLabelDefinitions(loadedSegmentation)] == ["Necrosis", "Edema", "Enhancing"]
    exported = segmentationNodeToLabelArray(loaded, loadedLogics.segmentations, loadedSegmentation, loadedVolume)
    exportedImage = volumeNodeToImage(loadedVolume).with_array(exported)
    np.testing.assert_array_equal(
        resample_to_reference(exportedImage, an_oblique_image, "nearest").array_kji, labels_kji
    )
    assert roiNodeToBox(loaded.GetFirstNodeByClass("vtkMRMLMarkupsROINode")).score == 0.75
    assert tableNodeToRecords(loaded.GetFirstNodeByClass("vtkMRMLTableNode")) == [{"slice": 1, "probability": 0.75}]


@pytest.mark.realdata
@pytest.mark.parametrize("which", ["prostatex_oblique_dicom", "cervical_psr_nifti"])
def test_real_data_round_trip_dicom_to_segmentation_to_nifti_is_exact(
    which, a_scene, prostatex_t2_dir, cervical_t2_psr_path, tmp_path
):
    """DICOM folder / NIfTI -> Image -> volume node -> segmentation -> labelmap -> NIfTI -> SimpleITK."""
    import SimpleITK as sitk

    scene, logics = a_scene
    image = read_image(prostatex_t2_dir if which == "prostatex_oblique_dicom" else cervical_t2_psr_path)
    volume = imageToVolumeNode(scene, image, "source")
    labels_kji = _three_labels(image.array_kji.astype(np.float32))
    segmentation = labelArrayToSegmentationNode(scene, logics.segmentations, labels_kji, image, LABELS, "seg", volume)
    exported = segmentationNodeToLabelArray(scene, logics.segmentations, segmentation, volume)
    path = write_image(volumeNodeToImage(volume).with_array(exported), tmp_path / "labels.nii.gz")
    written = sitk.ReadImage(str(path))
    reference = image.to_sitk()
    assert written.GetSize() == reference.GetSize()
    np.testing.assert_allclose(written.GetSpacing(), reference.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(written.GetOrigin(), reference.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(written.GetDirection(), reference.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), labels_kji)
