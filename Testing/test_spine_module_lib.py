"""SpineAssistLib without the Slicer app: the pure helpers, and the MRML parts on a headless scene (slicer-core).

The spine result is built from a phantom's own labels (no network), so this runs in seconds on a CPU.
Run: ``python -m pytest Testing/test_spine_module_lib.py``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "SpineAssist"))  # where SpineAssistLib lives

import SpineAssistLib as lib

from assistcore.errors import InputError


def test_anchor_option_is_the_point_in_lps_with_its_level():
    assert lib.anchorOption([10.0, -20.5, 30.0], "C4") == ((-10.0, 20.5, 30.0), "C4")
    assert lib.ANCHOR_LEVELS == ("C2", "C3", "C4", "C5", "C6", "C7", "T1")
    with pytest.raises(InputError, match="not one of"):
        lib.anchorOption([0, 0, 0], "L3")


def test_findings_offered_for_a_row_follow_its_kind():
    assert lib.findingsForKind("vertebra") == ["osteophyte"]
    assert "osteophyte" not in lib.findingsForKind("disc") and "disc" in lib.findingsForKind("disc")
    assert lib.findingValues("listhesis_grade") == ["0", "1", "2", "3", "4"]
    assert lib.isSyntheticDemo({"synthetic_demo_model": True}) and not lib.isSyntheticDemo({})


def _series(name, origin_ras, size=(10, 10, 4), spacing=(1.0, 1.0, 3.0), levels=None):
    ijk_to_ras = np.diag([*spacing, 1.0])
    ijk_to_ras[:3, 3] = origin_ras
    return {"name": name, "rasToIjk": np.linalg.inv(ijk_to_ras), "size_ijk": size, "levels": levels or {}}


def test_slice_level_lookup_finds_the_slice_under_the_view_centre():
    upper = _series("ax_t2_0", (0.0, 0.0, 30.0), levels={0: None, 1: "C3/4", 2: "C3/4", 3: None})
    lower = _series("ax_t2_1", (0.0, 0.0, 0.0), levels={1: "C5/6"})
    assert lib.sliceLevelAt([5.0, 5.0, 33.4], [lower, upper]) == {
        "series": "ax_t2_0",
        "slice_index": 1,
        "level": "C3/4",
    }
    assert lib.sliceLevelAt([5.0, 5.0, 2.0], [lower, upper])["level"] == "C5/6"
    assert lib.sliceLevelAt([5.0, 5.0, 9.0], [lower, upper])["level"] is None  # a slice crossing no disc
    assert lib.sliceLevelAt([5.0, 5.0, 20.0], [lower, upper]) is None  # between the blocks
    # overlapping series: the one holding the point in plane wins
    beside = _series("ax_t2_2", (100.0, 0.0, 30.0), levels={1: "C4/5"})
    assert lib.sliceLevelAt([5.0, 5.0, 33.0], [beside, upper])["series"] == "ax_t2_0"


# ----- MRML ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scene_and_nodes():
    pytest.importorskip("slicer")
    from assistcore.phantoms.spine import generate_spine_phantom
    from assistcore.pipelines.spine import AxialSeries, SpineResult, sagittal_slice_of
    from assistcore.spine.axial import map_axial_slices
    from assistcore.spine.labels import SPINE_LABELS
    from assistcore.spine.levels import level_map_from_named_labels, measure_levels
    from AssistCoreLib.headless import createHeadlessScene
    from AssistCoreLib.volumes import imageToVolumeNode

    phantom = generate_spine_phantom(3, with_t1=False, pose=False)
    sagittal = phantom.sagittal_t2
    level_map, labelling = level_map_from_named_labels(phantom.sagittal_labels, dict(SPINE_LABELS))
    vertebrae, discs = measure_levels(level_map, labelling)
    axial_image = phantom.axial_t2_blocks[1]
    slices = map_axial_slices(discs, axial_image, "ax_t2")
    axial_labels = np.asarray(phantom.axial_label_blocks[1].array_kji).astype(np.uint8)
    axial_labels[axial_labels > 22] = 0  # posterior elements and soft tissue are not level labels
    findings = {
        v.name: {
            "kind": "vertebra",
            "osteophyte": {"value": False, "unit": "", "probability": 0.1},
            "point_lps": v.center_lps,
            "sagittal_slice": sagittal_slice_of(sagittal, v.center_lps),
        }
        for v in vertebrae
        if v.name != "C1"
    }
    for disc in discs:
        row = {
            "kind": "disc",
            "listhesis": {"grade": 0, "direction": None, "offset_mm": 0.1, "fraction": 0.01},
            "point_lps": disc.center_lps,
            "sagittal_slice": sagittal_slice_of(sagittal, disc.center_lps),
            "axial": None,
        }
        if disc.axial_slices:
            best = min(disc.axial_slices, key=lambda item: abs(item["distance_mm"]))
            row["axial"] = {"series": "ax_t2", "slice_index": best["slice_index"]}
            row["pll"] = {"thickness_mm": 1.0, "thickened": False}
            row["lf"] = {"thickness_mm": 2.0, "thickened": False}
            row["disc"] = {"value": "normal", "probability": 0.9, "side": None}
        findings[disc.name] = row
    result = SpineResult(
        sagittal,
        level_map,
        labelling,
        vertebrae,
        discs,
        [AxialSeries("ax_t2", axial_image, axial_image.with_array(axial_labels), slices)],
        findings,
        {"model_id": "spine-test", "synthetic_demo_model": True},
        ["a warning"],
    )
    scene, logics = createHeadlessScene()
    sagittalNode = imageToVolumeNode(scene, sagittal, "SP3_sag_T2")
    nodes = lib.showResult(scene, result, sagittalNode, logics.segmentations)
    return scene, nodes, phantom


@pytest.mark.mrml
def test_show_result_gives_the_nodes_the_widget_reads(scene_and_nodes):
    _scene, nodes, phantom = scene_and_nodes
    assert nodes["table"].GetNumberOfRows() > 0
    assert nodes["segmentation"].GetSegmentation().GetNumberOfSegments() > 0
    labels = [nodes["vertebrae"].GetNthControlPointLabel(i) for i in range(6)]
    assert [name for name in labels if name != "C1"][:3] == ["C2", "C3", "C4"]
    summary = lib.labellingSummary(nodes["table"])
    assert summary["method"] == "named_labels" and summary["confidence"] == 1.0 and summary["warnings"] == ["a warning"]
    [series] = lib.axialSeriesOf(nodes["axial_segmentations"])
    assert series["name"] == "ax_t2" and series["volume"] is nodes["volumes"]["ax_t2"]
    assert phantom.axial_block_levels[1] in series["levels"].values()


@pytest.mark.mrml
def test_a_row_jumps_to_its_slices_and_the_axial_slice_is_named_by_its_level(scene_and_nodes):
    from AssistCoreLib.tables import tableNodeToRecords

    _scene, nodes, phantom = scene_and_nodes
    records = tableNodeToRecords(nodes["table"])
    level = phantom.axial_block_levels[1]
    row = [record["level"] for record in records].index(level)
    target = lib.jumpPoints(nodes, row)
    assert target["level"] == level and target["axial_volume"] is nodes["volumes"]["ax_t2"]
    found = lib.sliceLevelAt(target["axial_ras"], lib.axialSeriesOf(nodes["axial_segmentations"]))
    assert found == {"series": "ax_t2", "slice_index": int(records[row]["axial_slice"]), "level": level}
    # the sagittal slice centre lies on the row's sagittal slice
    sagittal = nodes["volumes"]["sag_t2"]
    ijk = np.linalg.inv(lib.ijkToWorldMatrix(sagittal)) @ np.array([*target["sagittal_ras"], 1.0])
    assert round(float(ijk[2])) == int(records[row]["sagittal_slice"])
    vertebra = lib.jumpPoints(nodes, 0)
    assert vertebra["axial_ras"] is None and vertebra["sagittal_ras"] is not None


@pytest.mark.mrml
def test_reviewer_edits_are_exported_as_json_and_csv(scene_and_nodes, tmp_path):
    from AssistCoreLib.spine import setFinding

    _scene, nodes, phantom = scene_and_nodes
    level = phantom.axial_block_levels[1]
    setFinding(nodes["table"], level, "disc", "central", "Dr Test")
    files = lib.exportFindings(nodes, tmp_path / "out")
    document = json.loads(files["json"].read_text())
    assert document["reviews"][level] == {"disc": "central", "reviewer": "Dr Test"}
    assert document["model"]["model_id"] == "spine-test" and "not for clinical use" in document["note"]
    rows = {row["level"]: row for row in csv.DictReader(files["csv"].open())}
    assert rows[level]["disc"] == "central" and rows[level]["reviewer"] == "Dr Test"
    assert rows[level]["reviewed_findings"] == "disc" and rows["C2"]["reviewed_findings"] == ""


@pytest.mark.mrml
def test_the_anchor_node_is_found_again_and_gives_its_placed_point(scene_and_nodes):
    scene, _nodes, _phantom = scene_and_nodes
    node = lib.findOrAddAnchorNode(scene)
    assert lib.findOrAddAnchorNode(scene) is node and node.GetMaximumNumberOfControlPoints() == 1
    assert lib.anchorPointRAS(node) is None
    node.AddControlPoint(1.0, 2.0, 3.0, "anchor")
    assert lib.anchorPointRAS(node) == [1.0, 2.0, 3.0]
    assert lib.anchorOption(lib.anchorPointRAS(node), "C5") == ((-1.0, -2.0, 3.0), "C5")


@pytest.mark.mrml
def test_the_axial_role_takes_a_list_of_volume_nodes(scene_and_nodes):
    from AssistCoreLib.pipelines import imagesFromNodes

    _scene, nodes, _phantom = scene_and_nodes
    sagittal, axial = nodes["volumes"]["sag_t2"], nodes["volumes"]["ax_t2"]
    images = imagesFromNodes({"sag_t2": sagittal, "sag_t1": None, "ax_t2": [axial, None]}, ["sag_t2"])
    assert set(images) == {"sag_t2", "ax_t2"} and len(images["ax_t2"]) == 1
    assert images["ax_t2"][0].shape_kji == tuple(reversed(lib.volumeSize(axial)))
    assert set(imagesFromNodes({"sag_t2": sagittal, "ax_t2": [None]}, ["sag_t2"])) == {"sag_t2"}
    with pytest.raises(InputError, match="sag_t2"):
        imagesFromNodes({"sag_t2": None, "ax_t2": [axial]}, ["sag_t2"])


# ----- levels from a segmentation the user already has (TotalSegmentator, TotalSpineSeg) ------------------------
def _other_tool_name(value: int, name: str) -> str:
    """Names as other tools write them: vertebrae_C2 / vertebrae C3, disc_C2_C3 / C3/4, spinal_canal..."""
    from assistcore.spine.labels import DISCS, VERTEBRAE

    if name in VERTEBRAE:
        return f"vertebrae_{name}" if value % 2 else f"vertebrae {name}"
    if name in DISCS:
        upper = VERTEBRAE[DISCS.index(name) + 1]
        return f"disc_{upper}_{VERTEBRAE[DISCS.index(name) + 2]}" if value % 2 else name
    return {"dural_sac": "spinal_canal", "cord": "spinal_cord"}.get(name, name)


@pytest.fixture(scope="module")
def named_segmentation():
    """A segmentation node like another tool's output, on the phantom's sagittal T2, segments in reverse order."""
    pytest.importorskip("slicer")
    import dataclasses

    from assistcore.labels import load_label_table
    from assistcore.phantoms.spine import generate_spine_phantom
    from assistcore.spine.labels import SOFT_TISSUE, SPINE_LABELS
    from AssistCoreLib.headless import createHeadlessScene
    from AssistCoreLib.segmentations import labelArrayToSegmentationNode
    from AssistCoreLib.volumes import imageToVolumeNode

    phantom = generate_spine_phantom(3, with_t1=False, with_axial=False)
    labels_kji = np.asarray(phantom.sagittal_labels.array_kji).astype(np.uint8)
    labels_kji[labels_kji == SOFT_TISSUE] = 0
    template = load_label_table("spine_labels")[0]
    definitions = [
        dataclasses.replace(template, value=value, name=_other_tool_name(value, name))
        for value, name in SPINE_LABELS.items()
        if 0 < value < SOFT_TISSUE  # posterior_elements kept: not a level, to be dropped with a warning
    ][::-1]
    scene, logics = createHeadlessScene()
    sagittalNode = imageToVolumeNode(scene, phantom.sagittal_t2, "SP3_sag_T2")
    segmentation = labelArrayToSegmentationNode(
        scene, logics.segmentations, labels_kji, phantom.sagittal_t2, definitions, "TotalSpineSeg", sagittalNode
    )
    nodeCount = scene.GetNumberOfNodes()
    image, table = lib.segmentationLevelLabels(scene, segmentation, sagittalNode, logics.segmentations)
    assert scene.GetNumberOfNodes() == nodeCount, "nothing is left in the scene"
    return phantom, labels_kji, definitions, image, table, (scene, logics, sagittalNode)


@pytest.mark.mrml
def test_a_segmentation_gives_a_label_map_on_the_sagittal_grid_valued_by_segment_order(named_segmentation):
    from assistcore.spine.labels import SPINE_LABELS
    from assistcore.spine.levels import VERTEBRA_VALUE, level_map_from_named_labels

    phantom, labels_kji, definitions, image, table = named_segmentation[:5]
    assert table == {index + 1: label.name for index, label in enumerate(definitions)}
    assert table[1] == "posterior_elements" and {"vertebrae_C3", "vertebrae C4", "C3/4", "disc_C4_C5"} <= set(
        table.values()
    )
    assert image.shape_kji == phantom.sagittal_t2.shape_kji
    assert np.allclose(image.origin_lps, phantom.sagittal_t2.origin_lps)
    assert np.allclose(image.direction_lps, phantom.sagittal_t2.direction_lps)
    valueOf = {label.value: index + 1 for index, label in enumerate(definitions)}
    expected = np.zeros(labels_kji.shape, np.int64)
    for original, value in valueOf.items():
        expected[labels_kji == original] = value
    assert np.array_equal(np.asarray(image.array_kji), expected), "voxel for voxel, renumbered by segment order"

    levels, labelling = level_map_from_named_labels(image, table)
    truth, _truthLabelling = level_map_from_named_labels(phantom.sagittal_labels, dict(SPINE_LABELS))
    assert labelling.method == "named_labels" and labelling.c2_found
    assert any("posterior_elements" in warning for warning in labelling.warnings)
    for name in ("C2", "C3", "C4", "C5", "C6", "C7"):
        named = np.asarray(levels.array_kji) == VERTEBRA_VALUE[name]
        assert named.any() and np.array_equal(named, np.asarray(truth.array_kji) == VERTEBRA_VALUE[name]), name
    assert np.array_equal(np.asarray(levels.array_kji), np.asarray(truth.array_kji))


@pytest.mark.mrml
def test_the_pipeline_takes_the_levels_of_a_segmentation_instead_of_the_network(
    named_segmentation, tmp_path, monkeypatch
):
    from model_fixtures import make_random_spine_model

    from assistcore.pipelines.spine import run

    phantom, _labels, _definitions, image, table = named_segmentation[:5]
    make_random_spine_model(tmp_path / "spine-random")
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(tmp_path))
    options = {"model_id": "spine-random", "device": "cpu", "labels": image, "level_map": table}
    result = run({"sag_t2": phantom.sagittal_t2}, options)
    assert result.labelling.method == "labels" and result.provenance["segmentation_source"] == "label file"
    names = [vertebra.name for vertebra in result.vertebrae if vertebra.name != "C1"]
    assert names[:6] == ["C2", "C3", "C4", "C5", "C6", "C7"], names
    assert [disc.name for disc in result.discs][:5] == ["C2/3", "C3/4", "C4/5", "C5/6", "C6/7"]


@pytest.mark.mrml
def test_overlapping_segments_the_later_wins_and_a_segmentation_without_vertebrae_is_refused(named_segmentation):
    from assistcore.image import Image
    from assistcore.labels import load_label_table
    from AssistCoreLib.segmentations import maskSegmentationNode
    from AssistCoreLib.volumes import imageToVolumeNode

    scene, logics, _sagittal = named_segmentation[5]
    reference = Image(np.zeros((4, 5, 6), np.int16), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    volume = imageToVolumeNode(scene, reference, "small")
    first, second = np.zeros((4, 5, 6), bool), np.zeros((4, 5, 6), bool)
    first[1:3, 1:4, 1:4], second[2:4, 2:5, 2:5] = True, True
    template = load_label_table("spine_labels")
    labels = [template[4], template[5]]  # C5, then C6
    node = maskSegmentationNode(
        scene, logics.segmentations, {"C5": first, "C6": second}, reference, labels, "o", volume
    )
    image, table = lib.segmentationLevelLabels(scene, node, volume, logics.segmentations)
    array = np.asarray(image.array_kji)
    assert table == {1: "C5", 2: "C6"}
    assert (array[second] == 2).all() and (array[first & ~second] == 1).all() and (array[~first & ~second] == 0).all()

    discs = maskSegmentationNode(
        scene, logics.segmentations, {"C5/6 disc": first}, reference, [template[13]], "d", volume
    )
    with pytest.raises(InputError, match="named as a vertebra"):
        lib.segmentationLevelLabels(scene, discs, volume, logics.segmentations)
    with pytest.raises(InputError, match="Select the sagittal T2"):
        lib.segmentationLevelLabels(scene, node, None, logics.segmentations)
