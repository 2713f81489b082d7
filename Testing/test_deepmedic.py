"""CaPTk's DeepMedic brain tumour model in PyTorch/ONNX: the port against DeepMedic 0.8.4 itself, CaPTk's
normalisation, the segment tiling, the class mapping and the converter's refusals.

``Testing/data/deepmedic_reference_crop.npz`` was made once (the script is not kept: it needs TensorFlow and
DeepMedic 0.8.4's code, which stay out of the repository): DeepMedic 0.8.4 (three library-age fixes, FC keys
added to CaPTk's modelConfig.txt) ran by TensorFlow 2.21 on the public case TCGA-DU-7294 (BrainLes files,
``raw_bet``), each channel normalised by :func:`captk_zscore`, CaPTk's 45^3 segments. Stored: the class
probabilities (float16; labels from the float32 values) of a 20^3 crop through the tumour inside the output
segment at (87, 87, 87) (k, j, i; 29^3 voxels, well inside the volume), and exactly the voxels DeepMedic's three
pathways read for that segment, as the raw int16 intensities with each channel's (mean, sd):
the 45^3 block of the normal pathway, every 3rd voxel (26^3) and every 5th voxel (22^3).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from assistcore.brain import deepmedic as dm
from assistcore.errors import GeometryError, ImageValueError, InputError, ModelError
from assistcore.models.onnx_runtime import OnnxNetwork

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "Testing" / "data" / "deepmedic_reference_crop.npz"
MODEL_DIR = REPO / "Resources" / "Models" / "brain-tumor-deepmedic-captk"
CAPTK_DIR = REPO.parent / "shared" / "models" / "captk_deepmedic_brain_tumor"


# ----------------------------------------------------------------------------------------------- normalisation


def test_captk_zscore_matches_a_hand_computed_example():
    # brain voxels 1..20 in a zero background: 5th/95th percentiles 1.95 and 19.05 (linear), mean +- 3 SD
    # (10.5 +- 3 * sqrt(35)) is wider, so 2..19 are kept: mean 10.5, sample variance 18 * (18^2 - 1) / 12 / 17
    volume = np.zeros((4, 5, 6), np.int16)
    volume.flat[::6] = np.arange(1, 21)
    expected = ((volume.astype(np.float64) - 10.5) / np.sqrt(28.5)).astype(np.float32)
    result = dm.captk_zscore(volume)
    assert result.dtype == np.float32
    assert np.array_equal(result, expected)
    assert dm.captk_zscore_statistics(volume) == pytest.approx((10.5, np.sqrt(28.5)), abs=1e-12)


def test_captk_zscore_drops_outliers_beyond_3_sd_and_uses_only_the_mask():
    values = np.concatenate([np.full(60, 100.0), np.full(40, 110.0), [10000.0]])  # one bright outlier
    volume = np.zeros(200)
    volume[: values.size] = values
    # percentiles are off here; the 3-SD cut (mean 203, SD about 985) removes the outlier
    mean, sd = dm.captk_zscore_statistics(volume, quantiles=(0.0, 0.0))
    assert mean == pytest.approx(104.0) and sd == pytest.approx(np.std(values[:100], ddof=1))
    mask = np.zeros(200, bool)
    mask[:60] = mask[100] = True  # the 100s and the outlier
    mean, _ = dm.captk_zscore_statistics(volume + np.arange(200) * 1e-3, mask, quantiles=(0.0, 0.0))
    assert mean == pytest.approx(100.0 + np.arange(60).mean() * 1e-3)  # the outlier cut, nothing outside the mask
    background = dm.captk_zscore(volume, quantiles=(0.0, 0.0))[150]
    assert background == pytest.approx(-104.0 / np.std(values[:100], ddof=1))  # applied to every voxel


def test_captk_zscore_refuses_an_empty_or_constant_channel():
    with pytest.raises(ImageValueError, match="above 0"):
        dm.captk_zscore(np.zeros((3, 4, 5)))
    with pytest.raises(ImageValueError, match="one value"):
        dm.captk_zscore(np.full((3, 4, 5), 7.0))
    with pytest.raises(GeometryError):
        dm.captk_zscore(np.ones((3, 4, 5)), np.ones((3, 4, 4), bool))


# ------------------------------------------------------------------------------------------------------ tiling


class _EchoNetwork(OnnxNetwork):
    """Stands in for the ONNX program (run_network hands it numpy): returns the block's central part of channel 0
    as class 0, counts calls and output voxels."""

    def __init__(self, margin: int = dm.CONTEXT_MARGIN, classes: int = 5) -> None:  # no ONNX session
        self.margin, self.classes, self.calls, self.voxels = margin, classes, 0, 0

    def __call__(self, block: np.ndarray) -> np.ndarray:
        m = self.margin
        centre = block[:, 0, m:-m, m:-m, m:-m]
        self.calls += 1
        self.voxels += centre[0].size
        out = np.zeros((block.shape[0], self.classes, *centre.shape[1:]), np.float32)
        out[:, 0] = centre
        return out


@pytest.mark.parametrize(
    ("shape", "segment"), [((23, 31, 17), (10, 7, 17)), ((5, 9, 4), (48, 48, 48)), ((29, 58, 30), (29, 29, 29))]
)
def test_every_output_voxel_is_computed_exactly_once_from_a_block_centred_on_it(shape, segment):
    channels = np.stack([np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + c for c in range(4)])
    network = _EchoNetwork()
    reported = []
    probabilities = dm.predict_probabilities(
        network, channels, segment_output=segment, progress=lambda fraction, text: reported.append(fraction)
    )
    assert probabilities.shape == (5, *shape) and probabilities.dtype == np.float32
    assert np.array_equal(probabilities[0], channels[0])  # each voxel from the block centred on its segment
    assert network.voxels == np.prod(shape)  # and computed once: the segments do not overlap
    tiles = [len(dm.segment_starts(size, n)) for size, n in zip(shape, segment)]
    assert network.calls == np.prod(tiles) == len(reported) and reported[-1] == 1.0


def test_segments_follow_deepmedic_from_the_start_and_the_last_one_is_shorter():
    assert dm.segment_starts(240, 29) == [(29 * n, 29) for n in range(8)] + [(232, 8)]
    assert dm.segment_starts(155, 48) == [(0, 48), (48, 48), (96, 48), (144, 11)]
    assert dm.segment_starts(20, 48) == [(0, 20)]
    with pytest.raises(GeometryError):
        dm.segment_starts(0, 48)


def test_balanced_segments_tile_a_brain_box_in_the_fewest_nearly_equal_segments():
    assert dm.balanced_segment_output((131, 162, 129)) == (66, 81, 65)  # 2 x 2 x 2, not 3 x 4 x 3 at 48
    assert dm.balanced_segment_output((155, 240, 240), max_edge=84) == (78, 80, 80)
    assert dm.balanced_segment_output((20, 84, 85)) == (20, 84, 43)
    for size, edge in ((131, 66), (162, 81), (85, 43)):
        lengths = [length for _, length in dm.segment_starts(size, edge)]
        assert sum(lengths) == size and max(lengths) - min(lengths) <= len(lengths)
    with pytest.raises(GeometryError):
        dm.balanced_segment_output((0, 5, 5))


def test_the_default_tiling_is_balanced_and_still_computes_each_voxel_once():
    shape = (30, 17, 25)
    channels = np.stack([np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + c for c in range(4)])
    network = _EchoNetwork()
    probabilities = dm.predict_probabilities(network, channels)
    assert np.array_equal(probabilities[0], channels[0]) and network.voxels == np.prod(shape)
    assert network.calls == 1  # one segment: every axis is under MAX_SEGMENT_EDGE


def test_the_bundled_card_documents_the_segment_layout_the_code_uses():
    card = json.loads((REPO / "Resources/Models/brain-tumor-deepmedic-captk/model_card.json").read_text())
    assert card["inference"]["segment_max_edge"] == dm.MAX_SEGMENT_EDGE
    assert "segment_output" not in card["inference"]  # else brain.model passes it and the balanced layout is off


def test_input_block_is_the_volume_mirrored_by_8_then_deepmedics_border_value():
    rng = np.random.default_rng(0)
    channels = rng.normal(size=(2, 12, 15, 11)).astype(np.float32)
    padded = np.pad(channels, [(0, 0)] + [(dm.VOLUME_PAD,) * 2] * 3, mode="reflect")  # DeepMedic's np.pad reflect
    corners = padded[:, [0, -1]][:, :, [0, -1]][:, :, :, [0, -1]].reshape(2, -1)
    border = corners.astype(np.float64).mean(axis=1).astype(np.float32)  # calc_border_int_of_3d_img
    assert np.array_equal(dm.border_values(channels), border)
    margin = dm.CONTEXT_MARGIN
    beyond = margin - dm.VOLUME_PAD
    full = np.stack([np.pad(padded[c], beyond, mode="constant", constant_values=border[c]) for c in range(2)])
    for origin, output in (((0, 0, 0), (5, 6, 4)), ((7, 3, 9), (5, 12, 2)), ((4, 4, 4), (3, 3, 3))):
        block = dm.input_block(channels, origin, output, border)
        box = tuple(slice(o, o + n + 2 * margin) for o, n in zip(origin, output))
        expected = full[(slice(None), *box)]
        assert np.array_equal(block, expected)
    inside = rng.normal(size=(1, 90, 90, 90)).astype(np.float32)
    assert np.array_equal(
        dm.input_block(inside, (40, 41, 42), (5, 6, 7), np.zeros(1, np.float32)), inside[:, 0:85, 1:87, 2:89]
    )


def test_predict_probabilities_refuses_bad_channels_and_a_wrong_margin():
    with pytest.raises(GeometryError):
        dm.predict_probabilities(_EchoNetwork(), np.zeros((4, 5, 5)))
    with pytest.raises(ImageValueError):
        dm.predict_probabilities(_EchoNetwork(), np.full((4, 5, 5, 5), np.nan, np.float32))
    with pytest.raises(GeometryError, match="margin"):
        dm.predict_probabilities(_EchoNetwork(margin=30), np.zeros((4, 5, 5, 5), np.float32))


# --------------------------------------------------------------------------------------------- class mapping


def test_classes_map_to_brats_and_internal_labels_and_the_card_says_the_same():
    from assistcore.brain.model import merge_classes

    assert dm.CHANNEL_ORDER == ("t1", "t1c", "t2", "flair")
    assert dm.CLASS_TO_BRATS == (0, 1, 2, 1, 4) and dm.CLASS_TO_LABEL == (0, 1, 2, 1, 3)
    probabilities = np.zeros((5, 1, 1, 5), np.float32)
    for network_class in range(5):
        probabilities[network_class, 0, 0, network_class] = 1.0
    merged = merge_classes(probabilities, list(dm.CLASS_TO_LABEL))
    assert merged.argmax(0).ravel().tolist() == [0, 1, 2, 1, 3]
    card = json.loads((MODEL_DIR / "model_card.json").read_text())
    class_map = next(step for step in card["postprocessing"] if step["step"] == "class_map")
    assert class_map["to_internal"] == [0, 1, 2, 1, 3] and class_map["to_brats"] == [0, 1, 2, 1, 4]
    assert [channel["role"] for channel in card["input_channels"]] == list(dm.CHANNEL_ORDER)
    assert {label["value"]: label["snomed"]["type"]["code"] for label in card["labels"]} == {
        1: "6574001",
        2: "79654002",
        3: "108369006",
    }
    assert card["inference"]["mode"] == "deepmedic_segments"
    assert card["inference"]["context_margin"] == dm.CONTEXT_MARGIN
    assert card["synthetic_training_data"] is False and "not" in card["intended_use"]


def test_the_bundled_folder_carries_the_licence_verbatim_and_says_it_is_modified():
    from assistcore.models.weights import sha256_of

    card = json.loads((MODEL_DIR / "model_card.json").read_text())
    assert sha256_of(MODEL_DIR / card["weights"]["file"]) == card["weights"]["sha256"]
    assert sha256_of(MODEL_DIR / card["exported_program"]["file"]) == card["exported_program"]["sha256"]
    licence = (MODEL_DIR / "SBIA_license.txt").read_text()
    assert "PART B. DOWNLOADING AGREEMENT" in licence
    if CAPTK_DIR.is_dir():
        assert licence == (CAPTK_DIR / "SBIA_license.txt").read_text()
    notice = (MODEL_DIR / "NOTICE").read_text()
    assert "MODIFIED VERSION" in notice and "have been obtained under license from the Section of Biomedical" in notice
    assert "Kamnitsas" in notice and "Davatzikos" in notice
    origin = card["training"]["origin"]["files_sha256"]
    assert origin["model.ckpt.index"].startswith("dc399961") and origin["model.ckpt.index"].endswith("86d75aec")


# ----------------------------------------------------------------------------------- the port vs DeepMedic 0.8.4


def _reference_block() -> tuple[np.ndarray, dict]:
    """The network's input block for the stored segment: only the voxels DeepMedic's pathways read are set (the
    rest stays 0, so a port that read any other voxel would not match), normalised as the reference was."""
    data = dict(np.load(FIXTURE))
    mean, sd = data["mean_sd"][:, 0], data["mean_sd"][:, 1]

    def normalised(raw: np.ndarray) -> np.ndarray:
        return ((raw.astype(np.float64) - mean[:, None, None, None]) / sd[:, None, None, None]).astype(np.float32)

    n, margin = int(data["segment_output"]), int(data["margin"])
    block = np.zeros((4, *(n + 2 * margin,) * 3), np.float32)
    for raw, factor in ((data["raw_sub5"], 5), (data["raw_sub3"], 3)):
        start = margin - dm.VOLUME_PAD * factor
        take = slice(start, start + factor * (raw.shape[1] - 1) + 1, factor)
        block[:, take, take, take] = normalised(raw)
    edge = margin - dm.VOLUME_PAD
    block[:, edge:-edge, edge:-edge, edge:-edge] = normalised(data["raw_normal"])
    return block[None], data


def _compare_with_reference(probabilities: np.ndarray, data: dict) -> tuple[float, float]:
    offset = data["crop_origin_kji"] - data["segment_origin_kji"]
    size = int(data["crop_size"])
    crop = probabilities[0][:, offset[0] : offset[0] + size, offset[1] : offset[1] + size, offset[2] : offset[2] + size]
    reference = data["reference_probabilities"].astype(np.float32)
    same_labels = float((crop.argmax(0) == data["reference_labels"]).mean())
    return same_labels, float(np.abs(crop - reference).max())


def _bundled_torch_network():
    from assistcore.models.loader import build_network, load_state_dict_file

    card = json.loads((MODEL_DIR / "model_card.json").read_text())
    network = build_network(card["network"])
    network.load_state_dict(load_state_dict_file(MODEL_DIR / card["weights"]["file"]), strict=True)
    return network.eval()


@pytest.mark.models
def test_the_bundled_onnx_program_gives_deepmedics_probabilities():
    block, data = _reference_block()
    network = OnnxNetwork(MODEL_DIR / "model.onnx")
    from assistcore.models.onnx_runtime import run_network

    probabilities = run_network(network, block)
    assert probabilities.shape == (1, 5, 29, 29, 29)
    same_labels, difference = _compare_with_reference(probabilities, data)
    assert same_labels >= 0.999 and difference < 1e-3, (same_labels, difference)
    # the crop holds every class the model predicts there, so the check is not one of background only
    assert set(np.unique(data["reference_labels"]).tolist()) == {0, 1, 2, 4}


@pytest.mark.models
def test_the_bundled_torch_weights_give_deepmedics_probabilities():
    from assistcore.models.onnx_runtime import run_network

    block, data = _reference_block()
    probabilities = run_network(_bundled_torch_network(), block)
    same_labels, difference = _compare_with_reference(probabilities, data)
    assert same_labels >= 0.999 and difference < 1e-3, (same_labels, difference)


@pytest.mark.models
def test_network_geometry_context_and_state_dict_match_the_checkpoint_layout():
    import torch

    from assistcore.brain import deepmedic_network as dmn

    network = _bundled_torch_network()
    assert network.margin == dm.CONTEXT_MARGIN == 40 and network.context == dm.VOLUME_PAD
    names = dmn.checkpoint_variable_names()
    assert set(names) == set(network.state_dict())
    assert len(set(names.values())) == len(names) == 151  # 199 net/ variables less 48 training-only ones
    assert names["normal.blocks.0.weight"] == "net/W" and names["classifier_bias"] == "net/b_3"
    assert names["subsampled.0.blocks.0.weight"] == "net/W_8" and names["fc.blocks.0.weight"] == "net/W_24"
    assert names["fc.blocks.0.bn_rolling_mean"] == "net/muBnsForRollingAverage_21"
    for k, j, i in ((1, 1, 1), (4, 7, 11)):
        with torch.inference_mode():
            out = network(torch.zeros(2, 4, k + 80, j + 80, i + 80))
        assert out.shape == (2, 5, k, j, i) and torch.allclose(out.sum(1), torch.ones(()))


# ---------------------------------------------------------------------------------------------------- converter


def _parser():
    from radassist.cli import commands_deepmedic, commands_models
    from radassist.cli.main import common_options

    parser = argparse.ArgumentParser(prog="radassist")
    subparsers = parser.add_subparsers(dest="command")
    common = common_options()
    commands_models.register(subparsers, common)
    commands_deepmedic.register(subparsers, common)
    return parser


def test_convert_deepmedic_is_a_models_action_beside_the_others(tmp_path):
    from radassist.cli import commands_deepmedic

    args = _parser().parse_args(
        ["models", "convert-deepmedic", "ckpt", "--out", str(tmp_path / "o"), "--tf-python", "py"]
    )
    assert args.handler is commands_deepmedic.run_convert and args.ckpt_dir == "ckpt" and args.tf_python == "py"
    assert _parser().parse_args(["models", "list"]).models_action == "list"
    alone = argparse.ArgumentParser()
    commands_deepmedic.register(alone.add_subparsers(dest="command"), argparse.ArgumentParser(add_help=False))
    assert alone.parse_args(["models", "convert-deepmedic", "x", "--out", "y"]).out == "y"


@pytest.fixture
def checkpoint_copy(tmp_path) -> Path:
    if not CAPTK_DIR.is_dir():
        pytest.skip(f"CaPTk's checkpoint not found at {CAPTK_DIR}")
    folder = tmp_path / "brainTumorSegmentation"
    shutil.copytree(CAPTK_DIR, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def _convert(folder, out, tf_python):
    from radassist.cli.commands_deepmedic import convert_deepmedic

    return convert_deepmedic(folder, out, tf_python)


@pytest.mark.parametrize(
    "missing", ["model.ckpt.index", "model.ckpt.data-00000-of-00001", "SBIA_license.txt", "modelConfig.txt"]
)
def test_converter_refuses_a_folder_missing_a_file_and_writes_nothing(checkpoint_copy, tmp_path, missing):
    (checkpoint_copy / missing).unlink()
    with pytest.raises(InputError, match=missing.replace(".", r"\.")) as raised:
        _convert(checkpoint_copy, tmp_path / "out", sys.executable)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="does not exist"):
        _convert(tmp_path / "nowhere", tmp_path / "out", sys.executable)


def test_converter_refuses_another_checkpoint_by_its_sha256(checkpoint_copy, tmp_path):
    data = checkpoint_copy / "model.ckpt.data-00000-of-00001"
    content = bytearray(data.read_bytes())
    content[1000] ^= 1
    data.write_bytes(bytes(content))
    with pytest.raises(ModelError, match=r"sha256 [0-9a-f]{12}\.\.\., expected 4319c7d56079\.\.\."):
        _convert(checkpoint_copy, tmp_path / "out", sys.executable)
    assert not (tmp_path / "out").exists()


def test_converter_says_how_to_make_a_tensorflow_interpreter(checkpoint_copy, tmp_path, monkeypatch):
    from radassist.cli.commands_deepmedic import TF_PYTHON_VARIABLE

    monkeypatch.delenv(TF_PYTHON_VARIABLE, raising=False)
    with pytest.raises(ModelError, match="pip install tensorflow-cpu numpy") as raised:
        _convert(checkpoint_copy, tmp_path / "out", None)
    assert "\n" not in str(raised.value)
    with pytest.raises(ModelError, match="not found"):
        _convert(checkpoint_copy, tmp_path / "out", str(tmp_path / "no-python"))
    if "tensorflow" not in sys.modules:  # this interpreter has no TensorFlow: the script fails and says so
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            with pytest.raises(ModelError, match="tensorflow") as raised:
                _convert(checkpoint_copy, tmp_path / "out", sys.executable)
            assert "\n" not in str(raised.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.models
@pytest.mark.slow
def test_converter_reproduces_the_bundled_weights_with_tensorflow(checkpoint_copy, tmp_path):
    """Needs an interpreter with TensorFlow in $RADASSIST_TF_PYTHON (skipped without)."""
    import os

    import torch

    from assistcore.models.loader import load_state_dict_file
    from radassist.cli.commands_deepmedic import TF_PYTHON_VARIABLE

    if not os.environ.get(TF_PYTHON_VARIABLE):
        pytest.skip(f"set {TF_PYTHON_VARIABLE} to a Python with TensorFlow")
    from assistcore.models import card as card_module

    schema_modes = card_module.model_card_schema()["properties"]["inference"]["properties"]["mode"]["enum"]
    if "deepmedic_segments" not in schema_modes:
        pytest.skip("the card schema does not list inference mode deepmedic_segments yet")
    card = _convert(checkpoint_copy, tmp_path / "out", None)
    converted = load_state_dict_file(tmp_path / "out" / "model.pt")
    bundled = load_state_dict_file(MODEL_DIR / "model.pt")
    assert converted.keys() == bundled.keys()
    assert all(torch.equal(converted[key], bundled[key]) for key in bundled)
    assert card["exported_program"]["max_difference_to_torch"] < 1e-4
    assert {path.name for path in (tmp_path / "out").iterdir()} >= {
        "model.pt",
        "model.onnx",
        "model_card.json",
        "SBIA_license.txt",
        "NOTICE",
    }
