"""BreastUSAssist core: fusion across frames, the study's evaluation, descriptors, BUSI folders, the results
document. The command line and the bundled model are tested in test_breast_us_cli.py."""

from __future__ import annotations

import numpy as np
import pytest

from assistcore.breastus.cine import Cine
from assistcore.breastus.descriptors import DESCRIPTOR_FIELDS, LesionDescriptors, descriptor_columns, descriptor_rows
from assistcore.breastus.training import SweepCase, read_busi_folder, score_sweeps
from assistcore.detection import FrameBoxes
from assistcore.errors import InputError
from assistcore.metrics import compare_sensitivities_chi_square
from assistcore.pipelines.breast_us import BreastUsResult, check_cine_frames, fuse_frames


def _frame(index, boxes, scores):
    return FrameBoxes(index, np.array(boxes, float).reshape(-1, 4), np.array(scores, float))


@pytest.mark.parametrize(
    ("single", "multi", "chi2", "p"),
    [
        ((131, 171), (132, 171), 0.016, 0.898),
        ((144, 171), (157, 171), 4.683, 0.030),
        ((147, 171), (163, 171), 8.826, 0.003),
        ((130, 171), (156, 171), 14.435, 0.000),
    ],
)
def test_chi_square_reproduces_the_breast_studys_table(single, multi, chi2, p):
    statistic, p_value = compare_sensitivities_chi_square(single[0], single[1], multi[0], multi[1])
    assert statistic == pytest.approx(chi2, abs=5e-4)
    assert p_value == pytest.approx(p, abs=5e-4)


def test_chi_square_of_identical_perfect_methods_is_undefined_not_an_error():
    statistic, p_value = compare_sensitivities_chi_square(10, 10, 10, 10)
    assert np.isnan(statistic) and np.isnan(p_value)


def test_fusion_groups_overlapping_boxes_of_any_frames_and_keeps_the_best_box():
    lesion = [100, 100, 140, 130]
    frames = [
        _frame(0, [lesion], [0.4]),
        _frame(1, [[102, 101, 141, 132], [10, 10, 30, 30]], [0.9, 0.3]),
        _frame(2, [], []),
        _frame(9, [[99, 98, 139, 129]], [0.6]),  # far in time, same place: decision-level fusion joins it
    ]
    fused = fuse_frames(frames, 0.3)
    assert len(fused) == 2
    lesion_group, other = fused
    assert lesion_group.detection_id == 1 and lesion_group.fused_score == pytest.approx(0.9)
    region = lesion_group.region
    assert (region.first_index, region.last_index, region.peak_index) == (0, 9, 1)
    assert lesion_group.best_box_xy == (102, 101, 141, 132)
    assert lesion_group.region.n_frames == 3
    assert other.fused_score == pytest.approx(0.3) and other.region.n_frames == 1


def test_fusion_iou_threshold_splits_boxes_that_barely_overlap():
    frames = [_frame(0, [[0, 0, 40, 40]], [0.8]), _frame(1, [[30, 30, 70, 70]], [0.7])]  # IoU 100/3100
    assert len(fuse_frames(frames, 0.3)) == 2
    assert len(fuse_frames(frames, 0.03)) == 1


def _cine(n_frames=4, spacing=(0.1, 0.2)):
    return Cine(
        frames=np.zeros((n_frames, 64, 80), np.float32),
        source_path="sweep.dcm",
        kind="dicom",
        frame_time_ms=40.0,
        pixel_spacing_mm=spacing,
        region_xy=None,
        warnings=[],
        metadata={},
    )


def test_results_document_links_frame_boxes_to_their_fused_detection_and_gives_sizes_in_mm():
    frames = [_frame(0, [[10, 10, 30, 20]], [0.8]), _frame(1, [[11, 10, 31, 21], [50, 40, 60, 50]], [0.6, 0.2])]
    result = BreastUsResult(_cine(2), frames, fuse_frames(frames, 0.3), 0.5, 0.3, {"synthetic_demo_model": True})
    result.descriptors.append(LesionDescriptors(1, {"shape": "oval", "posterior_features": "shadowing"}))
    result.reviews[1] = "accept"
    document = result.document()
    assert document["cine"]["pixel_spacing_mm"] == [0.1, 0.2]
    assert [b["detection_id"] for b in document["frames"][1]["boxes"]] == [1, 2]
    first = document["fused"][0]
    assert first["size_mm"] == [pytest.approx(20 * 0.2), pytest.approx(10 * 0.1)]  # width x-spacing, height y
    assert first["above_threshold"] and not document["fused"][1]["above_threshold"]
    assert document["descriptors"][0]["posterior_features"] == "shadowing"
    assert document["reviews"] == {"1": "accept"}
    summary = result.summary()
    assert summary["lesions_at_threshold"] == 1 and summary["frames_with_box_at_threshold"] == [0, 1]
    assert result.summary(0.1)["lesions_at_threshold"] == 2


def test_results_document_has_no_sizes_in_mm_when_the_cine_has_no_spacing():
    frames = [_frame(0, [[10, 10, 30, 20]], [0.8])]
    result = BreastUsResult(_cine(1, None), frames, fuse_frames(frames, 0.3), 0.5, 0.3, {})
    assert result.document()["fused"][0]["size_mm"] is None


def test_frames_that_are_too_small_or_not_finite_are_refused_with_the_file_name():
    small = _cine()
    small.frames = np.zeros((3, 20, 20), np.float32)
    with pytest.raises(InputError, match="sweep.dcm.*too small"):
        check_cine_frames(small)
    broken = _cine()
    broken.frames[1, 5, 5] = np.nan
    with pytest.raises(InputError, match="sweep.dcm.*NaN"):
        check_cine_frames(broken)


def _sweep_case(n_frames, lesion_frames, box):
    boxes = [np.array([box], float) if t in lesion_frames else np.zeros((0, 4)) for t in range(n_frames)]
    ids = [np.array([0]) if t in lesion_frames else np.zeros(0, int) for t in range(n_frames)]
    return SweepCase("case", np.zeros((n_frames, 8, 8), np.float32), boxes, ids)


def test_fused_detection_finds_a_lesion_a_random_single_frame_misses():
    """A lesion seen on 3 of 20 frames: fusion finds it in every sweep, one random frame mostly does not."""
    box = [40, 40, 80, 70]
    cases, detections = [], []
    for _ in range(10):
        cases.append(_sweep_case(20, {5, 6, 7}, box))
        detections.append([_frame(t, [box], [0.9]) if t in (5, 6, 7) else _frame(t, [], []) for t in range(20)])
    metrics = score_sweeps(detections, cases, seed=3)
    rows = {(row["iou"], row["method"]): row for row in metrics["rows"]}
    assert rows[(0.2, "multi_frame")]["sensitivity_at_0.1fp"] == 1.0
    assert rows[(0.2, "single_frame")]["sensitivity_at_0.5fp"] < 0.6
    assert metrics["n_lesions"] == 10 and metrics["n_sequences"] == 10
    chi = next(r for r in metrics["chi_square"] if r["iou"] == 0.2 and r["fp_per_sequence"] == 0.5)
    assert chi["multi_frame_tp"] == 10 and chi["p"] < 0.05


def test_false_positives_per_sweep_limit_the_reported_sensitivity():
    """Each sweep also has a rib box scoring above the lesion: at 0.5 FP per sweep the lesion is never reached."""
    box, rib = [40, 40, 80, 70], [100, 150, 160, 180]
    cases = [_sweep_case(5, {2}, box) for _ in range(4)]
    detections = [
        [_frame(t, [box, rib], [0.6, 0.95]) if t == 2 else _frame(t, [rib], [0.95]) for t in range(5)] for _ in range(4)
    ]
    metrics = score_sweeps(detections, cases)
    multi = next(r for r in metrics["rows"] if r["iou"] == 0.2 and r["method"] == "multi_frame")
    assert multi["sensitivity_at_0.5fp"] == 0.0
    assert multi["tp_fn_fp_at_0.5fp"] == "0/4/0"
    curve = metrics["froc"]["multi_frame_iou0.2"]
    assert curve.sensitivity[-1] == 1.0 and curve.fp_per_sequence[-1] == 1.0


def test_a_box_overlapping_its_lesion_at_iou_0_3_counts_at_0_2_but_not_at_0_5():
    truth, found = [0, 0, 40, 40], [20, 0, 60, 40]  # IoU 800/2400 = 0.33
    cases = [_sweep_case(3, {1}, truth)]
    metrics = score_sweeps([[_frame(1, [found], [0.9])]], cases)
    rows = {(row["iou"], row["method"]): row for row in metrics["rows"]}
    assert rows[(0.2, "multi_frame")]["sensitivity_at_0.5fp"] == 1.0
    assert rows[(0.5, "multi_frame")]["sensitivity_at_0.5fp"] == 0.0


def test_descriptors_accept_the_lexicon_and_refuse_other_values():
    record = LesionDescriptors(2, {"shape": "Irregular", "margin": "spiculated"})
    record.set("skin_retraction", "yes")
    record.set("calcification_form", "punctate")
    assert record.values["shape"] == "irregular" and record.values["skin_retraction"] is True
    with pytest.raises(InputError, match="margin"):
        record.set("margin", "fuzzy")
    with pytest.raises(InputError, match="Unknown lesion descriptor"):
        LesionDescriptors(1, {"colour": "red"})
    with pytest.raises(InputError, match="yes/no"):
        record.set("duct_dilatation", "maybe")
    again = LesionDescriptors.from_dict(record.to_dict())
    assert again == record
    row = descriptor_rows([record])[0]
    assert list(row) == descriptor_columns()
    assert row["skin_retraction"] == "yes" and row["nipple"] == "" and row["detection_id"] == 2
    assert set(DESCRIPTOR_FIELDS) >= {"posterior_features", "calcification_distribution", "axillary_lymph_node"}


def _write_busi(folder, name, picture, masks):
    from PIL import Image as PILImage

    PILImage.fromarray(picture).save(folder / f"{name}.png")
    for suffix, mask in masks.items():
        PILImage.fromarray(mask).save(folder / f"{name}_mask{suffix}.png")


def test_busi_folders_give_one_box_per_mask_region_and_normal_pictures_as_negatives(tmp_path):
    (tmp_path / "benign").mkdir()
    (tmp_path / "normal").mkdir()
    picture = np.full((60, 80), 90, np.uint8)
    first, second = np.zeros((60, 80), np.uint8), np.zeros((60, 80), np.uint8)
    first[10:20, 5:25] = 255
    second[30:50, 40:70] = 255
    _write_busi(tmp_path / "benign", "benign (1)", picture, {"": first, "_1": second})
    _write_busi(tmp_path / "normal", "normal (1)", picture, {"": np.zeros((60, 80), np.uint8)})
    (tmp_path / "benign" / "unlabelled.png").write_bytes((tmp_path / "benign" / "benign (1).png").read_bytes())
    samples = {s.source.split("/")[-1]: s for s in read_busi_folder(tmp_path)}
    assert set(samples) == {"benign (1).png", "normal (1).png"}
    boxes = samples["benign (1).png"].boxes_xy
    assert sorted(boxes.tolist()) == [[5, 10, 25, 20], [40, 30, 70, 50]]
    assert samples["normal (1).png"].boxes_xy.shape == (0, 4)
    assert samples["benign (1).png"].picture.max() == pytest.approx(90 / 255)


def test_busi_mask_of_another_size_is_refused_naming_the_mask(tmp_path):
    _write_busi(tmp_path, "case", np.zeros((60, 80), np.uint8), {"": np.zeros((30, 40), np.uint8)})
    with pytest.raises(InputError, match="case_mask.png"):
        read_busi_folder(tmp_path)


def test_box_fraction_inside_the_imaging_area_counts_pixels_exactly():
    from assistcore.breastus.imaging_area import inside_fractions, summed_area_table

    mask = np.zeros((20, 30), bool)
    mask[5:15, 10:20] = True
    boxes = [[10, 5, 20, 15], [15, 5, 25, 15], [0, 0, 5, 5], [12, 7, 12, 9], [-5, -5, 40, 40]]
    assert inside_fractions(np.array(boxes, float), mask).tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0, 100 / 600])
    # the table built once per cine gives the same fractions as one built per call
    table = summed_area_table(mask)
    assert table[-1, -1] == mask.sum() and table.shape == (21, 31)
    assert inside_fractions(np.array(boxes, float), mask, table).tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0, 1 / 6])


@pytest.mark.realdata
def test_the_imaging_area_of_the_real_echo_cine_is_its_sector_not_the_black_background(real_data_dir):
    from assistcore.breastus.cine import read_cine
    from assistcore.breastus.imaging_area import imaging_area_mask

    cine = read_cine(real_data_dir / "us_cine_dicom" / "examples_ybr_color.dcm")
    mask = imaging_area_mask(cine.frames)
    assert 0.15 < mask.mean() < 0.4
    assert not mask[:40, :60].any() and not mask[-30:, -80:].any()  # labels top left, black bottom right
    assert mask[120, 160] and mask[150, 130]  # the middle of the sector, dark chambers included


def test_a_full_field_phantom_sweep_is_imaging_area_nearly_everywhere():
    from assistcore.breastus.imaging_area import imaging_area_mask
    from assistcore.phantoms.breast_us import generate_breast_sweep

    sweep = generate_breast_sweep(3, n_frames=8)
    assert imaging_area_mask(sweep.frames).mean() > 0.85
    assert imaging_area_mask(np.zeros((3, 64, 64), np.float32)).all()  # nothing textured: nothing is excluded


def test_chi_square_is_null_not_nan_when_both_methods_find_every_lesion():
    import json

    box = [40, 40, 80, 70]
    cases = [_sweep_case(1, {0}, box) for _ in range(3)]
    metrics = score_sweeps([[_frame(0, [box], [0.9])] for _ in range(3)], cases)
    assert all(row["chi2"] is None and row["p"] is None for row in metrics["chi_square"])
    json.dumps(metrics["chi_square"], allow_nan=False)  # strict JSON


def test_without_texture_the_imaging_area_falls_back_to_the_trusted_region_not_the_frame():
    from assistcore.breastus.imaging_area import imaging_area_mask

    mask = imaging_area_mask(np.zeros((2, 40, 50), np.float32), region_xy=(10, 5, 30, 25))
    assert mask.sum() == 20 * 20 and mask[5:25, 10:30].all()
