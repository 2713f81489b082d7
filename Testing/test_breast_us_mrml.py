"""BreastUSAssist's MRML adapter (AssistCoreLib.breastUs) against the real slicer-core wheel: the cine as a
sequence with a browser, ROIs per fused detection, reviews, descriptors, export and .mrb round trips."""

from __future__ import annotations

import copy
import csv
import json
import tempfile
import types

import numpy as np
import pytest

from assistcore.breastus.descriptors import LesionDescriptors, descriptor_columns
from assistcore.errors import InputError

pytestmark = pytest.mark.mrml

T, H, W = 6, 40, 50
ROW_MM, COLUMN_MM = 0.2, 0.1
FRAME_MS = 33.3


def _frames() -> np.ndarray:
    """Every pixel of every frame a different value in 0..1."""
    return (np.arange(T * H * W, dtype=np.float32) / (T * H * W)).reshape(T, H, W)


def _document(frameTimeMs=FRAME_MS, spacing=(ROW_MM, COLUMN_MM)) -> dict:
    fused = [
        {
            "detection_id": 1,
            "first_frame": 1,
            "last_frame": 3,
            "best_frame": 2,
            "best_box_xy": [10.0, 5.0, 20.0, 15.0],
            "union_box_xy": [9.0, 4.0, 21.0, 16.0],
            "fused_score": 0.9,
            "mean_score": 0.8,
            "n_frames": 3,
            "n_boxes": 3,
            "size_mm": [1.0, 2.0],
        },
        {
            "detection_id": 2,
            "first_frame": 3,
            "last_frame": 5,
            "best_frame": 4,
            "best_box_xy": [30.0, 20.0, 36.0, 30.0],
            "union_box_xy": [30.0, 20.0, 37.0, 31.0],
            "fused_score": 0.4,
            "mean_score": 0.35,
            "n_frames": 3,
            "n_boxes": 3,
            "size_mm": [0.6, 2.0],
        },
    ]
    frames = [{"frame_index": t, "boxes": []} for t in range(T)]
    for record in fused:
        for t in range(record["first_frame"], record["last_frame"] + 1):
            box = {
                "box_xy": record["best_box_xy"],
                "score": record["mean_score"],
                "detection_id": record["detection_id"],
            }
            frames[t]["boxes"].append(box)
    frames[0]["boxes"].append({"box_xy": [1.0, 1.0, 4.0, 3.0], "score": 0.2, "detection_id": 0})
    return {
        "cine": {
            "source": "sweep.dcm",
            "n_frames": T,
            "shape_hw": [H, W],
            "frame_time_ms": frameTimeMs,
            "pixel_spacing_mm": list(spacing) if spacing else None,
        },
        "threshold": 0.5,
        "iou_fuse": 0.3,
        "model": {"model_id": "breastus-test", "synthetic_training_data": True},
        "coordinate_notes": "box_xy: pixel edges, x right, y down",
        "frames": frames,
        "fused": fused,
        "descriptors": [LesionDescriptors(1, {"shape": "oval", "architectural_distortion": False}, "dr a").to_dict()],
        "reviews": {"2": "reject"},
    }


@pytest.fixture
def scene():
    pytest.importorskip("slicer", reason="slicer-core wheel not installed")
    from AssistCoreLib.headless import createHeadlessScene

    scene, logics = createHeadlessScene()
    scene.logics = logics  # the logics hold only a raw pointer to the application logic: keep it alive
    scene.sequencesLogic = logics.sequences
    return scene


@pytest.fixture
def nodes(scene):
    from AssistCoreLib.breastUs import addBreastUsResultToScene

    return addBreastUsResultToScene(scene, _frames(), _document(), "case1", scene.sequencesLogic)


def _pixels(volumeNode) -> np.ndarray:
    from vtkmodules.util import numpy_support

    imageData = volumeNode.GetImageData()
    columns, rows, slices = imageData.GetDimensions()
    return numpy_support.vtk_to_numpy(imageData.GetPointData().GetScalars()).reshape(slices, rows, columns)


def _ijkToRAS(volumeNode) -> np.ndarray:
    import vtk

    from AssistCoreLib.volumes import vtkMatrixToArray

    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(matrix)
    return vtkMatrixToArray(matrix)


def _openBundle(path):
    """Like AssistCoreLib.scenes.loadSceneBundle, on a scene that also has the Sequences logic (browser nodes)."""
    import slicer

    from AssistCoreLib.headless import attachDataIOManager, createHeadlessScene

    scene, logics = createHeadlessScene()
    scene.logics = logics
    scene.sequencesLogic = logics.sequences
    with tempfile.TemporaryDirectory() as unpack:
        attachDataIOManager(scene, unpack)
        assert scene.ReadFromMRB(str(path), False, slicer.vtkMRMLMessageCollection())
        attachDataIOManager(scene)
    return scene


def test_the_cine_is_a_sequence_of_its_frames_with_their_pixels_spacing_and_times(nodes):
    sequence, frames = nodes["sequence"], _frames()
    assert sequence.GetNumberOfDataNodes() == T
    assert (sequence.GetIndexName(), sequence.GetIndexUnit()) == ("time", "ms")
    assert [float(sequence.GetNthIndexValue(t)) for t in range(T)] == pytest.approx([t * FRAME_MS for t in range(T)])
    for t in range(T):
        volume = sequence.GetNthDataNode(t)
        np.testing.assert_array_equal(_pixels(volume), frames[t][np.newaxis])
        assert volume.GetSpacing() == pytest.approx((COLUMN_MM, ROW_MM, COLUMN_MM))
    assert nodes["browser"].GetMasterSequenceNode() is sequence
    assert nodes["browser"].GetProxyNode(sequence) is nodes["volume"]
    np.testing.assert_array_equal(_pixels(nodes["volume"]), frames[0][np.newaxis])


def test_a_frame_shows_upright_and_unflipped_in_the_axial_view(scene, nodes):
    """Pixel (0, 0) lands at the top left of the Red view, columns go right and rows go down the screen."""
    ijkToRAS = _ijkToRAS(nodes["sequence"].GetNthDataNode(0))
    np.testing.assert_allclose(ijkToRAS, np.diag([-COLUMN_MM, -ROW_MM, COLUMN_MM, 1.0]), atol=1e-12)
    # Slicer's axial slice: screen x is patient left (-R), screen y is anterior (+A), seen from the feet
    sliceToRAS = np.array([[-1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    screen = {
        corner: (np.linalg.inv(sliceToRAS) @ ijkToRAS @ np.array([*corner, 0.0, 1.0]))[:2]
        for corner in ((0, 0), (W - 1, 0), (0, H - 1))
    }
    assert screen[(W - 1, 0)][0] > screen[(0, 0)][0], "column 0 is at the left"
    assert screen[(0, H - 1)][1] < screen[(0, 0)][1], "row 0 is at the top"
    assert screen[(W - 1, 0)][1] == screen[(0, 0)][1] and screen[(0, H - 1)][0] == screen[(0, 0)][0], "not rotated"


def test_each_fused_detection_is_an_roi_on_its_best_box_in_mm_coloured_by_score(nodes):
    from AssistCoreLib.breastUs import frameImage
    from AssistCoreLib.markups import probabilityColor, roiNodeToBox

    rois = nodes["rois"]
    assert sorted(rois) == [1, 2]
    roi = rois[1]
    # box x 10..20, y 5..15 (pixel edges): centre at pixel index (14.5, 9.5) -> LPS (1.45, 1.9) -> RAS (-1.45, -1.9)
    center = [0.0, 0.0, 0.0]
    roi.GetCenterWorld(center)
    assert center == pytest.approx([-14.5 * COLUMN_MM, -9.5 * ROW_MM, 0.0])
    assert roi.GetSize() == pytest.approx((10 * COLUMN_MM, 10 * ROW_MM, COLUMN_MM))
    attributes = {
        key: roi.GetAttribute(f"RadAssist.{key}")
        for key in ("detection_id", "first_frame", "last_frame", "best_frame", "score", "model")
    }
    assert attributes == {
        "detection_id": "1",
        "first_frame": "1",
        "last_frame": "3",
        "best_frame": "2",
        "score": "0.9",
        "model": "breastus-test",
    }
    assert roi.GetDisplayNode().GetColor() == pytest.approx(probabilityColor(0.9))
    assert rois[2].GetDisplayNode().GetColor() == pytest.approx(probabilityColor(0.4))
    box = roiNodeToBox(rois[2])
    _, x0, y0, x1, y1 = box.voxel_corners(frameImage(_frames()[0], (ROW_MM, COLUMN_MM)))
    assert [x0, y0, x1, y1] == pytest.approx([30.0, 20.0, 36.0, 30.0])


def test_the_detections_table_lists_frames_scores_sizes_and_reviews(nodes):
    from AssistCoreLib.tables import tableNodeToRecords

    records = tableNodeToRecords(nodes["table"])
    assert records == [
        {
            "detection_id": 1,
            "first_frame": 1,
            "last_frame": 3,
            "best_frame": 2,
            "fused_score": 0.9,
            "n_frames": 3,
            "width_mm": 1.0,
            "height_mm": 2.0,
            "review": "",
        },
        {
            "detection_id": 2,
            "first_frame": 3,
            "last_frame": 5,
            "best_frame": 4,
            "fused_score": 0.4,
            "n_frames": 3,
            "width_mm": 0.6,
            "height_mm": 2.0,
            "review": "reject",
        },
    ]


def test_rois_follow_the_frames_and_the_threshold(nodes):
    from AssistCoreLib.breastUs import detectionVisibility

    def shown():
        return sorted(i for i, node in nodes["rois"].items() if node.GetDisplayNode().GetVisibility())

    assert shown() == [], "frame 0 at the document's threshold 0.5: no detection spans it"
    assert detectionVisibility(nodes, 2, 0.5) == [1] == shown()
    assert detectionVisibility(nodes, 3, 0.5) == [1] == shown(), "detection 2 scores 0.4"
    assert detectionVisibility(nodes, 3, 0.3) == [1, 2] == shown()
    assert detectionVisibility(nodes, 5, 0.3) == [2] == shown()
    assert detectionVisibility(nodes, 5, 0.4) == [2], "a score equal to the threshold is shown"
    assert detectionVisibility(nodes, 3, 0.95) == [] == shown()


def test_jumping_to_a_detection_shows_its_best_frame(nodes):
    from AssistCoreLib.breastUs import currentFrame, detectionCenterRAS, jumpToDetection

    assert jumpToDetection(nodes, 2) == 4
    assert nodes["browser"].GetSelectedItemNumber() == 4 == currentFrame(nodes)
    np.testing.assert_array_equal(_pixels(nodes["volume"]), _frames()[4][np.newaxis])
    assert jumpToDetection(nodes, 1) == 2
    np.testing.assert_array_equal(_pixels(nodes["volume"]), _frames()[2][np.newaxis])
    assert detectionCenterRAS(nodes, 2) == pytest.approx([-32.5 * COLUMN_MM, -24.5 * ROW_MM, 0.0])
    with pytest.raises(InputError, match="Detection 7"):
        jumpToDetection(nodes, 7)


def test_reviews_and_descriptors_are_kept_in_the_scene(nodes):
    from AssistCoreLib.breastUs import (
        descriptorsFor,
        descriptorsFromTable,
        reviewsFromTable,
        setDescriptors,
        setReview,
    )

    assert reviewsFromTable(nodes["table"]) == {2: "reject"}
    setReview(nodes, 1, "accept")
    setReview(nodes, 2, "")
    assert reviewsFromTable(nodes["table"]) == {1: "accept"}
    assert descriptorsFor(nodes, 2) == LesionDescriptors(2)
    setDescriptors(nodes, LesionDescriptors(2, {"margin": "Spiculated", "duct_dilatation": "yes"}, "dr b", "edge"))
    setDescriptors(nodes, {"detection_id": 1, "shape": "irregular", "nipple": "retracted", "annotator": "dr a"})
    records = descriptorsFromTable(nodes["descriptorsTable"])
    assert [record.detection_id for record in records] == [1, 2]
    assert records[0].values == {"shape": "irregular", "nipple": "retracted"}
    assert records[0].annotator == "dr a"
    assert descriptorsFor(nodes, 2).values["margin"] == "spiculated"
    assert descriptorsFor(nodes, 2).values["duct_dilatation"] is True
    assert descriptorsFor(nodes, 2).values.get("shape") is None, "not recorded"
    assert (descriptorsFor(nodes, 2).annotator, descriptorsFor(nodes, 2).note) == ("dr b", "edge")
    assert nodes["descriptorsTable"].GetTable().GetNumberOfColumns() == len(descriptor_columns())


def test_an_invalid_descriptor_or_review_is_an_input_error_and_changes_nothing(nodes):
    from AssistCoreLib.breastUs import exportDocument, setDescriptors, setReview

    before = exportDocument(nodes)
    with pytest.raises(InputError, match="shape"):
        setDescriptors(nodes, {"detection_id": 1, "shape": "star"})
    with pytest.raises(InputError, match="shape"):
        LesionDescriptors(1, {"shape": "star"})
    with pytest.raises(InputError, match="yes/no"):
        setDescriptors(nodes, {"detection_id": 2, "skin_retraction": "perhaps"})
    with pytest.raises(InputError, match="Detection 9"):
        setDescriptors(nodes, LesionDescriptors(9, {"shape": "oval"}))
    with pytest.raises(InputError, match="maybe"):
        setReview(nodes, 1, "maybe")
    with pytest.raises(InputError, match="Detection 9"):
        setReview(nodes, 9, "accept")
    assert exportDocument(nodes) == before


def _edit(nodes) -> dict:
    """Edits a reviewer makes, and the document they should give."""
    from AssistCoreLib.breastUs import setDescriptors, setReview

    setReview(nodes, 1, "accept")
    edited = LesionDescriptors(2, {"posterior_features": "shadowing", "skin_retraction": False}, "dr b", "check")
    setDescriptors(nodes, edited)
    expected = copy.deepcopy(_document())
    expected["reviews"] = {"1": "accept", "2": "reject"}
    expected["descriptors"].append(edited.to_dict())
    return expected


def test_export_is_the_input_document_plus_the_edits(nodes, tmp_path):
    from AssistCoreLib.breastUs import exportDocument
    from AssistCoreLib.breastUsExport import exportFiles

    expected = _edit(nodes)
    assert exportDocument(nodes) == expected
    files = exportFiles(nodes, tmp_path)
    assert json.loads(files["json"].read_text()) == expected
    assert files["json"] == tmp_path / "detections.json"
    with files["detections"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [
        (row["detection_id"], row["best_frame"], row["best_x0"], row["best_y1"], row["review"]) for row in rows
    ] == [
        ("1", "2", "10.0", "15.0", "accept"),
        ("2", "4", "30.0", "30.0", "reject"),
    ]
    with files["descriptors"].open(newline="") as handle:
        reader = csv.DictReader(handle)
        descriptorRows = list(reader)
    assert reader.fieldnames == descriptor_columns()
    assert [
        (r["detection_id"], r["shape"], r["skin_retraction"], r["architectural_distortion"], r["annotator"])
        for r in descriptorRows
    ] == [("1", "oval", "", "no", "dr a"), ("2", "", "no", "", "dr b")]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["descriptors.csv", "detections.csv", "detections.json"]
    with pytest.raises(InputError, match="does not exist"):
        exportFiles(nodes, tmp_path / "missing")


def test_edits_frames_and_rois_survive_saving_and_reopening_the_scene(scene, nodes, tmp_path):
    from AssistCoreLib.breastUs import breastUsNodes, breastUsTables, exportDocument, jumpToDetection
    from AssistCoreLib.scenes import saveSceneBundle

    expected = _edit(nodes)
    saveSceneBundle(scene, tmp_path / "case1.mrb")
    reopened = _openBundle(tmp_path / "case1.mrb")
    tables = breastUsTables(reopened)
    assert len(tables) == 1
    again = breastUsNodes(tables[0])
    assert exportDocument(again) == expected
    assert sorted(again["rois"]) == [1, 2]
    assert again["rois"][2].GetAttribute("RadAssist.best_frame") == "4"
    sequence = again["sequence"]
    assert sequence.GetNumberOfDataNodes() == T and sequence.GetIndexUnit() == "ms"
    np.testing.assert_array_equal(_pixels(sequence.GetNthDataNode(3)), _frames()[3][np.newaxis])
    assert jumpToDetection(again, 2) == 4
    np.testing.assert_array_equal(_pixels(again["volume"]), _frames()[4][np.newaxis])
    np.testing.assert_allclose(_ijkToRAS(again["volume"]), np.diag([-COLUMN_MM, -ROW_MM, COLUMN_MM, 1.0]), atol=1e-9)


def test_without_frame_time_or_spacing_the_index_is_the_frame_number_and_pixels_are_1_mm(scene):
    from AssistCoreLib.breastUs import addBreastUsResultToScene, exportDocument, framesFromBrowser

    document = _document(frameTimeMs=None, spacing=None)
    for record in document["fused"]:
        record["size_mm"] = None
    nodes = addBreastUsResultToScene(scene, _frames(), document, "case2", scene.sequencesLogic)
    sequence = nodes["sequence"]
    assert (sequence.GetIndexName(), sequence.GetIndexUnit()) == ("frame", "")
    assert [sequence.GetNthIndexValue(t) for t in range(T)] == [str(t) for t in range(T)]
    assert sequence.GetNthDataNode(0).GetSpacing() == pytest.approx((1.0, 1.0, 1.0))
    assert nodes["rois"][1].GetSize() == pytest.approx((10.0, 10.0, 1.0))
    assert exportDocument(nodes) == document
    back = framesFromBrowser(nodes["browser"])
    assert back["frame_time_ms"] is None and back["pixel_spacing_mm"] is None


def test_a_loaded_sequence_gives_the_cine_back(nodes):
    from AssistCoreLib.breastUs import framesFromBrowser

    back = framesFromBrowser(nodes["browser"])
    np.testing.assert_array_equal(back["frames"], _frames())
    assert back["frames"].dtype == np.float32
    assert back["pixel_spacing_mm"] == pytest.approx((ROW_MM, COLUMN_MM))
    assert back["frame_time_ms"] == pytest.approx(FRAME_MS)


def test_a_colour_8_bit_sequence_in_seconds_becomes_grey_frames_0_to_1(scene):
    import slicer
    import vtk
    from vtkmodules.util import numpy_support

    from AssistCoreLib.breastUs import framesFromBrowser

    rgb = np.zeros((3, 4, 5, 3), dtype=np.uint8)
    rgb[1, 2, 3] = (255, 255, 255)
    rgb[2, 0, 0] = (255, 0, 0)
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", "us")
    sequence.SetIndexUnit("s")
    for t in range(3):
        volume = slicer.vtkMRMLVectorVolumeNode()
        imageData = vtk.vtkImageData()
        imageData.SetDimensions(5, 4, 1)
        scalars = numpy_support.numpy_to_vtk(rgb[t].reshape(-1, 3), deep=True)
        imageData.GetPointData().SetScalars(scalars)
        volume.SetAndObserveImageData(imageData)
        volume.SetSpacing(0.3, 0.25, 1.0)
        sequence.SetDataNodeAtValue(volume, str(t * 0.05))
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", "us")
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    back = framesFromBrowser(browser)
    assert back["frames"].shape == (3, 4, 5)
    assert back["frames"][1, 2, 3] == pytest.approx(1.0) and back["frames"][2, 0, 0] == pytest.approx(0.299)
    assert back["frames"].sum() == pytest.approx(1.299)
    assert back["frame_time_ms"] == pytest.approx(50.0)
    assert back["pixel_spacing_mm"] == pytest.approx((0.25, 0.3))


def test_frames_that_disagree_with_the_document_or_unknown_reviews_are_refused(scene):
    from AssistCoreLib.breastUs import addBreastUsResultToScene, framesFromBrowser

    with pytest.raises(InputError, match="6 frames but 5"):
        addBreastUsResultToScene(scene, _frames()[:5], _document(), "bad")
    document = _document()
    document["reviews"] = {"3": "accept"}
    with pytest.raises(InputError, match="detection 3"):
        addBreastUsResultToScene(scene, _frames(), document, "bad")
    document = _document()
    document["descriptors"][0]["margin"] = "wavy"
    with pytest.raises(InputError, match="margin"):
        addBreastUsResultToScene(scene, _frames(), document, "bad")
    assert scene.GetNumberOfNodesByClass("vtkMRMLSequenceNode") == 0, "nothing added before the checks pass"
    with pytest.raises(InputError, match="sequence browser"):
        framesFromBrowser(None)


def test_starting_without_a_cine_is_refused_before_any_thread(tmp_path):
    from AssistCoreLib.breastUs import startCinePipeline

    with pytest.raises(InputError, match="Choose a cine"):
        startCinePipeline(None, {})
    with pytest.raises(InputError, match="Choose a cine"):
        startCinePipeline("  ", {})
    with pytest.raises(InputError, match="not found"):
        startCinePipeline(tmp_path / "missing.mp4", {})


def test_the_pipeline_runs_in_a_worker_thread_on_the_cine_with_the_options(monkeypatch):
    from AssistCoreLib import pipelines
    from AssistCoreLib.breastUs import startCinePipeline

    calls = []

    def fakeRun(cine, options, progress=None, cancel_token=None):
        calls.append((cine, options, cancel_token is not None))
        return types.SimpleNamespace(cine=cine, threshold=options["threshold"])

    monkeypatch.setattr(pipelines, "findPipeline", lambda name: fakeRun if name == "breast_us" else None)
    cine = types.SimpleNamespace(frames=_frames())
    handle = startCinePipeline(cine, {"threshold": 0.6, "iou_fuse": 0.3})
    assert handle.wait(30)
    assert handle.result().threshold == 0.6
    assert calls == [(cine, {"threshold": 0.6, "iou_fuse": 0.3}, True)]


def test_the_found_nodes_are_the_ones_added(nodes):
    from AssistCoreLib.breastUs import breastUsNodes

    again = breastUsNodes(nodes["table"])
    assert again.keys() == nodes.keys()
    for key in ("sequence", "browser", "volume", "table", "descriptorsTable"):
        assert again[key] is nodes[key], key
    assert {i: node.GetID() for i, node in again["rois"].items()} == {i: n.GetID() for i, n in nodes["rois"].items()}
    with pytest.raises(InputError):
        breastUsNodes(nodes["descriptorsTable"])


def test_without_a_sequences_logic_a_proxy_still_shows_the_first_frame():
    pytest.importorskip("slicer", reason="slicer-core wheel not installed")
    from AssistCoreLib.breastUs import addBreastUsResultToScene
    from AssistCoreLib.headless import createHeadlessScene

    scene, _logics = createHeadlessScene()
    nodes = addBreastUsResultToScene(scene, _frames(), _document(), "case3")
    np.testing.assert_array_equal(_pixels(nodes["volume"]), _frames()[0][np.newaxis])
    np.testing.assert_allclose(_ijkToRAS(nodes["volume"]), np.diag([-COLUMN_MM, -ROW_MM, COLUMN_MM, 1.0]))
    assert nodes["browser"].GetProxyNode(nodes["sequence"]) is nodes["volume"]


def test_a_real_pipeline_result_goes_into_the_scene_and_exports_its_own_document(scene, tmp_path, monkeypatch):
    """The pipeline's own document (random-weight detector on a phantom sweep), not a hand-made one."""
    pytest.importorskip("torch")
    import model_fixtures

    from assistcore.breastus.cine import Cine
    from assistcore.phantoms.breast_us import generate_breast_sweep
    from assistcore.pipelines.breast_us import run
    from AssistCoreLib.breastUs import addBreastUsResultToScene, exportDocument, framesFromBrowser, jumpToDetection

    model_fixtures.make_random_breast_us_model(tmp_path / "breastus-random")
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(tmp_path))
    sweep = generate_breast_sweep(seed=2, n_frames=4, shape_hw=(96, 128))
    spacing = (float(sweep.pixel_spacing_mm),) * 2
    cine = Cine(sweep.frames, "phantom", "frames_folder", sweep.frame_time_ms, spacing)
    result = run(cine, {"model_id": "breastus-random", "device": "cpu", "threshold": 0.5})
    document = json.loads(json.dumps(result.document()))
    nodes = addBreastUsResultToScene(scene, result.cine.frames, result.document(), "phantom", scene.sequencesLogic)
    assert exportDocument(nodes) == document
    assert sorted(nodes["rois"]) == sorted(record["detection_id"] for record in document["fused"])
    np.testing.assert_array_equal(framesFromBrowser(nodes["browser"])["frames"], sweep.frames)
    for record in document["fused"]:
        assert jumpToDetection(nodes, record["detection_id"]) == record["best_frame"]
