"""The bundled real-data breast ultrasound model (`breastus-busi`) on real BUSI pictures of its test split:
never its training or validation pictures. Its split must be the one `split_busi` gives with the card's seed."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.models]

MODEL_ID = "breastus-busi"
#: of the 8 test-split stills checked, the model at its threshold finds 4 (test-split sensitivity about 0.6)
MIN_FOUND = 3


@pytest.fixture(scope="module")
def busi_dir(real_data_dir):
    path = real_data_dir / "busi"
    assert path.is_dir(), f"BUSI training set missing under {real_data_dir}"
    return path


@pytest.fixture(scope="module")
def entry():
    from assistcore.models.registry import ModelRegistry

    return ModelRegistry().get(MODEL_ID)


def _sample(busi_dir, relative):
    from PIL import Image as PILImage
    from scipy import ndimage

    from assistcore.breastus.training import glob_escape
    from assistcore.detectors.data import PictureSample, read_grey_picture

    path = busi_dir / relative
    picture = read_grey_picture(path)
    merged = np.zeros(picture.shape, bool)
    for mask_path in path.parent.glob(glob_escape(path.stem) + "_mask*.png"):
        with PILImage.open(mask_path) as mask:
            merged |= np.asarray(mask.convert("L")) > 127
    labels, _ = ndimage.label(merged)
    boxes = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndimage.find_objects(labels) if s]
    return PictureSample(picture, np.array(boxes, np.float32).reshape(-1, 4), relative)


def test_the_real_data_model_is_the_default_and_its_split_is_reproducible(entry, busi_dir):
    from assistcore.breastus.busi import scan_busi, split_busi
    from assistcore.models.registry import ModelRegistry

    assert ModelRegistry().default_for("breast_us").card.id == MODEL_ID
    assert not entry.card.is_synthetic_demo
    recorded = json.loads((entry.folder / "split.json").read_text())
    card_split = entry.card.data["training"]["data_split"]
    pictures, skipped = scan_busi(busi_dir)
    assert skipped == [], skipped
    again = split_busi(pictures, card_split["seed"])
    assert again["sha256"] == recorded["sha256"] == card_split["sha256"]
    parts = [set(recorded["files"][name]) for name in ("train", "validation", "test")]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert "Data in Brief" in " ".join(entry.card.data["references"])
    assert (entry.folder / "NOTICE.md").read_text().count("Al-Dhabyani") >= 1


def test_the_real_data_model_finds_lesions_on_busi_test_split_stills_at_its_threshold(entry, busi_dir):
    from assistcore.breastus.busi import detect_stills
    from assistcore.metrics import box_iou
    from assistcore.models.loader import load_network
    from assistcore.pipelines.breast_us import card_shorter_side

    split = json.loads((entry.folder / "split.json").read_text())
    train = set(split["files"]["train"]) | set(split["files"]["validation"])
    test = split["files"]["test"]
    chosen = [n for n in test if n.startswith("benign/")][::8][:4] + [n for n in test if n.startswith("malignant/")][
        ::4
    ][:4]
    assert len(chosen) == 8 and not set(chosen) & train
    samples = [_sample(busi_dir, name) for name in chosen]
    network = load_network(entry.card, "cpu")
    threshold = entry.card.threshold("lesion")
    found = 0
    for sample, (boxes, scores) in zip(samples, detect_stills(network, samples, card_shorter_side(entry.card))):
        kept = boxes[scores >= threshold]
        if len(kept) and (box_iou(kept, sample.boxes_xy) >= 0.2).any():
            found += 1
    assert found >= MIN_FOUND, f"{found} of {len(chosen)} test-split stills had their lesion found"
