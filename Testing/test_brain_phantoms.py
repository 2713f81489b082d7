"""Synthetic brain tumour phantoms: reproducible, nested labels, plausible contrasts, varied lesions."""

from __future__ import annotations

import numpy as np
import pytest

from assistcore.brain.regions import region_masks
from assistcore.phantoms.brain import WHITE, generate_brain_phantom, template_anatomy

pytestmark = pytest.mark.slow


def test_same_seed_same_phantom_and_other_seed_differs():
    first, again, other = (generate_brain_phantom(seed, spacing_mm=4.0) for seed in (3, 3, 4))
    np.testing.assert_array_equal(first.images["flair"].array_kji, again.images["flair"].array_kji)
    np.testing.assert_array_equal(first.labels_kji, again.labels_kji)
    assert not np.array_equal(first.labels_kji, other.labels_kji)


def test_four_contrasts_share_one_grid_and_hold_no_nan():
    phantom = generate_brain_phantom(1, spacing_mm=4.0)
    reference = phantom.images["flair"]
    for image in phantom.images.values():
        assert image.same_grid(reference) and np.isfinite(image.array_kji).all()
    assert phantom.labels_kji.shape == reference.shape_kji and set(np.unique(phantom.labels_kji)) <= {0, 1, 2, 3}


def test_intra_axial_tumours_stay_in_the_brain_and_extra_axial_edema_stays_in_parenchyma():
    intra = generate_brain_phantom(2, spacing_mm=4.0, tumor_type="intra-axial")
    assert not (region_masks(intra.labels_kji)["whole_tumor"] & ~intra.brain_mask_kji).any()
    extra = generate_brain_phantom(5, spacing_mm=4.0, tumor_type="extra-axial")
    assert not ((extra.labels_kji == 2) & ~extra.brain_mask_kji).any()


def test_contrasts_keep_their_loose_ordering_on_average():
    flair_edema, flair_white, t1c_gain = [], [], []
    anatomy, _ = template_anatomy(4.0)
    for seed in range(10):
        phantom = generate_brain_phantom(seed, spacing_mm=4.0, tumor_type="intra-axial")
        white = (anatomy == WHITE) & (phantom.labels_kji == 0)
        flair = phantom.images["flair"].array_kji
        if (phantom.labels_kji == 2).any():
            flair_edema.append(flair[phantom.labels_kji == 2].mean() / flair[white].mean())
            flair_white.append(1.0)
        enhancing = phantom.labels_kji == 3
        if enhancing.any():
            t1 = phantom.images["t1"].array_kji
            t1c = phantom.images["t1c"].array_kji
            t1c_gain.append((t1c[enhancing].mean() / t1c[white].mean()) / (t1[enhancing].mean() / t1[white].mean()))
    assert np.mean(flair_edema) > 1.3 * np.mean(flair_white)
    assert np.mean(t1c_gain) > 1.5


def test_single_and_multiple_lesions_of_varied_size_occur():
    phantoms = [generate_brain_phantom(seed, spacing_mm=4.0) for seed in range(20)]
    counts = {len(p.lesions) for p in phantoms}
    assert 1 in counts and max(counts) > 1
    volumes = [int((p.labels_kji > 0).sum()) for p in phantoms]
    assert max(volumes) > 5 * max(1, min(volumes))
    assert {p.tumor_type for p in phantoms} == {"intra-axial", "extra-axial"}
