"""Metrics against values worked out by hand (in the comments) or published."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from assistcore.errors import GeometryError, InputError
from assistcore.metrics import (
    SequenceDetections,
    SequenceLesions,
    box_iou,
    delong_variance,
    diagnostic_table,
    diagnostic_table_from_scores,
    dice_per_label,
    format_table,
    froc,
    hausdorff95,
    hausdorff95_per_label,
    plot_froc,
    plot_roc,
    roc_analysis,
    wilson_interval,
)

# ------------------------------------------------------------------------------------ diagnostic table


def _table_6_2_9_3():
    # tp=6 fp=2 tn=9 fn=3
    truth = [1] * 6 + [0] * 2 + [0] * 9 + [1] * 3
    predicted = [1] * 6 + [1] * 2 + [0] * 9 + [0] * 3
    return diagnostic_table(truth, predicted)


def test_diagnostic_table_matches_hand_computed_values_when_tp6_fp2_tn9_fn3():
    table = _table_6_2_9_3()
    assert (table.tp, table.fp, table.tn, table.fn, table.n) == (6, 2, 9, 3, 20)
    assert table.accuracy == pytest.approx(15 / 20)  # (6 + 9) / 20 = 0.75
    assert table.sensitivity == pytest.approx(6 / 9)  # 6 / (6 + 3) = 0.667
    assert table.specificity == pytest.approx(9 / 11)  # 9 / (9 + 2) = 0.818
    assert table.ppv == pytest.approx(6 / 8)  # 6 / (6 + 2) = 0.75
    assert table.npv == pytest.approx(9 / 12)  # 9 / (9 + 3) = 0.75
    # LR+ = sens / (1 - spec) = (6/9) / (2/11) = 66/18 = 3.667
    assert table.positive_likelihood_ratio == pytest.approx(66 / 18)
    # LR- = (1 - sens) / spec = (3/9) / (9/11) = 33/81 = 0.407
    assert table.negative_likelihood_ratio == pytest.approx(33 / 81)
    assert table.f1 == pytest.approx(12 / 17)  # 2*6 / (2*6 + 2 + 3)
    # Wilson 6/9, z = 1.96: z²/n = 0.42683; centre = (0.66667 + 0.21342) / 1.42683 = 0.61681;
    # half = 1.96 * sqrt(0.024691 + 0.011856) / 1.42683 = 0.26261 -> (0.3542, 0.8794)
    assert table.ci95["sensitivity"] == pytest.approx((0.3542, 0.8794), abs=2e-4)
    # Wilson 15/20: z²/n = 0.19207; centre = (0.75 + 0.09604) / 1.19207 = 0.70973;
    # half = 1.96 * sqrt(0.009375 + 0.0024009) / 1.19207 = 0.17843 -> (0.5313, 0.8881)
    assert table.ci95["accuracy"] == pytest.approx((0.5313, 0.8881), abs=2e-4)


def test_wilson_interval_matches_newcombes_published_examples():
    # Newcombe, Stat Med 1998;17:857-872, Table I, method 3 (Wilson score without continuity correction)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=1e-4)
    assert wilson_interval(1, 29) == pytest.approx((0.0061, 0.1718), abs=1e-4)


def test_likelihood_ratio_is_infinite_when_specificity_is_one_and_empty_class_gives_nan():
    table = diagnostic_table([1, 1, 0], [1, 0, 0])  # sens 1/2, spec 1/1
    assert math.isinf(table.positive_likelihood_ratio)
    assert table.negative_likelihood_ratio == pytest.approx(0.5)
    no_positives = diagnostic_table([0, 0], [0, 0])
    assert math.isnan(no_positives.sensitivity)
    assert all(math.isnan(v) for v in no_positives.ci95["sensitivity"])
    assert math.isnan(no_positives.positive_likelihood_ratio)  # 0/0 stays undefined
    # strict JSON: NaN -> null, inf -> "inf"
    encoded = json.dumps(table.to_dict(), allow_nan=False)
    assert json.loads(encoded)["positive_likelihood_ratio"] == "inf"
    assert json.loads(json.dumps(no_positives.to_dict(), allow_nan=False))["sensitivity"] is None


def test_diagnostic_table_from_scores_calls_positive_at_or_above_the_threshold():
    table = diagnostic_table_from_scores([1, 1, 0, 0], [0.7, 0.69, 0.7, 0.1], threshold=0.7)
    assert (table.tp, table.fn, table.fp, table.tn) == (1, 1, 1, 1)


def test_diagnostic_table_refuses_labels_other_than_zero_and_one():
    with pytest.raises(InputError, match="only 0 and 1"):
        diagnostic_table([1, 2, 1], [1, 1, 0])
    with pytest.raises(InputError, match="3 truth values but 2"):
        diagnostic_table([1, 0, 1], [1, 1])


def test_format_table_aligns_the_diagnostic_rows():
    text = format_table(_table_6_2_9_3().rows())
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "value", "ci95_low", "ci95_high"]
    sensitivity = next(line for line in lines if line.startswith("sensitivity"))
    assert sensitivity.split() == ["sensitivity", "0.667", "0.354", "0.879"]
    assert len({len(line) for line in lines[2:6]}) == 1  # numbers right-aligned to one width


# ------------------------------------------------------------------------------------------------ ROC

# Hanley & McNeil, Radiology 1982;143:29-36, Table 1: CT ratings 1 (definitely normal) .. 5 of 58 normal
# and 51 abnormal patients; published AUC 0.893, SE 0.032 (their exponential approximation).
HANLEY_NORMAL = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
HANLEY_ABNORMAL = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])


def test_auc_and_delong_variance_match_hand_counts_on_six_cases():
    # positives .9 .4 .7, negatives .35 .8 .1: 7 of 9 pairs ordered -> AUC 7/9
    truth = np.array([1, 1, 0, 0, 1, 0], bool)
    scores = np.array([0.9, 0.4, 0.35, 0.8, 0.7, 0.1])
    auc, variance = delong_variance(truth, scores)
    assert auc == pytest.approx(7 / 9)
    # V10 (negatives below each positive) = [1, 2/3, 2/3]: sample variance 3/81
    # V01 (positives above each negative) = [1, 1/3, 1]: sample variance 12/81
    # Var = (3/81)/3 + (12/81)/3 = 15/243 = 0.061728
    assert variance == pytest.approx(15 / 243)
    roc = roc_analysis(truth, scores)
    assert roc.auc == pytest.approx(7 / 9)
    half = 1.959964 * math.sqrt(15 / 243)  # 0.48696
    assert roc.ci == pytest.approx((7 / 9 - half, 1.0), abs=1e-5)  # upper end clipped at 1
    assert (roc.n_positive, roc.n_negative, roc.ci_level, roc.ci_method) == (3, 3, 0.95, "delong")
    # Youden: at threshold 0.7 sens 2/3, spec 2/3 (J 1/3); at 0.4 sens 1, spec 2/3 (J 2/3, the maximum)
    assert (roc.youden_threshold, roc.youden_sensitivity, roc.youden_specificity) == pytest.approx((0.4, 1.0, 2 / 3))


def test_delong_matches_brute_force_and_published_auc_on_tied_ratings():
    truth = np.r_[np.ones(51, bool), np.zeros(58, bool)]
    scores = np.r_[HANLEY_ABNORMAL, HANLEY_NORMAL].astype(float)
    auc, variance = delong_variance(truth, scores)
    assert auc == pytest.approx(0.893, abs=5e-4)  # published
    # DeLong from its definition, O(mn): kernel 1 if positive > negative, 1/2 if tied
    kernel = (HANLEY_ABNORMAL[:, None] > HANLEY_NORMAL[None, :]) + 0.5 * (HANLEY_ABNORMAL[:, None] == HANLEY_NORMAL)
    brute = kernel.mean(axis=1).var(ddof=1) / 51 + kernel.mean(axis=0).var(ddof=1) / 58
    assert variance == pytest.approx(brute, rel=1e-12)
    # DeLong SE 0.0307 vs Hanley & McNeil's approximate SE 0.032: two estimators, close but not equal
    assert math.sqrt(variance) == pytest.approx(0.032, abs=0.002)


def test_delong_and_stratified_bootstrap_intervals_agree_on_a_larger_sample():
    rng = np.random.default_rng(1)
    truth = np.r_[np.ones(150, bool), np.zeros(150, bool)]
    scores = np.r_[rng.normal(1.0, 1.0, 150), rng.normal(0.0, 1.0, 150)]
    delong = roc_analysis(truth, scores)
    bootstrap = roc_analysis(truth, scores, method="bootstrap", n_bootstrap=1000, seed=3)
    assert bootstrap.auc == delong.auc
    assert delong.ci == pytest.approx(bootstrap.ci, abs=0.015)
    assert delong.auc_standard_error == pytest.approx(bootstrap.auc_standard_error, rel=0.15)
    assert delong.ci[0] < delong.auc < delong.ci[1]
    narrower = roc_analysis(truth, scores, ci=0.8)
    assert delong.ci[0] < narrower.ci[0] < narrower.ci[1] < delong.ci[1]
    again = roc_analysis(truth, scores, method="bootstrap", n_bootstrap=1000, seed=3)
    assert again.ci == bootstrap.ci  # seeded


def test_roc_analysis_refuses_a_single_class():
    with pytest.raises(InputError, match="positive and negative"):
        roc_analysis([1, 1, 1], [0.2, 0.4, 0.5])
    with pytest.raises(InputError, match="Unknown AUC interval method"):
        roc_analysis([1, 0], [0.2, 0.4], method="wald")


def test_roc_png_is_a_valid_png_and_no_temporary_file_remains(tmp_path):
    from PIL import Image as PILImage

    first = roc_analysis([1, 0, 1, 0, 1], [0.9, 0.2, 0.6, 0.5, 0.4])
    second = roc_analysis([1, 0, 1, 0, 1], [0.3, 0.2, 0.6, 0.5, 0.4], method="bootstrap", n_bootstrap=200)
    written = plot_roc([("reader", first), ("model", second)], tmp_path / "roc.png", title="CRM")
    assert written == tmp_path / "roc.png"
    with PILImage.open(written) as picture:
        assert picture.format == "PNG" and picture.size[0] > 300
    assert [p.name for p in tmp_path.iterdir()] == ["roc.png"]
    assert json.loads(json.dumps(first.to_dict(), allow_nan=False))["thresholds"][0] == "inf"


def test_plotting_leaves_the_global_matplotlib_backend_alone():
    code = (
        "import sys, matplotlib; before = matplotlib.rcParams._get_backend_or_none()\n"
        "import tempfile, pathlib\n"
        "from assistcore.metrics import plot_roc, roc_analysis\n"
        "plot_roc(roc_analysis([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.5]), pathlib.Path(tempfile.mkdtemp()) / 'r.png')\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert matplotlib.rcParams._get_backend_or_none() == before, before\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ------------------------------------------------------------------------------------- detection / FROC


def test_box_iou_matches_hand_values():
    # [0,0,10,10] vs [3,3,13,13]: intersection 7*7 = 49, union 100 + 100 - 49 = 151
    iou = box_iou([[0, 0, 10, 10]], [[3, 3, 13, 13], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(iou, [[49 / 151, 0.0, 1.0]])
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def _three_sequences():
    # Lesion L1 in sequence 0 at [0,0,10,10]; lesion L2 in sequence 1 at [0,0,10,10]; sequence 2 normal.
    # Detections (score: where):
    #   0.9 seq 0 exactly on L1 (IoU 1)
    #   0.8 seq 0 on [50,50,60,60]: nothing there -> FP
    #   0.7 seq 1 on [4,4,14,14]: IoU with L2 = 36/164 = 0.22 -> hit at IoU 0.2, FP at IoU 0.5
    #   0.6 seq 2 on [20,20,30,30]: normal sequence -> FP
    #   0.5 seq 1 on [1,1,11,11]: IoU with L2 = 81/119 = 0.68 -> hit at both
    detections = [
        (np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), np.array([0.9, 0.8])),
        (np.array([[4, 4, 14, 14], [1, 1, 11, 11]]), np.array([0.7, 0.5])),
        (np.array([[20, 20, 30, 30]]), np.array([0.6])),
    ]
    lesions = [np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10]]), np.zeros((0, 4))]
    return detections, lesions


def test_froc_gives_hand_computed_sensitivities_at_iou_0_2_and_0_5():
    detections, lesions = _three_sequences()
    # IoU 0.2, cumulative (FP, found) from t=0.9 down: 0.9 (0,1) 0.8 (1,1) 0.7 (1,2) 0.6 (2,2) 0.5 (2,2)
    # FP/seq: 0, 1/3, 1/3, 2/3, 2/3; sensitivity: .5, .5, 1, 1, 1
    loose = froc(detections, lesions, iou_threshold=0.2)
    assert loose.fp_per_sequence == pytest.approx([0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert loose.sensitivity == pytest.approx([0, 0.5, 0.5, 1.0, 1.0, 1.0])
    # <= 0.1 and <= 0.2 FP/seq: only t=0.9 (sens .5); <= 0.5: down to t=0.7 (sens 1)
    assert loose.sensitivity_at == {0.1: 0.5, 0.2: 0.5, 0.5: 1.0}
    assert loose.threshold_at == {0.1: 0.9, 0.2: 0.9, 0.5: 0.7}
    # IoU 0.5: 0.7 becomes an FP; (FP, found): 0.9 (0,1) 0.8 (1,1) 0.7 (2,1) 0.6 (3,1) 0.5 (3,2)
    strict = froc(detections, lesions, iou_threshold=0.5)
    assert strict.fp_per_sequence == pytest.approx([0, 0, 1 / 3, 2 / 3, 1, 1])
    assert strict.sensitivity_at == {0.1: 0.5, 0.2: 0.5, 0.5: 0.5}
    assert strict.sensitivity[-1] == 1.0  # found at 1 FP/seq, past every reported rate
    assert (strict.n_lesions, strict.n_sequences) == (2, 3)
    assert json.loads(json.dumps(strict.to_dict(), allow_nan=False))["sensitivity_at"]["0.5"] == 0.5


def test_froc_matches_only_on_the_same_frame_and_counts_a_multi_frame_lesion_once():
    box = [0, 0, 10, 10]
    detections = [SequenceDetections(np.array([box, box]), np.array([0.9, 0.4]), frames=np.array([4, 6]))]
    # one lesion (id 7) drawn on frames 5 and 6
    lesion = SequenceLesions(np.array([box, box]), frames=np.array([5, 6]), lesion_ids=np.array([7, 7]))
    result = froc(detections, [lesion], 0.5, fp_rates=(1.0,))
    # t=0.9: the frame-4 box hits nothing -> 1 FP, lesion missed; t=0.4: frame-6 box finds it
    assert result.n_lesions == 1
    assert result.sensitivity == [0.0, 0.0, 1.0]
    assert result.fp_per_sequence == [0.0, 1.0, 1.0]
    assert result.sensitivity_at[1.0] == 1.0
    with pytest.raises(InputError, match="frame indices given for the detections only"):
        froc(detections, [np.array([box])], 0.5)


def test_froc_png_is_written(tmp_path):
    from PIL import Image as PILImage

    detections, lesions = _three_sequences()
    curves = [("IoU 0.2", froc(detections, lesions, 0.2)), ("IoU 0.5", froc(detections, lesions, 0.5))]
    path = plot_froc(curves, tmp_path / "froc.png")
    with PILImage.open(path) as picture:
        assert picture.format == "PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["froc.png"]


# ------------------------------------------------------------------------------------ segmentation


def test_dice_of_two_overlapping_cubes_matches_hand_value():
    prediction = np.zeros((10, 10, 10), np.uint8)
    reference = np.zeros((10, 10, 10), np.uint8)
    prediction[0:4, 0:4, 0:4] = 1  # 64 voxels
    reference[0:4, 0:4, 2:6] = 1  # 64 voxels, overlap 4*4*2 = 32 -> Dice 2*32/128 = 0.5
    reference[9, 9, 9] = 2  # label 2 only in the reference -> 0
    # label 3 in neither -> 1.0 by convention
    assert dice_per_label(prediction, reference, [1, 2, 3]) == {1: 0.5, 2: 0.0, 3: 1.0}
    with pytest.raises(GeometryError):
        dice_per_label(prediction, reference[:5], [1])


def _cube(shape=(20, 30, 40), start_kji=(5, 8, 10), size=8):
    mask = np.zeros(shape, bool)
    k, j, i = start_kji
    mask[k : k + size, j : j + size, i : i + size] = True
    return mask


def test_hd95_reads_spacing_in_ijk_order_when_the_shift_is_along_k():
    # Spacing (i, j, k) = (0.5, 0.7, 3.0) mm. A shift of 2 voxels along k (array axis 0) is 6 mm; the
    # shifted top face (64 of 296 surface voxels, 22 %) lies 6 mm from the reference surface, so HD95 = 6.
    spacing_mm = (0.5, 0.7, 3.0)
    a, b = _cube(), _cube(start_kji=(7, 8, 10))
    assert hausdorff95(a, b, spacing_mm) == pytest.approx(6.0)
    # the same 2-voxel shift along i (array axis 2) is 2 x 0.5 = 1 mm
    assert hausdorff95(a, _cube(start_kji=(5, 8, 12)), spacing_mm) == pytest.approx(1.0)
    # and along j: 2 x 0.7 = 1.4 mm
    assert hausdorff95(a, _cube(start_kji=(5, 10, 10)), spacing_mm) == pytest.approx(1.4)
    per_label = hausdorff95_per_label(a.astype(np.uint8), b.astype(np.uint8) * 1, [1, 2], spacing_mm)
    assert per_label == {1: pytest.approx(6.0), 2: 0.0}


def test_hd95_is_infinite_when_exactly_one_mask_is_empty():
    a = _cube()
    assert math.isinf(hausdorff95(a, np.zeros_like(a), (1, 1, 1)))
    assert math.isinf(hausdorff95(np.zeros_like(a), a, (1, 1, 1)))
    assert hausdorff95(np.zeros_like(a), np.zeros_like(a), (1, 1, 1)) == 0.0
    with pytest.raises(GeometryError, match="spacing"):
        hausdorff95(a, a, (1, 1))


def test_hd95_does_not_change_when_the_masks_touch_the_volume_border():
    # the crop to the masks' bounding box must not turn interior voxels into surface
    a = np.zeros((12, 12, 12), bool)
    a[0:6, 0:6, 0:6] = True
    b = np.zeros_like(a)
    b[0:6, 0:6, 0:8] = True
    padded_a, padded_b = np.pad(a, 3), np.pad(b, 3)
    spacing = (0.8, 1.0, 2.5)
    assert hausdorff95(a, b, spacing) == pytest.approx(hausdorff95(padded_a, padded_b, spacing))


def _ellipsoid(shape, centre_kji, radii_mm, spacing_mm_ijk):
    k, j, i = np.indices(shape, dtype=float)
    sk, sj, si = spacing_mm_ijk[::-1]
    return (
        ((k - centre_kji[0]) * sk / radii_mm[0]) ** 2
        + ((j - centre_kji[1]) * sj / radii_mm[1]) ** 2
        + ((i - centre_kji[2]) * si / radii_mm[2]) ** 2
    ) <= 1.0


@pytest.mark.models
@pytest.mark.filterwarnings("ignore:.*always_return_as_numpy:FutureWarning")
@pytest.mark.parametrize(
    ("shape", "spacing_mm", "a_args", "b_args"),
    [
        # sphere vs shifted, squashed ellipsoid at 0.8 x 1.0 x 3.0 mm
        ((24, 40, 48), (0.8, 1.0, 3.0), ((12, 20, 24), (24, 14, 14)), ((13, 18, 25), (18, 16, 12))),
        # two overlapping boxes-like blobs at in-plane anisotropy
        ((30, 30, 30), (1.5, 0.6, 1.0), ((15, 15, 15), (8, 6, 12)), ((15, 17, 13), (10, 7, 9))),
    ],
)
def test_hd95_agrees_with_monai_within_a_voxel(shape, spacing_mm, a_args, b_args):
    import torch
    from monai.metrics import compute_hausdorff_distance

    a = _ellipsoid(shape, *a_args, spacing_mm)
    b = _ellipsoid(shape, *b_args, spacing_mm)
    ours = hausdorff95(a, b, spacing_mm)
    theirs = compute_hausdorff_distance(
        torch.from_numpy(a[None, None]),
        torch.from_numpy(b[None, None]),
        percentile=95,
        spacing=list(spacing_mm[::-1]),  # MONAI takes spacing in array axis order
    ).item()
    assert ours > 1.0  # the shapes differ measurably
    assert ours == pytest.approx(theirs, abs=max(spacing_mm))  # the brief's tolerance: one voxel
    assert ours == pytest.approx(theirs, abs=1e-3)  # measured: identical up to MONAI's float32


def _froc_by_definition(detections, lesions, iou_threshold):
    """The FROC rules applied literally, threshold by threshold (slow, for cross-checking)."""
    thresholds = sorted({float(s) for _, scores, _ in detections for s in scores}, reverse=True)
    n_lesions = sum(len(set(ids.tolist())) for _, _, ids in lesions)
    curve = [(0.0, 0.0)]
    for t in thresholds:
        false_positives, found = 0, 0
        for (boxes, scores, frames), (lesion_boxes, lesion_frames, ids) in zip(detections, lesions):
            kept = [d for d in range(len(scores)) if scores[d] >= t]
            hit = {
                (d, b)
                for d in kept
                for b in range(len(lesion_boxes))
                if frames[d] == lesion_frames[b] and box_iou(boxes[d], lesion_boxes[b])[0, 0] >= iou_threshold
            }
            false_positives += sum(1 for d in kept if not any((d, b) in hit for b in range(len(lesion_boxes))))
            found += len({ids[b] for _, b in hit})
        curve.append((false_positives / len(detections), found / n_lesions))
    return curve


def test_froc_agrees_with_the_rules_applied_literally_on_random_cine_sequences():
    rng = np.random.default_rng(7)
    detections, lesions = [], []
    for _ in range(6):
        n, frames = rng.integers(0, 25), 5
        corner = rng.uniform(0, 40, (n, 2))
        boxes = np.c_[corner, corner + rng.uniform(4, 16, (n, 2))]
        # scores rounded to create ties
        detections.append((boxes, np.round(rng.random(n), 1), rng.integers(0, frames, n)))
        count = rng.integers(0, 4)
        lesion_corner = rng.uniform(0, 40, (count, 2))
        lesion_boxes = np.c_[lesion_corner, lesion_corner + 10]
        lesions.append((lesion_boxes, rng.integers(0, frames, count), rng.integers(0, 2, count)))
    for iou_threshold in (0.1, 0.2, 0.5):
        result = froc(detections, lesions, iou_threshold)
        expected = _froc_by_definition(detections, lesions, iou_threshold)
        assert result.fp_per_sequence == pytest.approx([fp for fp, _ in expected])
        assert result.sensitivity == pytest.approx([s for _, s in expected])
        assert max(result.sensitivity) > 0  # the random set does produce hits
