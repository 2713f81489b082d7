"""Metrics against values worked out by hand (in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assistcore.errors import InputError
from assistcore.metrics import (
    SequenceDetections,
    SequenceLesions,
    box_iou,
    delong_variance,
    diagnostic_table,
    dice_per_label,
    froc,
    hausdorff95,
    plot_roc,
    roc_analysis,
    wilson_interval,
)


def test_diagnostic_table_matches_hand_counts():
    # tp=6 fp=2 tn=9 fn=3
    truth = [1] * 6 + [0] * 2 + [0] * 9 + [1] * 3
    predicted = [1] * 6 + [1] * 2 + [0] * 9 + [0] * 3
    table = diagnostic_table(truth, predicted)
    assert (table.tp, table.fp, table.tn, table.fn, table.n) == (6, 2, 9, 3, 20)
    assert table.accuracy == pytest.approx(15 / 20)
    assert table.sensitivity == pytest.approx(6 / 9)
    assert table.specificity == pytest.approx(9 / 11)
    assert table.ppv == pytest.approx(6 / 8)
    assert table.npv == pytest.approx(9 / 12)
    assert table.positive_likelihood_ratio == pytest.approx((6 / 9) / (2 / 11))  # 3.667
    assert table.negative_likelihood_ratio == pytest.approx((3 / 9) / (9 / 11))  # 0.407
    assert table.f1 == pytest.approx(12 / 17)
    # Wilson 6/9: centre 0.6168, half-width 0.2626 -> (0.354, 0.879)
    assert table.ci95["sensitivity"] == pytest.approx((0.3542, 0.8794), abs=5e-4)


def test_perfect_specificity_gives_infinite_lr_and_empty_classes_give_nan():
    table = diagnostic_table([1, 1, 0], [1, 0, 0])
    assert math.isinf(table.positive_likelihood_ratio)
    assert math.isnan(diagnostic_table([0, 0], [0, 0]).sensitivity)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_auc_and_delong_variance_by_hand():
    # positives .9 .4 .7 / negatives .35 .8 .1: 7 of 9 pairs ordered -> AUC 7/9
    truth = np.array([1, 1, 0, 0, 1, 0], bool)
    scores = np.array([0.9, 0.4, 0.35, 0.8, 0.7, 0.1])
    auc, variance = delong_variance(truth, scores)
    assert auc == pytest.approx(7 / 9)
    # V10 = [1, 2/3, 2/3] (var 0.037037), V01 = [1, 1/3, 1] (var 0.148148); 0.037037/3 + 0.148148/3
    assert variance == pytest.approx(0.061728, abs=1e-6)
    roc = roc_analysis(truth, scores)
    assert roc.auc == pytest.approx(7 / 9)
    half = 1.959964 * math.sqrt(0.061728)
    assert roc.ci95 == pytest.approx((7 / 9 - half, 1.0), abs=1e-4)  # upper end clipped at 1


def test_delong_and_bootstrap_intervals_agree_on_a_larger_sample():
    rng = np.random.default_rng(1)
    truth = np.r_[np.ones(150, bool), np.zeros(150, bool)]
    scores = np.r_[rng.normal(1.0, 1.0, 150), rng.normal(0.0, 1.0, 150)]
    delong = roc_analysis(truth, scores)
    bootstrap = roc_analysis(truth, scores, method="bootstrap", n_bootstrap=800)
    assert delong.ci95 == pytest.approx(bootstrap.ci95, abs=0.02)
    assert delong.ci95[0] < delong.auc < delong.ci95[1]


def test_single_class_roc_is_refused():
    with pytest.raises(InputError, match="positive and negative"):
        roc_analysis([1, 1, 1], [0.2, 0.4, 0.5])


def test_roc_png_is_written_without_leftovers(tmp_path):
    from PIL import Image as PILImage

    roc = roc_analysis([1, 0, 1, 0, 1], [0.9, 0.2, 0.6, 0.5, 0.4])
    plot_roc(roc, tmp_path / "roc.png")
    assert PILImage.open(tmp_path / "roc.png").format == "PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["roc.png"]


def test_box_iou_by_hand():
    # [0,0,10,10] vs [3,3,13,13]: intersection 49, union 151
    np.testing.assert_allclose(box_iou([[0, 0, 10, 10]], [[3, 3, 13, 13], [20, 20, 30, 30]]), [[49 / 151, 0.0]])


def test_froc_on_three_hand_made_sequences_at_two_iou_thresholds():
    detections = [
        SequenceDetections(np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), np.array([0.9, 0.8])),
        SequenceDetections(np.array([[3, 3, 13, 13]]), np.array([0.7])),  # IoU 0.32 with its lesion
        SequenceDetections(np.array([[20, 20, 30, 30]]), np.array([0.6])),  # a rib: no lesion here
    ]
    lesions = [
        SequenceLesions(np.array([[0, 0, 10, 10]])),
        SequenceLesions(np.array([[0, 0, 10, 10]])),
        SequenceLesions(np.zeros((0, 4))),
    ]
    loose = froc(detections, lesions, 0.2)
    assert loose.sensitivity_at == {0.1: 0.5, 0.2: 0.5, 0.5: 1.0}
    strict = froc(detections, lesions, 0.5)
    assert strict.sensitivity_at == {0.1: 0.5, 0.2: 0.5, 0.5: 0.5}
    assert strict.fp_per_sequence[-1] == pytest.approx(1.0)  # 3 false positives over 3 sequences


def test_froc_matches_only_on_the_same_frame():
    detections = [SequenceDetections(np.array([[0, 0, 10, 10]]), np.array([0.9]), frames=np.array([4]))]
    assert (
        froc(detections, [SequenceLesions(np.array([[0, 0, 10, 10]]), frames=np.array([5]))], 0.5).sensitivity_at[0.5]
        == 0.0
    )


def test_dice_by_hand():
    a = np.zeros((4, 4, 4), np.uint8)
    b = np.zeros((4, 4, 4), np.uint8)
    a[0:2, 0:2, 0:2] = 1  # 8 voxels
    b[0:2, 0:2, 1:3] = 1  # 8 voxels, 4 shared
    b[3, 3, 3] = 2
    assert dice_per_label(a, b, [1, 2, 3]) == {1: 0.5, 2: 0.0, 3: 1.0}


def test_hd95_uses_spacing_in_ijk_order_on_a_k_shift():
    a = np.zeros((30, 20, 20), bool)
    a[5:15, 5:15, 5:15] = True
    b = np.roll(a, 2, axis=0)  # 2 slices along k at 3 mm = 6 mm
    assert hausdorff95(a, b, spacing_mm=(0.5, 0.5, 3.0)) == pytest.approx(6.0, abs=0.01)
    assert math.isinf(hausdorff95(a, np.zeros_like(a), (1, 1, 1)))


@pytest.mark.models
def test_hd95_agrees_with_monai_within_a_voxel():
    import torch
    from monai.metrics import compute_hausdorff_distance

    k, j, i = np.indices((32, 32, 32))
    sphere = (k - 16) ** 2 + (j - 16) ** 2 + (i - 16) ** 2 <= 64
    ellipsoid = ((k - 17) / 1.2) ** 2 + (j - 15) ** 2 + ((i - 16) / 0.8) ** 2 <= 64
    ours = hausdorff95(sphere, ellipsoid, (1.0, 1.0, 1.0))
    theirs = compute_hausdorff_distance(
        torch.from_numpy(ellipsoid[None, None]), torch.from_numpy(sphere[None, None]), percentile=95
    ).item()
    assert ours == pytest.approx(theirs, abs=1.0)
