"""Breast-ultrasound sweep phantoms for BreastUSAssist: reproducible, boxes on what the frames show, confounders."""

from __future__ import annotations

import numpy as np
import pytest

from assistcore.errors import InputError
from assistcore.phantoms import breast_us
from assistcore.phantoms.breast_us import (
    LESION_VALUES,
    describe_breast_sweep,
    frames_to_uint8,
    generate_breast_sweep,
    read_sweep_truth,
    write_sweep_case,
)


def _seed_where(condition, **kwargs) -> int:
    """The first seed whose drawn sweep (described, not rendered) satisfies ``condition(lesions)``."""
    for seed in range(2000):
        if condition(describe_breast_sweep(seed, **kwargs)["lesions"]):
            return seed
    raise AssertionError("no seed draws such a sweep")


def _solid_lesion(posterior: str):
    def condition(lesions):
        lesion = lesions[0]
        return (
            lesion["posterior_features"] == posterior
            and lesion["internal_echo"] == "hypoechoic"
            and not lesion["small_low_contrast"]
            and lesion["contrast"] < 0.35
            and lesion["margin"] in ("circumscribed", "indistinct", "microlobulated")
            and min(lesion["radii_mm"][:2]) > 3.0
        )

    return condition


@pytest.fixture(scope="module")
def sweep():
    seed = _seed_where(_solid_lesion("none"), n_frames=24, n_lesions=1, ribs=False)
    return generate_breast_sweep(seed, n_frames=24, n_lesions=1, ribs=False)


@pytest.fixture(scope="module")
def rib_sweep():
    return generate_breast_sweep(3, n_frames=6, n_lesions=0, ribs=True)


def _peak_frames(sweep, lesion_index: int = 0, count: int = 4) -> list[int]:
    """The ``count`` frames where the lesion's box is largest."""
    areas = {}
    for t, (boxes, ids) in enumerate(zip(sweep.boxes_xy, sweep.lesion_ids)):
        for box, lesion_id in zip(boxes, ids):
            if lesion_id == lesion_index:
                areas[t] = float((box[2] - box[0]) * (box[3] - box[1]))
    return sorted(areas, key=areas.get)[-count:]


def test_the_same_seed_gives_the_same_sweep_and_another_seed_another():
    first = generate_breast_sweep(11, n_frames=4, shape_hw=(96, 128), n_lesions=1)
    again = generate_breast_sweep(11, n_frames=4, shape_hw=(96, 128), n_lesions=1)
    other = generate_breast_sweep(12, n_frames=4, shape_hw=(96, 128), n_lesions=1)
    assert np.array_equal(first.frames, again.frames)
    assert all(np.array_equal(a, b) for a, b in zip(first.boxes_xy, again.boxes_xy))
    assert first.lesions == again.lesions
    assert not np.allclose(first.frames, other.frames)


def test_frames_are_float32_grey_in_0_1_with_per_frame_truth_of_the_documented_types(sweep):
    assert sweep.frames.shape == (24, 256, 256) and sweep.n_frames == 24
    assert sweep.frames.dtype == np.float32 and np.isfinite(sweep.frames).all()
    assert sweep.frames.min() >= 0.0 and sweep.frames.max() <= 1.0 and 0.15 < sweep.frames.mean() < 0.75
    assert len(sweep.boxes_xy) == len(sweep.lesion_ids) == len(sweep.rib_boxes_xy) == 24
    for boxes, ids, ribs in zip(sweep.boxes_xy, sweep.lesion_ids, sweep.rib_boxes_xy):
        assert boxes.dtype == np.float32 and boxes.shape == (len(ids), 4) and ids.dtype == np.int64
        assert ribs.dtype == np.float32 and ribs.shape == (0, 4)
    lesion = sweep.lesions[0]
    for key, values in LESION_VALUES.items():
        assert lesion[key] in values
    assert lesion["id"] == 0 and len(lesion["centre_mm"]) == 3 and len(lesion["radii_mm"]) == 3
    assert sweep.pixel_spacing_mm == 0.15 and sweep.frame_time_ms > 0 and sweep.elevation_step_mm > 0


def test_the_skin_is_a_bright_line_at_the_top_and_depth_rows_are_not_all_alike(sweep):
    profile = sweep.frames.mean(axis=(0, 2))
    skin_rows = int(1.0 / sweep.pixel_spacing_mm)
    assert profile[:skin_rows].mean() > profile[skin_rows * 3 : skin_rows * 8].mean() + 0.05
    assert profile.std() > 0.03  # layers: fat, gland, muscle differ in echo


def test_boxes_lie_inside_the_frame_on_a_darker_lesion_than_the_tissue_beside_it(sweep):
    height, width = sweep.frames.shape[1:]
    for boxes in sweep.boxes_xy:
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            assert x0 == int(x0) and y1 == int(y1)  # pixel edges
    for t in _peak_frames(sweep):
        x0, y0, x1, y1 = sweep.boxes_xy[t][0].astype(int)
        inset_x, inset_y = (x1 - x0) // 4, (y1 - y0) // 4
        inside = sweep.frames[t, y0 + inset_y : y1 - inset_y, x0 + inset_x : x1 - inset_x].mean()
        beside = np.concatenate(
            [sweep.frames[t, y0:y1, max(0, x0 - 25) : max(0, x0 - 5)], sweep.frames[t, y0:y1, x1 + 5 : x1 + 25]],
            axis=1,
        ).mean()
        assert inside < beside - 0.05, (t, inside, beside)


def test_a_lesion_appears_in_one_run_of_frames_growing_then_shrinking(sweep):
    frames = sweep.frames_with_lesion()
    assert frames == sweep.lesions[0]["frames"]
    assert frames == list(range(frames[0], frames[-1] + 1)), "one contiguous run"
    assert 3 <= len(frames) < sweep.n_frames, "the sweep passes through the lesion, not along it"
    areas = np.array([np.prod(sweep.boxes_xy[t][0, 2:] - sweep.boxes_xy[t][0, :2]) for t in frames])
    peak = int(np.argmax(areas))
    assert areas[0] < 0.5 * areas[peak] and areas[-1] < 0.5 * areas[peak]
    assert np.all(np.diff(areas[: peak + 1]) >= -0.1 * areas[peak])  # grows ...
    assert np.all(np.diff(areas[peak:]) <= 0.1 * areas[peak])  # ... then shrinks


def test_adjacent_frames_are_correlated_and_distant_frames_much_less(sweep):
    frames = sweep.frames - sweep.frames.mean(axis=(1, 2), keepdims=True)

    def correlation(a, b):
        return float((frames[a] * frames[b]).sum() / np.sqrt((frames[a] ** 2).sum() * (frames[b] ** 2).sum()))

    assert correlation(0, 1) > 0.3
    assert correlation(0, 1) > correlation(0, 15) + 0.1


def test_no_lesion_means_no_box_and_no_lesion(rib_sweep):
    assert rib_sweep.lesions == [] and rib_sweep.frames_with_lesion() == []
    assert all(
        boxes.shape == (0, 4) and ids.shape == (0,) for boxes, ids in zip(rib_sweep.boxes_xy, rib_sweep.lesion_ids)
    )


def test_ribs_are_boxed_deep_in_the_field_and_shadow_the_tissue_beneath(rib_sweep):
    height, width = rib_sweep.frames.shape[1:]
    assert all(len(ribs) >= 1 for ribs in rib_sweep.rib_boxes_xy)
    for t, ribs in enumerate(rib_sweep.rib_boxes_xy):
        frame = rib_sweep.frames[t]
        away = np.ones(width, bool)
        for x0, _y0, x1, _y1 in ribs:
            away[max(0, int(x0) - 15) : int(x1) + 15] = False
        for x0, y0, x1, y1 in ribs:
            assert y0 > height / 2 and y1 <= height and 0 <= x0 < x1 <= width
            rows = slice(int(y1) + 2, height)
            under = frame[rows, int(x0) + (int(x1) - int(x0)) // 4 : int(x1) - (int(x1) - int(x0)) // 4]
            if under.shape[1] >= 4 and away.sum() >= 8:
                assert under.mean() < 0.5 * frame[rows][:, away].mean(), (t, under.mean())


def _posterior_contrast(sweep) -> float:
    """Mean grey under the lesion over mean grey beside it, same rows, over its largest cross-sections."""
    height = sweep.frames.shape[1]
    ratios = []
    for t in _peak_frames(sweep, count=3):
        x0, _y0, x1, y1 = sweep.boxes_xy[t][0].astype(int)
        rows = slice(y1 + 3, min(height, y1 + 40))
        quarter = (x1 - x0) // 4
        under = sweep.frames[t, rows, x0 + quarter : x1 - quarter].mean()
        beside = np.concatenate(
            [sweep.frames[t, rows, max(0, x0 - 30) : max(0, x0 - 8)], sweep.frames[t, rows, x1 + 8 : x1 + 30]],
            axis=1,
        ).mean()
        ratios.append(under / beside)
    return float(np.mean(ratios))


def test_posterior_shadowing_darkens_below_the_lesion_and_a_lesion_without_it_does_not(sweep):
    seed = _seed_where(_solid_lesion("shadowing"), n_frames=14, n_lesions=1, ribs=False)
    shadowing = generate_breast_sweep(seed, n_frames=14, n_lesions=1, ribs=False)
    assert shadowing.lesions[0]["posterior_features"] == "shadowing"
    assert _posterior_contrast(shadowing) < 0.8
    assert _posterior_contrast(sweep) > 0.85  # posterior features "none"


def test_cysts_are_near_black_with_posterior_enhancement():
    def cyst_with_enhancement(lesions):
        return lesions[0]["kind"] == "cyst" and lesions[0]["posterior_features"] == "enhancement"

    seed = _seed_where(cyst_with_enhancement, n_frames=14, n_lesions=1, ribs=False)
    cyst = generate_breast_sweep(seed, n_frames=14, n_lesions=1, ribs=False)
    assert cyst.lesions[0]["internal_echo"] == "anechoic" and cyst.lesions[0]["contrast"] < 0.1
    assert _posterior_contrast(cyst) > 1.05
    t = _peak_frames(cyst, count=1)[0]
    x0, y0, x1, y1 = cyst.boxes_xy[t][0].astype(int)
    centre = cyst.frames[t, (y0 + y1) // 2 - 3 : (y0 + y1) // 2 + 3, (x0 + x1) // 2 - 3 : (x0 + x1) // 2 + 3]
    assert centre.mean() < 0.12


def test_drawn_sweeps_follow_the_documented_mix_of_lesions_ribs_and_descriptors():
    described = [describe_breast_sweep(seed) for seed in range(150)]
    without = np.mean([len(d["lesions"]) == 0 for d in described])
    with_ribs = np.mean([d["ribs"] > 0 for d in described])
    assert 0.08 < without < 0.35 and 0.2 < with_ribs < 0.5
    assert max(len(d["lesions"]) for d in described) == 2
    lesions = [lesion for d in described for lesion in d["lesions"]]
    small = [lesion for lesion in lesions if lesion["small_low_contrast"]]
    assert small and all(0.7 <= lesion["contrast"] <= 0.85 for lesion in small)
    assert all(max(lesion["radii_mm"]) <= 4.0 for lesion in small)
    assert all(max(lesion["radii_mm"]) <= 12.0 for lesion in lesions)
    assert {lesion["orientation"] for lesion in lesions} == set(LESION_VALUES["orientation"])
    for lesion in lesions:
        wider = min(lesion["radii_mm"][0], lesion["radii_mm"][2]) > lesion["radii_mm"][1]
        assert wider == (lesion["orientation"] == "parallel"), lesion
    for key in ("shape", "margin", "posterior_features", "internal_echo"):
        assert {lesion[key] for lesion in lesions} == set(LESION_VALUES[key]), key


def test_two_lesions_get_their_own_ids_and_each_one_run_of_frames():
    both = generate_breast_sweep(5, n_frames=30, shape_hw=(128, 192), pixel_spacing_mm=0.25, n_lesions=2)
    assert [lesion["id"] for lesion in both.lesions] == [0, 1]
    for index, lesion in enumerate(both.lesions):
        frames = [t for t, ids in enumerate(both.lesion_ids) if index in ids]
        assert frames == lesion["frames"] and frames == list(range(frames[0], frames[-1] + 1))


def test_unusable_arguments_raise_input_errors():
    with pytest.raises(InputError):
        generate_breast_sweep(1, n_frames=0)
    with pytest.raises(InputError):
        generate_breast_sweep(1, shape_hw=(8, 8))
    with pytest.raises(InputError):
        generate_breast_sweep(1, n_lesions=-1)
    with pytest.raises(InputError):  # 9.6 mm deep: no room for ribs and their shadow
        generate_breast_sweep(1, shape_hw=(64, 64), ribs=True)


def test_the_written_cine_is_a_valid_ultrasound_multiframe_dicom_holding_the_8_bit_frames(tmp_path):
    import pydicom

    small = generate_breast_sweep(8, n_frames=5, shape_hw=(96, 128), n_lesions=1)
    paths = write_sweep_case(small, tmp_path, "BUS001")
    assert paths["cine"] == tmp_path / "BUS001.dcm" and paths["truth"] == tmp_path / "BUS001_truth.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BUS001.dcm", "BUS001_truth.json"]  # no leftovers
    ds = pydicom.dcmread(paths["cine"])
    assert ds.SOPClassUID == breast_us.US_MULTIFRAME_SOP_CLASS == ds.file_meta.MediaStorageSOPClassUID
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID and ds.Modality == "US"
    assert ds.PatientID == "BUS001" and ds.PhotometricInterpretation == "MONOCHROME2"
    assert int(ds.NumberOfFrames) == 5 and (ds.Rows, ds.Columns) == (96, 128)
    assert ds.BitsAllocated == 8 and ds.SamplesPerPixel == 1
    assert float(ds.FrameTime) == pytest.approx(small.frame_time_ms, abs=1e-3)
    assert int(ds.CineRate) == round(1000 / small.frame_time_ms)
    (region,) = ds.SequenceOfUltrasoundRegions
    assert region.RegionSpatialFormat == 1 and region.RegionDataType == 1
    assert region.PhysicalUnitsXDirection == region.PhysicalUnitsYDirection == 3
    assert region.PhysicalDeltaX == pytest.approx(0.015) and region.PhysicalDeltaY == pytest.approx(0.015)
    assert (region.RegionLocationMinX0, region.RegionLocationMinY0) == (0, 0)
    assert (region.RegionLocationMaxX1, region.RegionLocationMaxY1) == (127, 95)
    assert np.array_equal(ds.pixel_array, frames_to_uint8(small.frames))
    again = write_sweep_case(small, tmp_path / "again", "BUS001")
    assert pydicom.dcmread(again["cine"]).StudyInstanceUID != ds.StudyInstanceUID  # fresh UIDs per write


def test_the_truth_json_reads_back_as_the_sweep_truth(tmp_path):
    small = generate_breast_sweep(8, n_frames=5, shape_hw=(112, 128), n_lesions=1, ribs=True)
    truth = read_sweep_truth(write_sweep_case(small, tmp_path, "BUS002")["truth"])
    assert truth["case_id"] == "BUS002" and truth["n_frames"] == 5 and truth["seed"] == 8
    assert truth["pixel_spacing_mm"] == small.pixel_spacing_mm and truth["frame_time_ms"] == small.frame_time_ms
    assert truth["lesions"] == small.lesions
    for key in ("boxes_xy", "rib_boxes_xy"):
        assert len(truth[key]) == 5
        for read, drawn in zip(truth[key], getattr(small, key)):
            assert read.dtype == np.float32 and read.shape == drawn.shape and np.allclose(read, drawn)
    assert any(len(ribs) for ribs in truth["rib_boxes_xy"])
    for read, drawn in zip(truth["lesion_ids"], small.lesion_ids):
        assert read.dtype == np.int64 and np.array_equal(read, drawn)
    with pytest.raises(InputError):
        read_sweep_truth(tmp_path / "missing.json")
