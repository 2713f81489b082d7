"""Skull stripping for BraTS-space models: which inputs need it, and the registered MNI brain mask."""

from __future__ import annotations

import numpy as np
import pytest

from assistcore.brain.skull import brain_mask_for, looks_skull_stripped
from assistcore.image import Image


def test_zero_background_counts_as_skull_stripped_and_a_noisy_head_does_not():
    stripped = np.zeros((20, 30, 30), np.float32)
    stripped[5:15, 8:22, 8:22] = 100.0
    head = np.random.default_rng(0).normal(10.0, 3.0, (20, 30, 30)).astype(np.float32)
    assert looks_skull_stripped(stripped) and not looks_skull_stripped(head)


@pytest.mark.realdata
def test_skull_stripped_brats_inputs_get_no_mask(real_data_dir):
    from assistcore.image_io import read_image

    folder = next((real_data_dir / "brain_tcga" / "TCGA-DU-7294").rglob("raw_bet"))
    images = {
        role: read_image(next(folder.glob(f"*_{suffix}_bet.nii.gz")))
        for role, suffix in (("t1", "t1"), ("flair", "fla"))
    }
    mask, text = brain_mask_for(images)
    assert mask is None and "skull-stripped" in text


@pytest.mark.realdata
def test_the_mni_brain_mask_lands_on_a_whole_head_with_a_brain_sized_volume(real_data_dir):
    from assistcore.brain.inputs import load_case
    from assistcore.brain.qa import estimate_brain_mask

    folder = real_data_dir / "brain_tcga" / "TCGA-FG-6692_raw"
    paths = {
        role: next(folder.glob(f"*_{suffix}.nii.gz"))
        for role, suffix in (("t1", "t1"), ("t1c", "t1c"), ("t2", "t2"), ("flair", "fla"))
    }
    case = load_case(paths, required_roles=("t1c", "flair"))
    mask, text = brain_mask_for(case.images)
    reference: Image = case.images["flair"]
    assert mask.shape == reference.shape_kji and "registered onto the T1" in text
    head = estimate_brain_mask(case.images["t1"])
    millilitres = mask.sum() * np.prod(reference.spacing_mm) / 1000.0
    assert 1200.0 < millilitres < 2300.0, millilitres  # the MNI mask holds 1.8 L (brain and its CSF)
    assert (mask & head).sum() / mask.sum() > 0.7
    middle = int(np.argmax(head.sum(axis=(1, 2))))  # the axial slice with the most head
    assert 0.45 < mask[middle].sum() / head[middle].sum() < 0.95, "the scalp and skull rim stays outside"
