"""`radassist breast-us` end to end: the real cine, bad inputs, evaluate and train commands, and the bundled
demo model on a phantom sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def random_breast_us_model(tmp_path_factory):
    from model_fixtures import make_random_breast_us_model

    root = tmp_path_factory.mktemp("breast-us-models")
    make_random_breast_us_model(root / "breastus-random")
    return root


@pytest.fixture
def breast_us_models(random_breast_us_model, monkeypatch):
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(random_breast_us_model))
    return random_breast_us_model


@pytest.fixture(scope="module")
def us_dir(real_data_dir):
    return real_data_dir / "us_cine_dicom"


@pytest.mark.realdata
def test_the_command_writes_detections_report_overlays_and_scene_for_the_real_cine(
    breast_us_models, us_dir, tmp_path, capsys
):
    from radassist.cli.main import main

    out = tmp_path / "us"
    cine = str(us_dir / "examples_ybr_color.dcm")
    code = main(
        [
            "breast-us",
            "--cine",
            cine,
            "--out",
            str(out),
            "--model",
            "breastus-random",
            "--threshold",
            "0.05",
            "--iou-fuse",
            "0.4",
            "--device",
            "cpu",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    for name in report["files"]:
        assert (out / name).is_file(), name
    assert {"detections.json", "report.json", "scene.mrb"} <= set(report["files"])
    document = json.loads((out / "detections.json").read_text())
    assert document["cine"]["n_frames"] == 30 and document["cine"]["shape_hw"] == [240, 320]
    assert document["cine"]["frame_time_ms"] == pytest.approx(33.333, abs=1e-3)
    assert document["iou_fuse"] == 0.4 and document["threshold"] == 0.05
    assert len(document["frames"]) == 30
    ids = {item["detection_id"] for item in document["fused"]}
    for frame in document["frames"]:
        for box in frame["boxes"]:
            x0, y0, x1, y1 = box["box_xy"]
            assert 0 <= x0 <= x1 <= 320 and 0 <= y0 <= y1 <= 240
            assert box["detection_id"] in ids  # every reported box belongs to a fused detection
    assert report["warnings"], "the sample's ultrasound region lies outside its frames: a warning is expected"
    area = document["cine"]["imaging_area"]
    assert area["used"] and 0.15 < area["fraction_of_frame"] < 0.4  # the echo sector, not its black background
    assert report["model"]["synthetic_demo_model"] is True
    assert set(report["seconds_per_stage"]) >= {"read", "load_model", "detect", "fuse", "write", "total"}
    # the seeded random detector finds boxes; at threshold 0.05 every lesion gets its best-frame picture
    overlays = [name for name in report["files"] if name.startswith("overlays/")]
    assert document["fused"] and len(overlays) == len(document["fused"])
    from assistcore.breastus.cine import read_cine
    from assistcore.breastus.imaging_area import MIN_INSIDE_FRACTION, imaging_area_mask, inside_fractions

    mask = imaging_area_mask(read_cine(cine).frames)
    boxes = np.array([box["box_xy"] for frame in document["frames"] for box in frame["boxes"]]).reshape(-1, 4)
    assert len(boxes) and (inside_fractions(boxes, mask) >= MIN_INSIDE_FRACTION).all()  # none on the background


@pytest.mark.realdata
def test_a_colour_doppler_frame_and_a_single_frame_given_as_cine_are_refused_without_output(
    breast_us_models, us_dir, tmp_path, capsys
):
    from radassist.cli.main import main

    assert (
        main(
            [
                "breast-us",
                "--cine",
                str(us_dir / "examples_rgb_color.dcm"),
                "--out",
                str(tmp_path / "a"),
                "--model",
                "breastus-random",
            ]
        )
        == 1
    )
    error = capsys.readouterr().err
    assert "examples_rgb_color.dcm" in error and "Doppler" in error and "Traceback" not in error
    assert (
        main(
            [
                "breast-us",
                "--cine",
                str(us_dir / "examples_palette.dcm"),
                "--out",
                str(tmp_path / "b"),
                "--model",
                "breastus-random",
                "--require-cine",
            ]
        )
        == 1
    )
    assert "single frame" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_evaluate_writes_the_studys_table_chi_square_and_froc_plot(breast_us_models, tmp_path, capsys):
    from radassist.cli.main import main

    out = tmp_path / "eval"
    assert (
        main(
            [
                "breast-us",
                "evaluate",
                "--model",
                "breastus-random",
                "--sweeps",
                "2",
                "--out",
                str(out),
                "--device",
                "cpu",
                "--json",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert {(row["iou"], row["method"]) for row in metrics["rows"]} == {
        (0.2, "single_frame"),
        (0.2, "multi_frame"),
        (0.5, "single_frame"),
        (0.5, "multi_frame"),
    }
    assert {"sensitivity_at_0.1fp", "sensitivity_at_0.2fp", "sensitivity_at_0.5fp"} <= set(metrics["rows"][0])
    assert len(metrics["chi_square"]) == 6
    assert metrics["seconds_per_frame"] > 0 and metrics["n_sequences"] == 2
    assert metrics["iou_fuse"] == 0.45  # the model card's fusion IoU when none is given
    for name in ("froc.png", "froc.csv", "chi_square.csv", "cases.csv"):
        assert (out / name).stat().st_size > 0, name


def test_train_writes_a_valid_card_with_the_command_threshold_and_validation(tmp_path, monkeypatch, capsys):
    from assistcore.models.card import load_model_card
    from radassist.cli.main import main

    out = tmp_path / "model"
    assert (
        main(
            [
                "breast-us",
                "train",
                "--out",
                str(out),
                "--sweeps",
                "1",
                "--steps",
                "2",
                "--crop-size",
                "128",
                "--validation-sweeps",
                "1",
                "--tuning-sweeps",
                "1",
                "--seed",
                "3",
                "--json",
            ]
        )
        == 0
    )
    card = load_model_card(out / "model_card.json")
    assert card.data["assistant"] == "breast_us" and card.is_synthetic_demo
    assert card.data["training"]["command"].startswith("radassist breast-us train --out")
    assert card.data["inference"]["shorter_side"] == 256
    assert 0.0 < card.threshold("lesion") <= 1.0
    assert "tuning sweeps" in card.data["operating_threshold_note"]  # tuned, not the 0.5 fallback
    metrics = {entry["metric"] for entry in card.data["validation"]}
    assert {"multi_frame_sensitivity_at_0.2fp_iou0.2", "single_frame_sensitivity_at_0.5fp_iou0.5"} <= metrics
    assert "synthetic" in card.data["intended_use"].lower()


@pytest.mark.slow
def test_the_bundled_demo_model_finds_the_lesion_of_a_phantom_sweep_and_fusion_spans_its_frames(tmp_path):
    from assistcore.breastus.cine import read_cine
    from assistcore.metrics import box_iou
    from assistcore.phantoms.breast_us import generate_breast_sweep, write_sweep_case
    from assistcore.pipelines.breast_us import run

    sweep = generate_breast_sweep(424242, n_lesions=1, ribs=False)
    path = write_sweep_case(sweep, tmp_path, "S1")["cine"]
    result = run(read_cine(path), {"model_id": "breastus-demo", "device": "cpu"})
    lesion_frames = sweep.frames_with_lesion()
    hits = []
    for item in result.fused:
        t = item.region.peak_index
        truth = sweep.boxes_xy[t]
        if len(truth) and box_iou(np.array([item.best_box_xy]), truth).max() >= 0.2:
            hits.append(item)
    assert hits, [item.region.to_dict() for item in result.fused]
    best = max(hits, key=lambda item: item.fused_score)
    assert best.fused_score >= result.threshold
    member_frames = sorted({frame for frame, _row in best.region.members})
    assert len(set(member_frames) & set(lesion_frames)) >= 3  # fused over several frames that show the lesion


def test_train_and_evaluate_refuse_impossible_numbers_with_one_line(tmp_path, capsys):
    from radassist.cli.main import main

    assert main(["breast-us", "train", "--out", str(tmp_path / "m"), "--steps", "0"]) == 1
    assert "--steps is 0" in capsys.readouterr().err
    assert main(["breast-us", "train", "--out", str(tmp_path / "m"), "--iou-fuse", "5"]) == 1
    assert "--iou-fuse is 5" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_describe_records_descriptors_and_review_in_detections_json_and_refuses_bad_values(tmp_path, capsys):
    from radassist.cli.main import main

    path = tmp_path / "detections.json"
    path.write_text(json.dumps({"fused": [{"detection_id": 1}, {"detection_id": 2}], "descriptors": []}))
    assert (
        main(
            [
                "breast-us",
                "describe",
                str(path),
                "--lesion",
                "2",
                "--set",
                "shape=Irregular",
                "--set",
                "posterior_features=shadowing",
                "--set",
                "skin_retraction=yes",
                "--review",
                "accept",
                "--annotator",
                "dr a",
            ]
        )
        == 0
    )
    assert main(["breast-us", "describe", str(path), "--lesion", "2", "--set", "margin=spiculated"]) == 0
    document = json.loads(path.read_text())
    [record] = document["descriptors"]
    assert record["detection_id"] == 2 and record["shape"] == "irregular" and record["margin"] == "spiculated"
    assert record["skin_retraction"] is True and record["annotator"] == "dr a" and record["nipple"] is None
    assert document["reviews"] == {"2": "accept"}
    assert "irregular" in (tmp_path / "descriptors.csv").read_text()
    capsys.readouterr()
    before = path.read_text()
    assert main(["breast-us", "describe", str(path), "--lesion", "2", "--set", "margin=fuzzy"]) == 1
    assert "margin" in capsys.readouterr().err
    assert main(["breast-us", "describe", str(path), "--lesion", "7", "--set", "shape=oval"]) == 1
    assert "no lesion 7" in capsys.readouterr().err
    assert path.read_text() == before  # a refused edit leaves the file as it was
