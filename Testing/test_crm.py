"""CRMAssist: box linking across slices, screen/voxel box mapping, VOC/COCO data, the pipeline on the real
oblique ProstateX series (geometry of every box), the command line, and the MRML scene (ROIs, threshold,
reviews, export) on the slicer-core wheel."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistcore.crm import data as crm_data
from assistcore.crm import detector as crm_detector
from assistcore.detection import FrameBoxes, link_boxes
from assistcore.image import Image
from assistcore.pictures import slice_display


# ----- linking --------------------------------------------------------------------------------------------
def test_boxes_overlapping_on_adjacent_slices_form_one_region_with_its_extent_and_peak():
    frames = [
        FrameBoxes(3, np.array([[10, 10, 30, 30]]), np.array([0.6])),
        FrameBoxes(4, np.array([[12, 11, 31, 29], [100, 100, 120, 120]]), np.array([0.9, 0.4])),
        FrameBoxes(5, np.array([[14, 12, 33, 30]]), np.array([0.7])),
        FrameBoxes(7, np.array([[14, 12, 33, 30]]), np.array([0.8])),  # a gap of one slice: separate
    ]
    regions = link_boxes(frames, iou_threshold=0.3, max_gap=1)
    assert [r.peak_score for r in regions] == [0.9, 0.8, 0.4]
    main = regions[0]
    assert (main.first_index, main.last_index, main.peak_index, main.n_frames) == (3, 5, 4, 3)
    assert main.members == [(3, 0), (4, 0), (5, 0)]
    assert main.union_box == (10.0, 10.0, 33.0, 30.0)
    assert [r.region_id for r in regions] == [1, 2, 3]


def test_fusion_without_a_gap_limit_groups_a_lesion_seen_on_distant_frames():
    frames = [FrameBoxes(f, np.array([[10, 10, 30, 30]]), np.array([0.5])) for f in (0, 10, 20)]
    assert len(link_boxes(frames, 0.3, max_gap=None)) == 1
    assert len(link_boxes(frames, 0.3, max_gap=1)) == 3
    assert link_boxes(frames, 0.3, min_score=0.6) == []


# ----- screen <-> voxel boxes -------------------------------------------------------------------------------
@pytest.mark.parametrize("degrees", [0.0, 20.0, 90.0, 180.0])
def test_boxes_map_from_voxels_to_the_screen_and_back_for_any_slice_orientation(an_oblique_image, degrees):
    angle = np.deg2rad(degrees)
    turn = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    image = Image(an_oblique_image.array_kji, (0.7, 0.8, 3.0), (0, 0, 0), turn @ np.diag([-1.0, 1.0, 1.0]))
    display = slice_display(image)
    boxes = np.array([[1.0, 2.0, 4.0, 7.0], [0.0, 0.0, 10.0, 12.0]])
    screen = crm_detector.voxel_boxes_to_screen(boxes, display, image.shape_kji[1:])
    assert np.allclose(crm_detector.screen_boxes_to_voxel(screen, display, image.shape_kji[1:]), boxes)
    # the full slice maps onto the full picture
    picture = crm_detector.display_slice(image, 0, display, 0.0, 1.0)
    assert np.allclose(screen[1], [0, 0, picture.shape[1], picture.shape[0]])


def test_a_bright_spot_on_the_stored_slice_is_inside_its_box_on_the_displayed_picture(an_oblique_image):
    image = an_oblique_image.with_array(np.zeros_like(an_oblique_image.array_kji))
    image.array_kji[2, 3, 6] = 1000.0  # voxel (i=6, j=3) of slice 2
    display = slice_display(image)
    picture = crm_detector.display_slice(image, 2, display, 0.0, 1000.0)
    y, x = np.unravel_index(np.argmax(picture), picture.shape)
    [[x0, y0, x1, y1]] = crm_detector.voxel_boxes_to_screen(np.array([[6, 3, 7, 4]]), display, image.shape_kji[1:])
    assert x0 <= x < x1 and y0 <= y < y1


# ----- training data ----------------------------------------------------------------------------------------
def test_voc_pictures_and_boxes_round_trip_and_unannotated_pictures_are_negatives(tmp_path):
    rng = np.random.default_rng(0)
    samples = [
        crm_data.SliceSample(rng.random((40, 50)).astype(np.float32), np.array([[5.0, 6.0, 20.0, 30.0]]), case_id="p1"),
        crm_data.SliceSample(rng.random((40, 50)).astype(np.float32), np.zeros((0, 4)), case_id="p1"),
    ]
    crm_data.export_voc(samples, tmp_path)
    (tmp_path / "extra.png").write_bytes((tmp_path / "p1_0001.png").read_bytes())
    read = crm_data.read_voc_folder(tmp_path)
    assert len(read) == 3
    boxes = sorted((tuple(s.boxes_xy.ravel()) for s in read), key=len)
    assert boxes[-1] == (5.0, 6.0, 20.0, 30.0) and boxes[0] == () and boxes[1] == ()
    assert np.abs(read[0].picture - samples[0].picture).max() <= 1 / 255 + 1e-6  # 8-bit pictures


def test_coco_boxes_are_read_as_corner_coordinates(tmp_path):
    from PIL import Image as PILImage

    PILImage.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "a.png")
    document = {
        "images": [{"id": 7, "file_name": "a.png", "width": 30, "height": 20}],
        "annotations": [{"id": 1, "image_id": 7, "bbox": [3, 4, 10, 5], "category_id": 1}],
        "categories": [{"id": 1, "name": "CRM+"}],
    }
    (tmp_path / "coco.json").write_text(json.dumps(document))
    [sample] = crm_data.read_coco(tmp_path / "coco.json")
    assert sample.boxes_xy.tolist() == [[3, 4, 13, 9]] and sample.picture.shape == (20, 30)


def test_a_voc_file_naming_a_missing_picture_is_refused_with_its_name(tmp_path):
    from assistcore.errors import InputError

    crm_data.write_voc(tmp_path / "x.xml", "missing.png", (10, 10), np.array([[1, 1, 5, 5]]))
    with pytest.raises(InputError, match="missing.png"):
        crm_data.read_voc_folder(tmp_path)


def test_each_connected_region_of_a_label_map_becomes_one_box_on_its_slice():
    labels = np.zeros((3, 20, 20), np.uint8)
    labels[1, 2:5, 3:9] = 1
    labels[1, 10:12, 10:11] = 1
    labels[2, 0:1, 0:1] = 2  # another label: ignored
    boxes = crm_data.boxes_from_label_map(labels)
    assert list(boxes) == [1]
    assert sorted(boxes[1].tolist()) == [[3, 2, 9, 5], [10, 10, 11, 12]]


# ----- the pipeline on the real oblique series ---------------------------------------------------------------
@pytest.fixture(scope="module")
def random_crm_model(tmp_path_factory):
    from model_fixtures import make_random_crm_model

    root = tmp_path_factory.mktemp("crm-models")
    make_random_crm_model(root / "crm-random")
    return root


@pytest.fixture
def crm_models(random_crm_model, monkeypatch):
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(random_crm_model))
    return random_crm_model


@pytest.fixture(scope="module")
def prostatex_image(prostatex_t2_dir):
    from assistcore.image_io import read_image

    return read_image(prostatex_t2_dir)


@pytest.mark.models
@pytest.mark.realdata
def test_every_box_on_the_oblique_series_lies_in_its_slice_plane_inside_the_image(crm_models, prostatex_image):
    from assistcore.pipelines.crm import run

    result = run({"t2": prostatex_image}, {"model_id": "crm-random", "device": "cpu", "threshold": 0.0})
    assert result.boxes, "random weights still propose boxes at threshold 0"
    for box in result.boxes:
        corners_ijk = prostatex_image.lps_to_index(np.array(box.corners_lps))
        assert np.allclose(corners_ijk[:, 2], box.slice_index, atol=1e-3)  # on the slice's mid-plane
        i0, j0, i1, j1 = box.box_ij
        assert np.allclose(corners_ijk[[0, 2], 0], [i0 - 0.5, i1 - 0.5], atol=1e-2)
        assert np.allclose(corners_ijk[[0, 2], 1], [j0 - 0.5, j1 - 0.5], atol=1e-2)
        assert -0.5 <= i0 <= i1 <= prostatex_image.size_ijk[0] + 0.5
        assert -0.5 <= j0 <= j1 <= prostatex_image.size_ijk[1] + 0.5
    verdict = result.verdict(0.0)
    assert verdict["crm_positive_risk"] and verdict["slices_involved"]
    assert not result.verdict(1.01)["crm_positive_risk"]
    rows = result.slice_rows(0.0)
    assert len(rows) == prostatex_image.shape_kji[0]
    assert {row["slice_index"] for row in rows if row["positive"]} == set(verdict["slices_involved"])


def test_a_sagittal_series_or_a_single_slice_is_refused_as_not_axial(an_oblique_image):
    from assistcore.errors import InputError
    from assistcore.pipelines.crm import check_axial_series

    sagittal = Image(np.zeros((5, 6, 7)), (1, 1, 3), (0, 0, 0), np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]]))
    with pytest.raises(InputError, match="not an axial series"):
        check_axial_series(sagittal)
    single = Image(np.zeros((1, 6, 7)), (1, 1, 3), (0, 0, 0), np.eye(3))
    with pytest.raises(InputError, match="single slice"):
        check_axial_series(single)


@pytest.mark.cli
@pytest.mark.models
@pytest.mark.realdata
def test_the_crm_command_writes_every_output_and_refuses_a_sagittal_series(
    crm_models, prostatex_t2_dir, cervical_t2_psr_path, tmp_path, capsys
):
    from radassist.cli.main import main

    out = tmp_path / "crm"
    code = main(
        [
            "crm",
            "--t2",
            str(prostatex_t2_dir),
            "--out",
            str(out),
            "--threshold",
            "0.2",
            "--model",
            "crm-random",
            "--device",
            "cpu",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"]["threshold"] == 0.2
    assert report["model"]["synthetic_demo_model"] is True
    for name in report["files"]:
        assert (out / name).is_file(), name
    assert {"boxes.json", "slices.csv", "report.json", "scene.mrb"} <= set(report["files"])
    boxes = json.loads((out / "boxes.json").read_text())["boxes"]
    assert all({"slice_index", "box_voxel", "corners_lps_mm", "score", "region_id"} <= set(b) for b in boxes)
    assert (out / "slices.csv").read_text().count("\n") == 19 + 1
    capsys.readouterr()
    assert (
        main(["crm", "--t2", str(cervical_t2_psr_path), "--out", str(tmp_path / "bad"), "--model", "crm-random"]) == 1
    )
    assert "not an axial series" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


# ----- evaluation arithmetic ------------------------------------------------------------------------------
class _FixedDetector:
    """Returns preset (boxes, scores) per picture, in call order: the evaluation's arithmetic under test."""

    def __init__(self, outputs):
        import types

        self.outputs = list(outputs)
        self.transform = types.SimpleNamespace(min_size=(0,), max_size=0)

    def __call__(self, tensors):
        import torch

        found = [self.outputs.pop(0) for _ in tensors]
        return [
            {
                "boxes": torch.tensor(b, dtype=torch.float32).reshape(-1, 4),
                "scores": torch.tensor(s, dtype=torch.float32),
            }
            for b, s in found
        ]


def test_evaluation_counts_images_and_patients_at_the_threshold():
    from assistcore.crm.training import EvaluationCase, evaluate_detector

    picture = np.zeros((16, 16), np.float32)
    truth_box = np.array([[2.0, 2.0, 8.0, 8.0]])
    none = np.zeros((0, 4))
    cases = [
        EvaluationCase("p1", [picture] * 2, [truth_box, none]),  # positive patient
        EvaluationCase("p2", [picture] * 2, [none, none]),  # negative patient
    ]
    outputs = [
        ([[2, 2, 8, 8]], [0.9]),  # p1 slice 0: true positive, box hit
        ([[0, 0, 4, 4]], [0.3]),  # p1 slice 1: true negative (below threshold)
        ([[0, 0, 4, 4]], [0.8]),  # p2 slice 0: false positive
        ([], []),  # p2 slice 1: true negative
    ]
    metrics = evaluate_detector(_FixedDetector(outputs), cases, threshold=0.7)
    image, patient = metrics["per_image"], metrics["per_patient"]
    assert (image["tp"], image["fp"], image["tn"], image["fn"]) == (1, 1, 2, 0)
    assert (patient["tp"], patient["fp"], patient["tn"], patient["fn"]) == (1, 1, 0, 0)
    assert metrics["box_sensitivity"] == 1.0
    assert image["auc"] == pytest.approx(1.0)  # the positive (0.9) outscores every negative (0.8, 0.3, 0)
    assert patient["auc"] == pytest.approx(1.0) and metrics["images"] == 4 and metrics["patients"] == 2


# ----- MRML ------------------------------------------------------------------------------------------------
@pytest.mark.mrml
@pytest.mark.models
@pytest.mark.realdata
def test_rois_follow_the_threshold_reviews_are_kept_in_the_scene_and_exported(crm_models, prostatex_image, tmp_path):
    pytest.importorskip("slicer")
    from assistcore.pipelines.crm import run
    from AssistCoreLib.crm import addCrmResultToScene, exportReview, reviewsFromTable, setReview, setThreshold
    from AssistCoreLib.headless import createHeadlessScene
    from AssistCoreLib.markups import roiNodeToBox
    from AssistCoreLib.scenes import loadSceneBundle, saveSceneBundle
    from AssistCoreLib.tables import tableNodeToRecords

    result = run({"t2": prostatex_image}, {"model_id": "crm-random", "device": "cpu", "threshold": 0.0})
    scene, _logics = createHeadlessScene()
    nodes = addCrmResultToScene(scene, result, "PX0")
    assert len(nodes["rois"]) == len(result.boxes)
    box = roiNodeToBox(nodes["rois"][0])
    assert box.size_mm[2] == pytest.approx(prostatex_image.spacing_mm[2])  # one slice thick
    assert np.allclose(box.axes_lps, prostatex_image.direction_lps, atol=1e-6)  # oriented with the volume
    top = max(b.score for b in result.boxes)
    hidden = setThreshold(nodes["rois"], nodes["table"], top + 1e-3)
    assert not any(n.GetDisplayNode().GetVisibility() for n in nodes["rois"])
    assert not hidden["crm_positive_risk"] and not any(r["positive"] for r in tableNodeToRecords(nodes["table"]))
    cut = 0.0
    verdict = setThreshold(nodes["rois"], nodes["table"], cut)
    assert all(n.GetDisplayNode().GetVisibility() for n in nodes["rois"]) and verdict["crm_positive_risk"]
    slice_index = verdict["slices_involved"][0]
    setReview(nodes["table"], slice_index, "reject")
    saveSceneBundle(scene, tmp_path / "crm.mrb")
    loaded, _loadedLogics = loadSceneBundle(tmp_path / "crm.mrb")
    table = next(n for n in loaded.GetNodesByClass("vtkMRMLTableNode") if n.GetName() == nodes["table"].GetName())
    assert reviewsFromTable(table) == {slice_index: "reject"}
    assert json.loads(table.GetAttribute("RadAssist.Verdict"))["threshold"] == cut
    files = exportReview(nodes["rois"], nodes["table"], tmp_path / "export")
    document = json.loads(files["boxes"].read_text())
    assert document["reviews"] == {str(slice_index): "reject"}
    assert [row["review"] for row in tableNodeToRecords(nodes["table"]) if row["slice_index"] == slice_index] == [
        "reject"
    ]


@pytest.mark.cli
@pytest.mark.models
def test_export_training_then_evaluate_gives_the_study_table_from_a_labelled_volume(crm_models, tmp_path, capsys):
    from assistcore.image_io import write_image
    from assistcore.phantoms.rectum import TUMOUR, generate_rectal_phantom
    from radassist.cli.main import main

    phantom = generate_rectal_phantom(2, crm_positive=True, matrix=192, n_slices=14)
    t2 = write_image(phantom.t2, tmp_path / "R1_t2.nii.gz")
    tumour = phantom.labels.with_array((phantom.labels.array_kji == TUMOUR).astype(np.uint8))
    labels = write_image(tumour, tmp_path / "R1_tumour.nii.gz")
    voc = tmp_path / "voc"
    assert (
        main(["crm", "export-training", "--t2", str(t2), "--labels", str(labels), "--case-id", "R1", "--out", str(voc)])
        == 0
    )
    assert len(list(voc.glob("R1_*.png"))) == 14 == len(list(voc.glob("R1_*.xml")))
    tumour_slices = int((phantom.labels.array_kji == TUMOUR).any(axis=(1, 2)).sum())
    assert 0 < tumour_slices < 14  # both classes, so the AUC and its ROC curve exist
    assert sum("<object>" in path.read_text() for path in voc.glob("*.xml")) == tumour_slices
    capsys.readouterr()
    out = tmp_path / "evaluation"
    assert (
        main(
            [
                "crm",
                "evaluate",
                "--voc",
                str(voc),
                "--model",
                "crm-random",
                "--device",
                "cpu",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 14 and metrics["patients"] == 1
    assert metrics["per_image"]["tp"] + metrics["per_image"]["fn"] == tumour_slices
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("level,n,accuracy,sensitivity")
    assert metrics["per_image"]["auc"] is not None and (out / "roc.png").stat().st_size > 1000


@pytest.mark.models
@pytest.mark.realdata
def test_the_onnx_detector_gives_the_same_boxes_and_runs_without_importing_torch(
    random_crm_model, prostatex_t2_dir, prostatex_image, tmp_path, monkeypatch
):
    import shutil
    import subprocess
    import sys

    from assistcore.models.card import load_model_card
    from assistcore.models.exporting import add_exported_program
    from assistcore.models.loader import load_network, network_from_weights

    folder = shutil.copytree(random_crm_model / "crm-random", tmp_path / "models" / "crm-random")
    entry = add_exported_program(load_model_card(folder / "model_card.json"))
    assert entry["format"] == "onnx" and (folder / entry["file"]).is_file() and entry["shorter_side"] is None
    card = load_model_card(folder / "model_card.json")
    scripted = load_network(card, "cpu", cache=False)
    eager = network_from_weights(card, "cpu")
    assert type(scripted).__name__ == "OnnxNetwork"
    slices = [0, 9]
    from_script = crm_detector.detect_slices(scripted, prostatex_image, slices)
    from_weights = crm_detector.detect_slices(eager, prostatex_image, slices)
    for a, b in zip(from_script, from_weights):
        assert a.boxes_ij.shape == b.boxes_ij.shape and len(a.scores) > 0
        assert np.allclose(a.boxes_ij, b.boxes_ij, atol=1e-2) and np.allclose(a.scores, b.scores, atol=1e-4)

    # a fresh process running the pipeline on the ONNX export never imports torch (triton, seconds, 0.7 GB)
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(tmp_path / "models"))
    code = (
        "import sys; from assistcore.image_io import read_image; from assistcore.pipelines.crm import run; "
        f"r = run({{'t2': read_image({str(prostatex_t2_dir)!r})}}, {{'model_id': 'crm-random', 'device': 'cpu', "
        "'threshold': 0.0}); print(len(r.boxes), 'torch' in sys.modules)"
    )
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(printed[0]) > 0 and printed[1] == "False"
