"""Synthetic brain tumour phantoms: reproducible, one grid, nested labels, plausible contrasts, varied lesions.

Most tests use 4 mm phantoms (about 0.2 s each once the template is cached) to stay fast.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy import ndimage

from assistcore.errors import InputError
from assistcore.phantoms import brain as phantoms
from assistcore.phantoms.brain import (
    GREY,
    ROLES,
    SCALP,
    SKULL,
    WHITE,
    generate_brain_phantom,
    render_phantom_montage,
    write_phantom_case,
)

COARSE_MM = 4.0


@pytest.fixture(scope="module")
def twenty_phantoms():
    return [generate_brain_phantom(seed, spacing_mm=COARSE_MM) for seed in range(20)]


def test_same_seed_gives_the_same_phantom_and_another_seed_a_different_one():
    first, again, other = (generate_brain_phantom(seed, spacing_mm=COARSE_MM) for seed in (3, 3, 4))
    for role in ROLES:
        np.testing.assert_array_equal(first.images[role].array_kji, again.images[role].array_kji)
    np.testing.assert_array_equal(first.labels_kji, again.labels_kji)
    assert first.lesions == again.lesions and first.parameters == again.parameters
    assert not np.array_equal(first.labels_kji, other.labels_kji)
    assert not np.array_equal(first.images["flair"].array_kji, other.images["flair"].array_kji)


def test_four_contrasts_share_one_grid_with_labels_and_hold_no_nan(twenty_phantoms):
    for phantom in twenty_phantoms[:5]:
        reference = phantom.images["flair"]
        assert sorted(phantom.images) == sorted(ROLES)
        for image in phantom.images.values():
            assert image.same_grid(reference)
            assert image.array_kji.dtype == np.float32 and np.isfinite(image.array_kji).all()
            assert image.array_kji.min() >= 0 and image.array_kji.max() > 0
        assert phantom.labels_kji.dtype == np.uint8 and phantom.labels_kji.shape == reference.shape_kji
        assert phantom.brain_mask_kji.shape == phantom.anatomy_kji.shape == reference.shape_kji
        assert set(np.unique(phantom.labels_kji).tolist()) <= {0, 1, 2, 3}
        assert np.allclose(reference.spacing_mm, COARSE_MM)


def test_labels_nest_as_the_consensus_regions_when_lesions_are_drawn(twenty_phantoms):
    for phantom in twenty_phantoms:
        labels = phantom.labels_kji
        # every whole-tumour component holds tumour body: edema never floats on its own
        components, count = ndimage.label(labels > 0)
        body_components = set(np.unique(components[np.isin(labels, (1, 3))]).tolist()) - {0}
        assert body_components == set(range(1, count + 1)), f"seed {phantom.seed}: edema without a tumour body"
        for lesion in phantom.lesions:
            assert lesion["volume_ml"] >= 0 and 2.5 <= lesion["radius_mm"] <= 30.0
        if any(lesion["has_enhancement"] for lesion in phantom.lesions):
            assert (labels == 3).any()
        if not any(lesion["has_enhancement"] for lesion in phantom.lesions):
            assert not (labels == 3).any()


def test_necrotic_core_is_enclosed_by_its_enhancing_rim():
    checked = 0
    for seed in range(40):
        phantom = generate_brain_phantom(seed, spacing_mm=2.0, tumor_type="intra-axial", n_lesions=1)
        lesion = phantom.lesions[0]
        if lesion["pattern"] != "rim" or not lesion["has_necrosis"]:
            continue
        core = phantom.labels_kji == 1
        neighbours = ndimage.binary_dilation(core) & ~core
        assert (phantom.labels_kji[neighbours] == 3).all(), f"seed {seed}: necrosis touches non-enhancing tissue"
        checked += 1
        if checked == 2:
            break
    assert checked == 2


def test_intra_axial_tumours_stay_in_the_brain_mask():
    for seed in range(6):
        phantom = generate_brain_phantom(seed, spacing_mm=COARSE_MM, tumor_type="intra-axial")
        assert phantom.tumor_type == "intra-axial" and (phantom.labels_kji > 0).any()
        assert not ((phantom.labels_kji > 0) & ~phantom.brain_mask_kji).any()
        assert not any(lesion["extra_axial"] for lesion in phantom.lesions)


def test_extra_axial_edema_stays_in_parenchyma_and_the_mass_grows_from_the_dura():
    sites = set()
    for seed in range(8):
        phantom = generate_brain_phantom(seed, spacing_mm=COARSE_MM, tumor_type="extra-axial", skull=True, pose=False)
        labels = phantom.labels_kji
        edema = labels == 2
        assert np.isin(phantom.anatomy_kji[edema], (GREY, WHITE)).all(), f"seed {seed}: edema outside parenchyma"
        assert not (np.isin(labels, (1, 3)) & phantom.brain_mask_kji).any(), "a meningioma is not brain"
        for lesion in phantom.lesions:
            assert lesion["extra_axial"] and lesion["has_enhancement"]
            sites.add(lesion["site"])
        components, count = ndimage.label(np.isin(labels, (1, 3)))
        for index in range(1, count + 1):
            mass = components == index
            if mass.sum() < 4:
                continue
            near = ndimage.binary_dilation(mass, iterations=2)
            on_convexity = (phantom.anatomy_kji[near] == SKULL).any()
            points = phantom.images["t1"].index_to_lps(np.argwhere(mass)[:, ::-1])
            on_falx = np.abs(points[:, 0]).min() <= 2 * COARSE_MM  # template midline: L = 0
            assert on_convexity or on_falx, f"seed {seed}: extra-axial mass attached to no dura"
    assert sites == {"convexity", "falx"}


def test_contrasts_keep_their_loose_ordering_on_average_over_ten_seeds():
    flair_edema_over_white, t1c_gain, t2_necrosis_over_white = [], [], []
    for seed in range(10):
        phantom = generate_brain_phantom(seed, spacing_mm=COARSE_MM, tumor_type="intra-axial")
        labels, white = phantom.labels_kji, (phantom.anatomy_kji == WHITE) & (phantom.labels_kji == 0)
        t1, t1c = phantom.images["t1"].array_kji, phantom.images["t1c"].array_kji
        flair, t2 = phantom.images["flair"].array_kji, phantom.images["t2"].array_kji
        if (labels == 2).sum() >= 3:
            flair_edema_over_white.append(flair[labels == 2].mean() / flair[white].mean())
        if (labels == 3).sum() >= 3:
            enhancing = labels == 3
            t1c_gain.append((t1c[enhancing].mean() / t1c[white].mean()) / (t1[enhancing].mean() / t1[white].mean()))
        if (labels == 1).sum() >= 3:
            t2_necrosis_over_white.append(t2[labels == 1].mean() / t2[white].mean())
    assert len(flair_edema_over_white) >= 5 and len(t1c_gain) >= 5
    assert np.mean(flair_edema_over_white) > 1.3, "edema must be brighter than white matter on FLAIR"
    assert np.mean(t1c_gain) > 1.3, "enhancing tumour must gain more signal on T1c than on T1, relative to WM"
    assert np.mean(t2_necrosis_over_white) > 1.2, "non-enhancing tumour must be brighter than white matter on T2"


def test_csf_is_dark_on_flair_and_bright_on_t2():
    phantom = generate_brain_phantom(2, spacing_mm=2.0, pose=False)
    # ventricles: CSF deep inside the brain (the rim of the brain is partial-volumed)
    ventricles = (phantom.anatomy_kji == 1) & ndimage.binary_erosion(phantom.brain_mask_kji, iterations=8)
    ventricles &= phantom.labels_kji == 0
    white = (phantom.anatomy_kji == WHITE) & (phantom.labels_kji == 0)
    assert ventricles.sum() > 50
    flair, t2 = phantom.images["flair"].array_kji, phantom.images["t2"].array_kji
    assert flair[ventricles].mean() < flair[white].mean() and t2[ventricles].mean() > t2[white].mean()


def test_single_and_multiple_lesions_of_varied_size_and_both_types_occur(twenty_phantoms):
    counts = [len(p.lesions) for p in twenty_phantoms]
    assert 1 in counts and max(counts) > 1
    volumes = [int((p.labels_kji > 0).sum()) for p in twenty_phantoms]
    assert max(volumes) > 5 * max(1, min(volumes))
    assert {p.tumor_type for p in twenty_phantoms} == {"intra-axial", "extra-axial"}
    patterns = {lesion["pattern"] for p in twenty_phantoms for lesion in p.lesions}
    assert {"rim", "none", "meningioma"} <= patterns
    assert any(not lesion["has_edema"] for p in twenty_phantoms for lesion in p.lesions)


def test_fixing_one_choice_leaves_the_others_unchanged_so_mass_effect_only_moves_tissue_near_lesions():
    options = {"spacing_mm": 2.0, "tumor_type": "intra-axial", "n_lesions": 1}
    seed = next(s for s in range(50) if generate_brain_phantom(s, **options).lesions[0]["radius_mm"] >= 8.0)
    pushed = generate_brain_phantom(seed, **options, mass_effect=True)
    still = generate_brain_phantom(seed, **options, mass_effect=False)
    lesion = pushed.lesions[0]
    assert lesion["center_lps"] == still.lesions[0]["center_lps"] and lesion["mass_effect_mm"] > 0
    changed = np.argwhere(pushed.anatomy_kji != still.anatomy_kji)
    assert len(changed) > 0
    points = pushed.images["flair"].index_to_lps(changed[:, ::-1])
    reach = lesion["radius_mm"] + 2.5 * min(lesion["radius_mm"], 25.0) + 4.0
    assert np.linalg.norm(points - np.array(lesion["center_lps"]), axis=1).max() <= reach


def test_skull_flag_adds_bone_and_scalp_and_stripped_images_are_zero_outside_the_head():
    stripped = generate_brain_phantom(6, spacing_mm=COARSE_MM)
    with_skull = generate_brain_phantom(6, spacing_mm=COARSE_MM, skull=True)
    assert not np.isin(stripped.anatomy_kji, (SKULL, SCALP)).any()
    assert (with_skull.anatomy_kji == SKULL).sum() > 100 and (with_skull.anatomy_kji == SCALP).sum() > 100
    far_outside = ~ndimage.binary_dilation(stripped.brain_mask_kji | (stripped.labels_kji > 0), iterations=2)
    assert (stripped.images["t1"].array_kji[far_outside] == 0).all()
    scalp = with_skull.anatomy_kji == SCALP
    assert with_skull.images["t1"].array_kji[scalp].mean() > 0


def test_shape_and_spacing_choose_the_grid_around_the_brain():
    phantom = generate_brain_phantom(7, spacing_mm=(2.0, 2.0, 3.0), shape_kji=(48, 96, 80), pose=False)
    image = phantom.images["t1"]
    assert image.shape_kji == (48, 96, 80) and image.spacing_mm == (2.0, 2.0, 3.0)
    # the brain is centred: it reaches neither the left nor the right border
    assert not phantom.brain_mask_kji[:, :, 0].any() and not phantom.brain_mask_kji[:, :, -1].any()
    assert np.allclose(image.direction_lps, np.diag([-1.0, -1.0, 1.0]))


def test_bad_arguments_and_missing_nilearn_raise_input_errors_with_hints(monkeypatch):
    with pytest.raises(InputError, match="tumour type"):
        generate_brain_phantom(0, tumor_type="spinal")
    with pytest.raises(InputError, match="spacing"):
        generate_brain_phantom(0, spacing_mm=0.0)
    with pytest.raises(InputError, match="n_lesions"):
        generate_brain_phantom(0, n_lesions=0)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="nilearn") as caught:
        phantoms.template_folder()
    assert "pip install nilearn" in caught.value.hint


def test_written_case_reads_back_on_one_grid_with_brats_2023_labels(tmp_path):
    from assistcore.image_io import read_image

    phantom = generate_brain_phantom(8, spacing_mm=COARSE_MM)
    paths = write_phantom_case(phantom, tmp_path / "case", "PH008")
    assert sorted(path.name for path in paths.values()) == sorted(
        [f"PH008_{role}.nii.gz" for role in ROLES] + ["PH008_seg.nii.gz"]
    )
    labels = read_image(paths["seg"])
    flair = read_image(paths["flair"])
    assert labels.same_grid(flair) and labels.same_grid(phantom.images["flair"])
    np.testing.assert_array_equal(labels.array_kji, phantom.labels_kji)
    np.testing.assert_allclose(flair.array_kji, phantom.images["flair"].array_kji, rtol=1e-6)


def test_montage_shows_every_phantom_as_a_row_of_five_pictures(tmp_path):
    from PIL import Image as PILImage

    sample = [generate_brain_phantom(seed, spacing_mm=COARSE_MM) for seed in (0, 1)]
    path = render_phantom_montage(sample, tmp_path / "montage.png", upscale=1)
    picture = PILImage.open(path)
    shape_kji = sample[0].labels_kji.shape
    # axial slices on screen: x follows i, y follows j
    assert picture.size == (5 * shape_kji[2], 2 * shape_kji[1])
