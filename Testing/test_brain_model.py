"""The BrainTumorLabel network helpers: class-balanced patches, TTA disagreement, the tumour box on the
reference grid (same labels as resampling everything), image crops, and the exported CPU program."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from assistcore.arrays import bounding_box
from assistcore.brain import model as brain_model
from assistcore.brain import training as brain_training
from assistcore.image import Image


def _oblique_direction(degrees: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    return rotation @ np.diag([-1.0, 1.0, 1.0])  # rotated, and i running to the right (non-LPS)


def test_bounding_box_holds_every_true_voxel_with_margin_clipped_or_not():
    mask = np.zeros((10, 12, 14), bool)
    mask[2, 3:5, 0] = True
    mask[6, 4, 7] = True
    assert bounding_box(mask) == (slice(2, 7), slice(3, 5), slice(0, 8))
    assert bounding_box(mask, margin=1) == (slice(1, 8), slice(2, 6), slice(0, 9))
    assert bounding_box(mask, margin=1, clip=False)[2] == slice(-1, 9)
    assert bounding_box(np.zeros((3, 3, 3), bool)) is None


def test_image_crop_keeps_every_voxel_at_its_lps_position():
    image = Image(np.arange(6 * 7 * 8).reshape(6, 7, 8), (0.7, 0.8, 3.0), (10.0, -5.0, 2.0), _oblique_direction(25))
    box = (slice(2, 5), slice(1, 6), slice(3, 8))
    cropped = image.crop(box)
    assert cropped.shape_kji == (3, 5, 5)
    corner_ijk = np.array([[3, 1, 2], [7, 5, 4]], float)
    assert np.allclose(cropped.index_to_lps(corner_ijk - [3, 1, 2]), image.index_to_lps(corner_ijk))
    assert cropped.array_kji[0, 0, 0] == image.array_kji[2, 1, 3]
    assert np.allclose(cropped.direction_lps, image.direction_lps) and cropped.spacing_mm == image.spacing_mm


def test_random_patches_are_centred_on_each_present_class_about_equally_often():
    labels = np.zeros((40, 40, 40), np.int64)
    labels[5:35, 5:35, 5:35] = 2  # a large class
    labels[18:21, 18:21, 18:21] = 1  # a tiny one (27 voxels of 27000)
    array = np.zeros((4, *labels.shape), np.float32)
    rng = np.random.default_rng(0)
    centres_on_tiny = 0
    draws = 400
    for _ in range(draws):
        _patch, patch_labels = brain_training._random_patch(array, labels, 8, rng)
        centres_on_tiny += patch_labels[4, 4, 4] == 1
    # uniform over the 3 present classes: ~1/3 of patches are centred on the tiny class (vs 0.1 % by volume)
    assert 0.2 < centres_on_tiny / draws < 0.45


def _softmax_runs(shape, tumour_boxes):
    runs = []
    for box in tumour_boxes:
        probabilities = np.zeros((4, *shape), np.float32)
        probabilities[0] = 1.0
        probabilities[0][box], probabilities[3][box] = 0.1, 0.9
        runs.append(probabilities)
    return runs


def test_tta_disagreement_is_zero_for_identical_runs_and_grows_as_runs_diverge():
    shape = (20, 20, 20)
    same = _softmax_runs(shape, [np.s_[5:10, 5:10, 5:10]] * 4)
    assert brain_model.tta_disagreement(same) == 0.0
    shifted = _softmax_runs(shape, [np.s_[5:10, 5:10, 5:10], np.s_[5:10, 5:10, 6:11]] * 2)
    disjoint = _softmax_runs(shape, [np.s_[0:4, 0:4, 0:4], np.s_[10:14, 10:14, 10:14]])
    partial, none = brain_model.tta_disagreement(shifted), brain_model.tta_disagreement(disjoint)
    assert 0.05 < partial < 0.5
    assert none > partial
    assert brain_model.tta_disagreement(same[:1]) == 0.0  # one run: nothing to disagree with


def test_tta_disagreement_reads_sigmoid_region_outputs_by_name():
    shape = (12, 12, 12)
    first = np.zeros((3, *shape), np.float32)
    first[:, 2:6, 2:6, 2:6] = 0.9  # TC, WT, ET all present
    second = first.copy()
    second[2] = 0.0  # this run sees no enhancing tumour
    assert brain_model.tta_disagreement([first, first], "sigmoid", ["TC", "WT", "ET"]) == 0.0
    assert brain_model.tta_disagreement([first, second], "sigmoid", ["TC", "WT", "ET"]) > 0.0


def test_labels_from_the_tumour_box_equal_labels_from_resampling_the_whole_grid():
    rng = np.random.default_rng(3)
    working_shape = (24, 32, 32)
    working = Image(np.zeros(working_shape, np.uint8), (2.0, 2.0, 2.0), (-30.0, -40.0, -20.0), np.eye(3))
    logits = rng.normal(0, 1, (4, *working_shape)).astype(np.float32)
    logits[0] += 10.0  # background nearly everywhere ...
    logits[1:, 8:14, 10:18, 12:20] += rng.uniform(5, 9, (3, 6, 8, 8))  # ... except a lesion
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=0)
    prepared = brain_model.Prepared(np.zeros((4, *working_shape), np.float32), working, ("t1c", "flair"))
    direction = _oblique_direction(20)
    reference = Image(np.zeros((30, 50, 60), np.float32), (1.1, 0.9, 1.7), (30.0, -45.0, -25.0), direction)
    full = brain_model.probabilities_to_reference(probabilities, prepared, reference).argmax(axis=0)
    box = brain_model.tumour_box_on_reference(probabilities, prepared, reference)
    assert box is not None
    in_box = np.zeros(reference.shape_kji, np.int64)
    in_box[box] = brain_model.probabilities_to_reference(probabilities, prepared, reference.crop(box)).argmax(axis=0)
    assert full.any()
    assert np.array_equal(in_box, full)
    assert np.prod([s.stop - s.start for s in box]) < 0.5 * full.size  # the point: far less to resample


def test_no_tumour_box_when_no_class_reaches_the_threshold():
    working = Image(np.zeros((8, 8, 8), np.uint8), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    probabilities = np.zeros((4, 8, 8, 8), np.float32)
    probabilities[0] = 1.0
    prepared = brain_model.Prepared(np.zeros((4, 8, 8, 8), np.float32), working, ("t1c", "flair"))
    assert brain_model.tumour_box_on_reference(probabilities, prepared, working) is None


# ----- the ONNX export for the CPU ------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported_model(tmp_path_factory):
    """The random-weight brain model with a ``model.onnx`` export in its card."""
    from model_fixtures import make_random_brain_model

    from assistcore.models.card import load_model_card
    from assistcore.models.exporting import export_network_onnx
    from assistcore.models.loader import build_network, load_state_dict_file

    folder = make_random_brain_model(tmp_path_factory.mktemp("exported") / "brain-exported", "brain-exported")
    network = build_network(brain_model.NETWORK)
    network.load_state_dict(load_state_dict_file(folder / "model.pt"))
    card = json.loads((folder / "model_card.json").read_text())
    card["exported_program"] = export_network_onnx(network, 4, folder / "model.onnx", brain_model.SIZE_MULTIPLE)
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    return load_model_card(folder), network.eval()


@pytest.mark.models
@pytest.mark.slow
def test_the_onnx_export_gives_the_networks_output_on_new_sizes(exported_model):
    import torch

    from assistcore.models.loader import load_network
    from assistcore.models.onnx_runtime import OnnxNetwork

    card, network = exported_model
    program = load_network(card, "cpu", cache=False)
    assert isinstance(program, OnnxNetwork)
    sample = np.random.default_rng(3).normal(size=(1, 4, 32, 40, 24)).astype(np.float32)  # not the export's sizes
    with torch.inference_mode():
        expected = network(torch.from_numpy(sample)).numpy()
    np.testing.assert_allclose(program(sample), expected, atol=1e-3)


@pytest.mark.models
@pytest.mark.slow
def test_a_damaged_exported_program_fails_its_checksum_and_verify_names_it(exported_model, tmp_path, monkeypatch):
    import shutil

    from assistcore.errors import ChecksumError
    from assistcore.models.card import load_model_card
    from assistcore.models.loader import load_network
    from assistcore.models.registry import ModelRegistry

    card, _network = exported_model
    copy = tmp_path / "models" / "brain-exported"
    shutil.copytree(card.folder, copy)
    with open(copy / "model.onnx", "r+b") as stream:
        stream.seek(100)
        stream.write(b"damaged")
    with pytest.raises(ChecksumError, match="Exported program"):
        load_network(load_model_card(copy), "cpu", cache=False)
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(tmp_path / "models"))
    [result] = [r for r in ModelRegistry().verify() if r.id == "brain-exported"]
    assert not result.ok and str(result.path).endswith("model.onnx")


@pytest.mark.models
@pytest.mark.slow
def test_a_fresh_process_runs_the_onnx_export_without_importing_torch(exported_model):
    card, _network = exported_model
    code = (
        "import sys, numpy as np; from assistcore.models.card import load_model_card; "
        "from assistcore.models.loader import load_network; "
        f"net = load_network(load_model_card({str(card.folder)!r}), 'cpu'); "
        "out = net(np.zeros((1, 4, 16, 16, 16), np.float32)); "
        "print(tuple(out.shape), 'torch' in sys.modules, 'monai' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split("\n")[-2] == "(1, 4, 16, 16, 16) False False"


@pytest.mark.models
@pytest.mark.slow
@pytest.mark.cli
def test_models_export_adds_a_verified_program_to_a_state_dict_model(tmp_path, monkeypatch):
    from model_fixtures import make_random_brain_model

    from assistcore.models.card import load_model_card
    from assistcore.models.weights import verify_exported_program
    from radassist.cli.main import main

    make_random_brain_model(tmp_path / "brain-random")
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(tmp_path))
    assert main(["models", "export", "brain-random"]) == 0
    card = load_model_card(tmp_path / "brain-random")
    assert card.data["exported_program"]["file"] == "model.onnx"
    assert card.data["exported_program"]["max_difference_to_torch"] < 1e-3
    assert verify_exported_program(card) == (tmp_path / "brain-random" / "model.onnx").resolve()
    assert main(["models", "verify", "brain-random"]) == 0
