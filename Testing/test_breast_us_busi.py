"""BUSI still pictures: bad pairs skipped and listed, near-duplicate groups kept on one side of the split,
ultrasound augmentation, per-picture FROC with intervals, training on a split from the command line, and the
bundled real-data model on BUSI test-split pictures (never its training pictures)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistcore.breastus.busi import (
    duplicate_groups,
    scan_busi,
    score_stills,
    split_busi,
    split_samples,
    ultrasound_augment,
)
from assistcore.detectors.data import PictureSample


def _save(path, array):
    from PIL import Image as PILImage

    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)


def _speckle(seed: int, shape=(60, 80)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * 200 + 20).astype(np.uint8)


def _lesion_mask(shape=(60, 80), box=(10, 20, 30, 45)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[box[0] : box[1], box[2] : box[3]] = 255
    return mask


def _busi_folder(root, n_per_class: int = 6):
    for label in ("benign", "malignant", "normal"):
        for number in range(1, n_per_class + 1):
            seed = {"benign": 0, "malignant": 100, "normal": 200}[label] + number
            _save(root / label / f"{label} ({number}).png", _speckle(seed))
            mask = np.zeros((60, 80), np.uint8) if label == "normal" else _lesion_mask()
            _save(root / label / f"{label} ({number})_mask.png", mask)
    return root


def test_bad_pairs_are_skipped_and_listed_one_line_each(tmp_path):
    root = _busi_folder(tmp_path, 2)
    _save(root / "benign" / "benign (9).png", _speckle(9))  # no mask
    _save(root / "benign" / "benign (10).png", _speckle(10))
    _save(root / "benign" / "benign (10)_mask.png", np.zeros((30, 40), np.uint8))  # wrong size
    _save(root / "malignant" / "malignant (11).png", _speckle(11))
    _save(root / "malignant" / "malignant (11)_mask.png", np.zeros((60, 80), np.uint8))  # empty, lesion class
    pictures, skipped = scan_busi(root)
    assert len(pictures) == 6
    assert len(skipped) == 3
    text = "\n".join(skipped)
    assert "benign (9).png: no mask file" in text
    assert "benign (10)_mask.png is 40 x 30 but its picture is 80 x 60" in text
    assert "malignant (11).png: empty mask for a malignant picture" in text
    normal = [p for p in pictures if p.label == "normal"]
    assert normal and all(p.boxes_xy.shape == (0, 4) for p in normal)
    assert next(p.boxes_xy.tolist() for p in pictures if p.label == "benign") == [[30, 10, 45, 20]]


def test_near_duplicates_share_a_group_and_never_straddle_the_split(tmp_path):
    root = _busi_folder(tmp_path, 8)
    original = _speckle(3).astype(float)
    copy = np.clip(original * 1.05 + np.random.default_rng(7).normal(0, 4, original.shape), 0, 255)
    _save(root / "benign" / "benign (30).png", copy.astype(np.uint8))  # a re-export of benign (3)
    _save(root / "benign" / "benign (30)_mask.png", _lesion_mask())
    pictures, _ = scan_busi(root)
    groups = duplicate_groups([p.path for p in pictures])
    by_name = dict(zip([p.relative for p in pictures], groups))
    assert by_name["benign/benign (3).png"] == by_name["benign/benign (30).png"]
    assert len(set(groups)) == len(pictures) - 1  # independent speckle pictures are not duplicates
    for seed in (0, 1, 2):
        split = split_busi(pictures, seed)
        parts = {f: name for name, files in split["files"].items() for f in files}
        assert parts["benign/benign (3).png"] == parts["benign/benign (30).png"]
        assert sorted(parts) == sorted(p.relative for p in pictures)
        assert all(split["sizes_by_class"][part]["normal"] >= 1 for part in ("train", "validation", "test"))
        assert split["sizes"]["train"] > split["sizes"]["test"]
    assert split_busi(pictures, 5)["files"] == split_busi(pictures, 5)["files"]
    assert split_busi(pictures, 5)["sha256"] != split_busi(pictures, 6)["sha256"]
    train = split_samples(pictures, split, "train")
    assert len(train) == split["sizes"]["train"] and 0.0 <= train[0].picture.min() <= train[0].picture.max() <= 1.0


def test_ultrasound_augmentation_keeps_the_crop_size_and_boxes_inside():
    rng = np.random.default_rng(0)
    picture = np.random.default_rng(1).random((128, 128)).astype(np.float32)
    boxes = np.array([[40, 30, 90, 80]], np.float32)
    for _ in range(30):
        out, out_boxes = ultrasound_augment(picture, boxes, rng)
        assert out.shape == (128, 128) and out.dtype == np.float32 and 0.0 <= out.min() <= out.max() <= 1.0
        assert out_boxes.shape[1] == 4 and len(out_boxes) <= 1
        assert (out_boxes >= 0).all() and (out_boxes <= 128).all()
    assert "speckle" in ultrasound_augment.description


def test_still_scoring_counts_per_picture_false_positives_with_wilson_intervals():
    samples = [
        PictureSample(np.zeros((50, 50), np.float32), np.array([[10, 10, 30, 30]], np.float32)),
        PictureSample(np.zeros((50, 50), np.float32), np.array([[5, 5, 20, 20]], np.float32)),
        PictureSample(np.zeros((50, 50), np.float32), np.zeros((0, 4), np.float32)),
    ]
    detections = [
        (np.array([[10, 10, 30, 30]], float), np.array([0.9])),
        (np.array([[30, 30, 45, 45]], float), np.array([0.8])),  # a false positive; the lesion is missed
        (np.array([[0, 0, 10, 10]], float), np.array([0.4])),  # a false positive on a normal picture
    ]
    metrics = score_stills(detections, samples)
    rows = {(r["iou"], r["fp_per_picture"]): r for r in metrics["rows"]}
    assert rows[(0.2, 0.1)]["sensitivity"] == 0.5 and rows[(0.2, 0.1)]["false_positives"] == 0
    assert rows[(0.2, 0.5)]["found"] == 1 and rows[(0.2, 0.5)]["false_positives"] == 1
    low, high = rows[(0.2, 0.5)]["ci95"]
    assert 0.0 < low < 0.5 < high < 1.0
    assert metrics["n_pictures"] == 3 and metrics["n_lesions"] == 2


@pytest.mark.models
@pytest.mark.slow  # about 20 s: training steps, ONNX export, evaluation
def test_train_on_a_busi_split_writes_the_split_test_numbers_and_citation(tmp_path, capsys):
    from assistcore.models.card import load_model_card
    from radassist.cli.main import main

    root = _busi_folder(tmp_path / "busi", 7)
    _save(root / "benign" / "orphan.png", _speckle(99))
    out = tmp_path / "model"
    assert (
        main(
            [
                "breast-us",
                "train",
                "--busi",
                str(root),
                "--split-seed",
                "4",
                "--out",
                str(out),
                "--steps",
                "2",
                "--crop-size",
                "64",
                "--shorter-side",
                "64",
                "--model-id",
                "breastus-toy",
                "--init-from",
                "breastus-demo",
                "--json",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "skipped: benign/orphan.png: no mask file" in captured.err
    card = load_model_card(out / "model_card.json")
    assert not card.is_synthetic_demo
    assert card.data["training"]["data_split"]["seed"] == 4
    assert card.data["training"]["initial_weights"].startswith("fine-tuned from breastus-demo")
    split = json.loads((out / "split.json").read_text())
    assert sum(split["sizes"].values()) == 21 and split["sha256"] == card.data["training"]["data_split"]["sha256"]
    metrics = {(entry["dataset"].split(" part")[0], entry["metric"]) for entry in card.data["validation"]}
    assert ("BUSI test", "sensitivity_at_0.2fp_per_picture_iou0.2") in metrics
    assert ("BUSI validation", "sensitivity_at_0.5fp_per_picture_iou0.5") in metrics
    assert "Data in Brief" in card.data["references"][0]
    assert "validation part" in card.data["operating_threshold_note"]
    assert (out / "froc.png").stat().st_size > 0


@pytest.mark.models
@pytest.mark.slow  # about 20 s with the ONNX export on a busy machine
def test_detector_training_ends_at_its_time_budget(tmp_path):
    from assistcore.detectors.training import train_detector

    rng = np.random.default_rng(0)
    samples = [PictureSample(rng.random((64, 64)).astype(np.float32), np.array([[10, 10, 40, 40]], np.float32))]
    result = train_detector(tmp_path, samples, steps=10000, crop_size=64, image_size=64, time_budget_s=2.0)
    assert 1 <= result.steps < 10000
    assert result.recipe["steps_planned"] == 10000 and result.recipe["time_budget_s"] == 2.0
    assert (tmp_path / "model.pt").stat().st_size > 0


def test_pseudo_cine_sweeps_from_stills_move_the_lesion_through_the_field():
    from assistcore.breastus.busi import sweep_from_still

    picture = np.random.default_rng(0).random((120, 200)).astype(np.float32) * 0.6 + 0.2
    lesion_map = np.zeros((120, 200), np.int32)
    lesion_map[40:70, 10:40] = 1  # at the left edge: visible only while the probe is on the left
    picture[lesion_map > 0] = 0.05
    sample = PictureSample(picture, np.zeros((0, 4), np.float32), "benign/benign (1).png")
    case = sweep_from_still(sample, lesion_map, seed=3, n_frames=12)
    assert case.frames.shape == (12, 120, 140) and case.frames.dtype == np.float32
    assert case.frames.min() >= 0.0 and case.frames.max() <= 1.0
    visible = [len(boxes) for boxes in case.truth_boxes]
    assert 0 < sum(visible) < 12, "the lesion enters or leaves the field"
    assert all(set(ids.tolist()) <= {1} for ids in case.truth_lesion_ids)
    assert not np.allclose(case.frames[0], case.frames[1]), "speckle is re-noised per frame"
    assert case.case_id == "benign_1-sweep"


@pytest.mark.models
def test_evaluate_on_busi_sweeps_writes_the_single_against_fused_table(tmp_path, capsys):
    from radassist.cli.main import main

    root = _busi_folder(tmp_path / "busi", 7)
    out = tmp_path / "eval"
    assert (
        main(
            [
                "breast-us",
                "evaluate",
                "--model",
                "breastus-demo",
                "--busi-sweeps",
                str(root),
                "--sweeps",
                "2",
                "--frames",
                "3",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_sequences"] == 2 and "BUSI test" in metrics["sweeps"]
    assert {row["method"] for row in metrics["rows"]} == {"single_frame", "multi_frame"}
    assert (out / "chi_square.csv").stat().st_size > 0


def test_malignancy_score_ranks_shadowing_tall_lesions_above_wide_bright_ones(tmp_path):
    from assistcore.breastus.malignancy import FEATURES, box_features, fit_malignancy, malignancy_score

    rng = np.random.default_rng(0)

    def lesion(malignant: bool) -> tuple[np.ndarray, list[float]]:
        picture = (rng.random((100, 120)) * 0.3 + 0.4).astype(np.float32)
        height, width = (30, 20) if malignant else (16, 40)
        y0, x0 = 30 + int(rng.integers(-5, 5)), 40 + int(rng.integers(-5, 5))
        picture[y0 : y0 + height, x0 : x0 + width] *= 0.3
        if malignant:
            picture[y0 + height :, x0 : x0 + width] *= 0.5  # posterior shadowing
        return picture, [x0, y0, x0 + width, y0 + height]

    cases = [lesion(bool(i % 2)) for i in range(40)]
    features = np.array([box_features(p, b) for p, b in cases])
    assert features.shape == (40, len(FEATURES)) and np.isfinite(features).all()
    labels = np.arange(40) % 2
    model = fit_malignancy(features, labels)
    scores = malignancy_score(model, features)
    assert scores[labels == 1].min() > scores[labels == 0].max()
    assert "not a diagnosis" in model["note"]
    json.dumps(model)  # JSON-ready, no pickles


@pytest.mark.models
def test_the_pipeline_adds_a_malignancy_score_when_the_model_folder_has_one(tmp_path, monkeypatch):
    import shutil

    from assistcore.breastus.cine import Cine
    from assistcore.breastus.malignancy import FEATURES
    from assistcore.models.registry import ModelRegistry
    from assistcore.pipelines.breast_us import run

    folder = tmp_path / "models" / "breastus-demo"
    shutil.copytree(ModelRegistry().get("breastus-demo").folder, folder)
    card = json.loads((folder / "model_card.json").read_text())
    card["id"] = "breastus-with-malignancy"
    (folder / "model_card.json").write_text(json.dumps(card))
    model = {
        "features": list(FEATURES),
        "mean": [0.0] * 10,
        "std": [1.0] * 10,
        "coefficients": [0.0] * 10,
        "intercept": 0.0,
        "note": "test",
    }
    (folder / "malignancy.json").write_text(json.dumps(model))
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(tmp_path / "models"))
    frames = np.random.default_rng(0).random((2, 128, 128)).astype(np.float32)
    frames[:, 40:80, 40:80] *= 0.1
    result = run(
        Cine(frames, "test", "image"), {"model_id": "breastus-with-malignancy", "device": "cpu", "threshold": 0.0}
    )
    assert result.fused, "the demo model reports something at threshold 0 on a dark square"
    item = result.fused[0].to_dict(None, 0.0)
    assert item["malignancy_score"] == 0.5 and "not a diagnosis" in item["malignancy_note"]
