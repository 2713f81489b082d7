"""MRML adapters against the real slicer-core wheel: volumes, segmentations, ROIs, points, tables, .mrb."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core wheel not installed (pip install 'trame-slicer[standalone]')")

from assistcore.annotations import Box, LabelledPoint
from assistcore.errors import GeometryError, ImageValueError, InputError
from assistcore.image_io import read_image, write_image
from assistcore.labels import LabelDefinition, load_label_table, parse_slicer_terminology_string
from AssistCoreLib.headless import createHeadlessScene, processCacheDirectory
from AssistCoreLib.markups import boxToROINode, fiducialNodeToPoints, pointsToFiducialNode, roiNodeToBox
from AssistCoreLib.scenes import loadSceneBundle, saveSceneBundle
from AssistCoreLib.segmentations import (
    COLOR_TABLE_REFERENCE,
    LABEL_VALUE_TAG,
    labelArrayToSegmentationNode,
    segmentationNodeToLabelArray,
    segmentLabelDefinitions,
)
from AssistCoreLib.tables import recordsToTableNode, tableNodeToRecords
from AssistCoreLib.volumes import imageToVolumeNode, volumeNodeToImage

pytestmark = pytest.mark.mrml

CATEGORY = {"code": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure"}


def _label(value: int, name: str, color: str, type_code: str, type_meaning: str, **codes) -> LabelDefinition:
    snomed = {"category": CATEGORY, "type": {"code": type_code, "scheme": "SCT", "meaning": type_meaning}, **codes}
    return LabelDefinition.from_dict({"value": value, "name": name, "color": color, "snomed": snomed})


# Non-consecutive values prove they are kept, not renumbered 1..N; the last label has a modifier and an
# anatomic region so every part of the terminology string is exercised.
LABELS = [
    _label(1, "Necrosis", "#0000ff", "6574001", "Necrosis"),
    _label(2, "Edema", "#ffff00", "79654002", "Edema"),
    _label(
        4,
        "Enhancing",
        "#a020f0",
        "108369006",
        "Neoplasm",
        modifier={"code": "263654008", "scheme": "SCT", "meaning": "Abnormal"},
        anatomic_region={"code": "12738006", "scheme": "SCT", "meaning": "Brain"},
    ),
]


@pytest.fixture
def a_scene():
    return createHeadlessScene()


def _three_labels(array_kji: np.ndarray) -> np.ndarray:
    """Values 1, 2, 4 from intensity quantiles (40 % / 80 %)."""
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


def _node_names(scene) -> set[str]:
    return {scene.GetNthNode(i).GetName() for i in range(scene.GetNumberOfNodes())}


def _box_equal(a: Box, b: Box, atol: float = 1e-6) -> None:
    np.testing.assert_allclose(a.center_lps, b.center_lps, atol=atol)
    np.testing.assert_allclose(a.size_mm, b.size_mm, atol=atol)
    np.testing.assert_allclose(a.axes_lps, b.axes_lps, atol=atol)
    assert (a.score, a.label, a.slice_index, a.model_id, a.attributes) == (
        b.score,
        b.label,
        b.slice_index,
        b.model_id,
        b.attributes,
    )


# ----- volumes ---------------------------------------------------------------------------------------------
def test_oblique_image_survives_volume_node_round_trip_with_dtype(a_scene, an_oblique_image):
    scene, _ = a_scene
    node = imageToVolumeNode(scene, an_oblique_image, "oblique")
    back = volumeNodeToImage(node)
    _assert_identical(an_oblique_image, back, atol=1e-9)
    assert back.array_kji.dtype == an_oblique_image.array_kji.dtype
    # Slicer sees RAS: the origin's first two coordinates are negated
    np.testing.assert_allclose(node.GetOrigin(), np.multiply(an_oblique_image.origin_lps, [-1, -1, 1]))


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.float64, np.uint8])
def test_volume_node_keeps_voxel_dtype_when_dtype_is(dtype, a_scene, an_oblique_image):
    scene, _ = a_scene
    image = an_oblique_image.with_array(an_oblique_image.array_kji.astype(dtype))
    back = volumeNodeToImage(imageToVolumeNode(scene, image, "typed"))
    assert back.array_kji.dtype == dtype
    np.testing.assert_array_equal(back.array_kji, image.array_kji)


def test_volume_geometry_includes_parent_transform_when_volume_is_transformed(a_scene, an_oblique_image):
    import vtk

    scene, _ = a_scene
    node = imageToVolumeNode(scene, an_oblique_image, "moved")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    shift = vtk.vtkMatrix4x4()
    shift.SetElement(0, 3, 10.0)  # 10 mm towards patient right... in RAS, i.e. -10 mm along L
    transform.SetMatrixTransformToParent(shift)
    node.SetAndObserveTransformNodeID(transform.GetID())
    moved = volumeNodeToImage(node)
    np.testing.assert_allclose(np.subtract(moved.origin_lps, an_oblique_image.origin_lps), [-10.0, 0.0, 0.0])
    np.testing.assert_allclose(moved.direction_lps, an_oblique_image.direction_lps, atol=1e-12)


def test_labels_computed_on_a_rotated_volume_export_back_onto_it_exactly(a_scene, an_oblique_image):
    """A volume under a registration transform: the pipeline sees it where Slicer shows it, and its result
    comes back voxel for voxel on the volume's own grid."""
    import vtk

    scene, logics = a_scene
    node = imageToVolumeNode(scene, an_oblique_image, "registered")
    rotation = vtk.vtkTransform()
    rotation.RotateZ(30.0)
    rotation.Translate(3.0, 0.0, 4.0)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    transform.SetMatrixTransformToParent(rotation.GetMatrix())
    node.SetAndObserveTransformNodeID(transform.GetID())
    shown = volumeNodeToImage(node)
    assert not np.allclose(shown.direction_lps, an_oblique_image.direction_lps)
    labels_kji = _three_labels(shown.array_kji)
    segmentation = labelArrayToSegmentationNode(scene, logics.segmentations, labels_kji, shown, LABELS, "s", node)
    np.testing.assert_array_equal(
        segmentationNodeToLabelArray(scene, logics.segmentations, segmentation, node), labels_kji
    )


def test_volume_under_nonlinear_transform_is_refused(a_scene, an_oblique_image):
    scene, _ = a_scene
    node = imageToVolumeNode(scene, an_oblique_image, "warped")
    warp = scene.AddNewNodeByClass("vtkMRMLGridTransformNode", "warp")
    node.SetAndObserveTransformNodeID(warp.GetID())
    with pytest.raises(GeometryError, match="Harden"):
        volumeNodeToImage(node)


# ----- segmentations ---------------------------------------------------------------------------------------
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
    assert [d["color_rgb"] for d in definitions] == [pytest.approx(label.color_rgb) for label in LABELS]
    assert [d["terminology"] for d in definitions] == [label.slicer_terminology_string() for label in LABELS]
    codes = parse_slicer_terminology_string(definitions[2]["terminology"])
    assert (codes["type"].code, codes["modifier"].code, codes["anatomic_region"].code) == (
        "108369006",
        "263654008",
        "12738006",
    )
    assert segmentation.GetNodeReference("referenceImageGeometryRef") is volume
    geometry = segmentation.GetSegmentation().GetConversionParameter("Reference image geometry")
    assert geometry.endswith(";0;9;0;11;0;6;"), f"reference extent is not the volume's grid: {geometry}"
    labelTable = segmentation.GetNodeReference(COLOR_TABLE_REFERENCE)
    assert [labelTable.GetColorName(label.value) for label in LABELS] == ["Necrosis", "Edema", "Enhancing"]
    assert labelTable.GetTerminologyAsString(4).startswith("~SCT^49755003^")  # codes in the colour table too
    exported = segmentationNodeToLabelArray(scene, logics.segmentations, segmentation, volume)
    np.testing.assert_array_equal(exported, labels_kji)
    assert not any(name.startswith(("tumour_import", "tumour_grid", "export")) for name in _node_names(scene))


def test_segmentation_is_placed_under_the_source_volumes_study(a_scene, an_oblique_image):
    scene, logics = a_scene
    volume = imageToVolumeNode(scene, an_oblique_image, "source")
    hierarchy = scene.GetSubjectHierarchyNode()
    study = hierarchy.CreateStudyItem(hierarchy.CreateSubjectItem(hierarchy.GetSceneItemID(), "patient"), "study")
    hierarchy.SetItemParent(hierarchy.CreateItem(hierarchy.GetSceneItemID(), volume), study)
    labels_kji = _three_labels(an_oblique_image.array_kji)
    placed = labelArrayToSegmentationNode(
        scene, logics.segmentations, labels_kji, an_oblique_image, LABELS, "b", volume
    )
    assert hierarchy.GetItemParent(hierarchy.GetItemByDataNode(placed)) == study


def test_segmentation_without_source_volume_gets_reference_geometry_and_no_leftover_nodes(a_scene, an_oblique_image):
    scene, logics = a_scene
    before = scene.GetNumberOfNodes()
    labels_kji = _three_labels(an_oblique_image.array_kji)
    segmentation = labelArrayToSegmentationNode(
        scene, logics.segmentations, labels_kji, an_oblique_image, LABELS, "alone"
    )
    assert segmentation.GetSegmentation().GetConversionParameter("Reference image geometry")
    volume = imageToVolumeNode(scene, an_oblique_image, "grid")
    np.testing.assert_array_equal(
        segmentationNodeToLabelArray(scene, logics.segmentations, segmentation, volume), labels_kji
    )
    # no temporary labelmap or grid volume, nor the display nodes and colour tables Slicer makes for them
    added = sorted(scene.GetNthNode(i).GetClassName() for i in range(before, scene.GetNumberOfNodes()))
    assert added == [
        "vtkMRMLColorTableNode",  # the label colour table the segmentation references
        "vtkMRMLScalarVolumeDisplayNode",
        "vtkMRMLScalarVolumeNode",
        "vtkMRMLSegmentationDisplayNode",
        "vtkMRMLSegmentationNode",
    ]


def test_label_values_without_definition_are_refused_before_any_node_is_made(a_scene, an_oblique_image):
    scene, logics = a_scene
    volume = imageToVolumeNode(scene, an_oblique_image, "source")
    labels_kji = _three_labels(an_oblique_image.array_kji)
    labels_kji[0, 0, 0] = 7
    before = scene.GetNumberOfNodes()
    with pytest.raises(ImageValueError, match=r"\[7\]"):
        labelArrayToSegmentationNode(scene, logics.segmentations, labels_kji, an_oblique_image, LABELS, "bad", volume)
    with pytest.raises(GeometryError, match="does not match"):
        labelArrayToSegmentationNode(
            scene, logics.segmentations, labels_kji[:, :-1], an_oblique_image, LABELS, "bad", volume
        )
    assert scene.GetNumberOfNodes() == before


def test_export_uses_given_labels_then_tags_and_numbers_untagged_segments_after_them(a_scene, an_oblique_image):
    scene, logics = a_scene
    volume = imageToVolumeNode(scene, an_oblique_image, "source")
    labels_kji = _three_labels(an_oblique_image.array_kji)
    segmentation = labelArrayToSegmentationNode(
        scene, logics.segmentations, labels_kji, an_oblique_image, LABELS, "tumour", volume
    )
    # a segment drawn later in the Segment Editor: no value tag, no colour-table entry
    drawn_kji = np.zeros_like(labels_kji)
    drawn_kji[0, :3, :3] = 9
    drawnLabel = LabelDefinition(9, "drawn later", (0.0, 1.0, 0.0), LABELS[0].category, LABELS[0].type)
    other = labelArrayToSegmentationNode(
        scene, logics.segmentations, drawn_kji, an_oblique_image, [drawnLabel], "other", volume
    )
    drawnId = other.GetSegmentation().GetSegmentIdBySegmentName("drawn later")
    assert segmentation.GetSegmentation().CopySegmentFromSegmentation(other.GetSegmentation(), drawnId)
    segmentation.GetSegmentation().GetSegment(drawnId).RemoveTag(LABEL_VALUE_TAG)
    expected = np.where(drawn_kji > 0, 5, labels_kji)  # next free value after 4; the later segment wins
    np.testing.assert_array_equal(
        segmentationNodeToLabelArray(scene, logics.segmentations, segmentation, volume), expected
    )
    segmentation.RemoveNodeReferenceIDs(COLOR_TABLE_REFERENCE)  # values then come from the segment tags
    np.testing.assert_array_equal(
        segmentationNodeToLabelArray(scene, logics.segmentations, segmentation, volume), expected
    )
    renumbered = [
        LabelDefinition(10 * label.value, label.name, label.color_rgb, label.category, label.type)
        for label in [*LABELS, drawnLabel]
    ]
    np.testing.assert_array_equal(
        segmentationNodeToLabelArray(scene, logics.segmentations, segmentation, volume, renumbered),
        np.where(drawn_kji > 0, 90, labels_kji.astype(np.int64) * 10),
    )


def test_segment_terminology_string_is_the_one_slicer_itself_serialises():
    """Our tag builder against Slicer's own terminology logic and its default segment tag."""
    import slicer

    logic = slicer.vtkSlicerTerminologiesModuleLogic()
    for label in [*LABELS, *load_label_table("brain_tumor_labels")]:
        entry = slicer.vtkSlicerTerminologyEntry()
        assert logic.DeserializeTerminologyEntry(label.slicer_terminology_string(), entry)
        assert entry.GetTypeObject().GetCodeValue() == label.type.code
        assert logic.SerializeTerminologyEntry(entry) == label.slicer_terminology_string()
    default = parse_slicer_terminology_string(slicer.vtkSegment().GetTerminology())
    assert (default["category"].meaning, default["type"].meaning) == ("Tissue", "Tissue")
    assert slicer.vtkSegment.GetTerminologyEntryTagName() == "TerminologyEntry"


# ----- markups and tables ----------------------------------------------------------------------------------
def test_box_round_trips_through_an_oriented_roi_with_attributes(a_scene, an_oblique_image):
    scene, _ = a_scene
    box = Box.from_slice_corners(
        an_oblique_image, 3, 2, 4, 7, 9, score=0.91, label="CRM+", model_id="crm-demo", attributes={"region": 2}
    )
    node = boxToROINode(scene, box, "box")
    assert node.GetAttribute("RadAssist.score") == "0.91" and node.GetAttribute("RadAssist.slice") == "3"
    center = [0.0, 0.0, 0.0]
    node.GetCenter(center)  # Slicer itself places the ROI at the box centre (RAS)
    np.testing.assert_allclose(center, np.multiply(box.center_lps, [-1, -1, 1]), atol=1e-6)
    _box_equal(roiNodeToBox(node), box)
    assert roiNodeToBox(node).voxel_corners(an_oblique_image) == pytest.approx((3, 2, 4, 7, 9))


def test_box_text_that_looks_like_json_stays_text(a_scene):
    scene, _ = a_scene
    box = Box((1, 2, 3), (4, 5, 6), label="2", model_id="007", attributes={"note": "true", "ids": [1, 2]})
    _box_equal(roiNodeToBox(boxToROINode(scene, box, "box")), box)


def test_labelled_points_and_records_round_trip(a_scene):
    scene, _ = a_scene
    points = [
        LabelledPoint((10.0, -20.0, 30.5), "C2", "dens", {"level": 2}),
        LabelledPoint((11.0, -18.0, 12.0), "C3", ""),
    ]
    node = pointsToFiducialNode(scene, points, "levels")
    assert [node.GetNthControlPointLabel(i) for i in range(2)] == ["C2", "C3"]
    back = fiducialNodeToPoints(node)
    assert [(p.label, p.description, p.attributes) for p in back] == [("C2", "dens", {"level": 2}), ("C3", "", {})]
    np.testing.assert_allclose([p.position_lps for p in back], [p.position_lps for p in points])
    records = [{"level": "C2/3", "thickness_mm": 2.5, "slices": 3, "thickened": True}]
    records.append({"level": "C3/4", "thickness_mm": 1.25, "slices": 2, "thickened": False})
    back_records = tableNodeToRecords(recordsToTableNode(scene, records, "findings"))
    assert back_records == records
    assert [type(v) for v in back_records[0].values()] == [str, float, int, bool]
    assert list(back_records[0]) == ["level", "thickness_mm", "slices", "thickened"]


def test_records_with_missing_values_and_forced_types_round_trip(a_scene):
    scene, _ = a_scene
    records = [{"level": "C2/3", "volume_ml": None, "count": 1}, {"level": "C3/4", "volume_ml": 2.5, "count": 2}]
    back = tableNodeToRecords(recordsToTableNode(scene, records, "gaps", columnTypes={"count": "float"}))
    assert back == records
    assert isinstance(back[0]["count"], float)
    # a numeric column with a gap is stored as float (NaN) and read back as None; a text gap as ""
    sparse = tableNodeToRecords(recordsToTableNode(scene, [{"a": 1}, {"b": "x"}], "sparse"))
    assert sparse == [{"a": 1.0, "b": ""}, {"a": None, "b": "x"}]
    with pytest.raises(InputError, match="column types"):
        recordsToTableNode(scene, records, "bad", columnTypes={"count": "decimal"})


# ----- scene bundles ---------------------------------------------------------------------------------------
def _mrb_unpack_dirs() -> set[str]:
    return {path.name for path in Path(tempfile.gettempdir()).glob("radassist-mrb-*")}


def test_scene_bundle_round_trip_keeps_everything(a_scene, an_oblique_image, tmp_path):
    scene, logics = a_scene
    volume = imageToVolumeNode(scene, an_oblique_image, "source")
    labels_kji = _three_labels(an_oblique_image.array_kji)
    labels_kji[labels_kji == 1] = 0  # an empty segment must survive the bundle too
    labelArrayToSegmentationNode(scene, logics.segmentations, labels_kji, an_oblique_image, LABELS, "tumour", volume)
    box = Box.from_slice_corners(an_oblique_image, 1, 0, 0, 3, 3, score=0.75, label="CRM+", model_id="m1")
    boxToROINode(scene, box, "box")
    pointsToFiducialNode(scene, [LabelledPoint((1.0, 2.0, 3.0), "C2", "dens")], "levels")
    records = [{"slice": 1, "probability": 0.75, "positive": True, "note": "x"}]
    recordsToTableNode(scene, records, "slices")
    unpackBefore = _mrb_unpack_dirs()

    path = saveSceneBundle(scene, tmp_path / "out" / "scene.mrb")
    assert [p.name for p in path.parent.iterdir()] == ["scene.mrb"], "no temporary files left"
    members = zipfile.ZipFile(path).namelist()
    for expected in (
        "scene/scene.mrml",
        "scene/Data/source.nrrd",
        "scene/Data/tumour.seg.nrrd",
        "scene/Data/box.mrk.json",
        "scene/Data/levels.mrk.json",
        "scene/Data/slices.tsv",
    ):
        assert expected in members, members
    assert not [name for name in members if "_ColorTable" in name], "scratch colour tables were saved"
    assert volume.GetStorageNode().GetFileName() in ("", None), "saving must not repoint the scene's storage"

    loaded, loadedLogics = loadSceneBundle(path)
    assert _mrb_unpack_dirs() == unpackBefore and not list(Path(processCacheDirectory()).iterdir())
    loadedVolume = loaded.GetFirstNodeByName("source")
    # Slicer stores a left-handed grid (this fixture's) in its own right-handed form: the same voxels at the
    # same physical places, possibly with an axis reversed. Resampling back onto the original grid is exact.
    from assistcore.resample import resample_to_reference

    onOriginalGrid = resample_to_reference(volumeNodeToImage(loadedVolume), an_oblique_image, "nearest")
    np.testing.assert_array_equal(onOriginalGrid.array_kji, an_oblique_image.array_kji)
    loadedSegmentation = loaded.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    definitions = segmentLabelDefinitions(loadedSegmentation)
    assert [(d["name"], d["value"]) for d in definitions] == [("Necrosis", 1), ("Edema", 2), ("Enhancing", 4)]
    assert [d["terminology"] for d in definitions] == [label.slicer_terminology_string() for label in LABELS]
    assert [d["color_rgb"] for d in definitions] == [pytest.approx(label.color_rgb, abs=1e-6) for label in LABELS]
    assert loadedSegmentation.GetNodeReference(COLOR_TABLE_REFERENCE) is not None
    exported = segmentationNodeToLabelArray(loaded, loadedLogics.segmentations, loadedSegmentation, loadedVolume)
    exportedImage = volumeNodeToImage(loadedVolume).with_array(exported)
    np.testing.assert_array_equal(
        resample_to_reference(exportedImage, an_oblique_image, "nearest").array_kji, labels_kji
    )
    _box_equal(roiNodeToBox(loaded.GetFirstNodeByClass("vtkMRMLMarkupsROINode")), box)
    points = fiducialNodeToPoints(loaded.GetFirstNodeByClass("vtkMRMLMarkupsFiducialNode"))
    assert [(p.label, p.description) for p in points] == [("C2", "dens")]
    np.testing.assert_allclose(points[0].position_lps, (1.0, 2.0, 3.0), atol=1e-6)
    assert tableNodeToRecords(loaded.GetFirstNodeByClass("vtkMRMLTableNode")) == records

    again = saveSceneBundle(loaded, tmp_path / "again.mrb")  # a loaded scene saves again (data in memory)
    reloaded, _ = loadSceneBundle(again)
    assert segmentLabelDefinitions(reloaded.GetFirstNodeByClass("vtkMRMLSegmentationNode")) == definitions


def test_bad_scene_bundle_paths_are_refused_clearly(a_scene, tmp_path):
    scene, _ = a_scene
    with pytest.raises(InputError, match="not found"):
        loadSceneBundle(tmp_path / "missing.mrb")
    (tmp_path / "fake.mrb").write_text("not a zip")
    with pytest.raises(InputError, match="not a zip"):
        loadSceneBundle(tmp_path / "fake.mrb")
    with pytest.raises(InputError, match=r"\.mrb"):
        saveSceneBundle(scene, tmp_path / "scene.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.mrb"]


# ----- real data -------------------------------------------------------------------------------------------
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
    _assert_identical(volumeNodeToImage(volume), image, atol=1e-9)
    labels_kji = _three_labels(image.array_kji.astype(np.float32))
    segmentation = labelArrayToSegmentationNode(scene, logics.segmentations, labels_kji, image, LABELS, "seg", volume)
    definitions = segmentLabelDefinitions(segmentation)
    assert [(d["name"], d["value"], d["terminology"]) for d in definitions] == [
        (label.name, label.value, label.slicer_terminology_string()) for label in LABELS
    ]
    assert segmentation.GetNodeReference("referenceImageGeometryRef") is volume
    hierarchy = scene.GetSubjectHierarchyNode()
    assert hierarchy.GetItemParent(hierarchy.GetItemByDataNode(segmentation)) == hierarchy.GetItemParent(
        hierarchy.GetItemByDataNode(volume)
    )
    exported = segmentationNodeToLabelArray(scene, logics.segmentations, segmentation, volume)
    path = write_image(volumeNodeToImage(volume).with_array(exported), tmp_path / "labels.nii.gz")
    written = sitk.ReadImage(str(path))
    reference = image.to_sitk()
    assert written.GetSize() == reference.GetSize()
    np.testing.assert_allclose(written.GetSpacing(), reference.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(written.GetOrigin(), reference.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(written.GetDirection(), reference.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), labels_kji)
    assert sorted(np.unique(sitk.GetArrayFromImage(written)).tolist()) == [0, 1, 2, 4]
