"""Brain tumour regions, label conventions and the consensus QA checks on small hand-made label maps."""

from __future__ import annotations

import numpy as np
import pytest

from assistcore.brain.qa import axial_array_axis, run_qa
from assistcore.brain.regions import from_convention, labels_from_region_masks, region_masks, to_convention
from assistcore.errors import InputError
from assistcore.image import Image


def _reference(shape_kji=(20, 30, 30), spacing=(1.0, 1.0, 2.0), direction=None) -> Image:
    array = np.zeros(shape_kji, dtype=np.float32)
    array[1:-1, 2:-2, 2:-2] = 100.0  # a "skull-stripped brain" filling most of the field
    return Image(array, spacing, (0.0, 0.0, 0.0), np.eye(3) if direction is None else direction)


def _sphere(shape, center, radius):
    k, j, i = np.indices(shape)
    return (k - center[0]) ** 2 + (j - center[1]) ** 2 + (i - center[2]) ** 2 <= radius**2


def test_regions_nest_as_the_consensus_defines():
    labels = np.array([0, 1, 2, 3], dtype=np.uint8).reshape(1, 1, 4)
    masks = region_masks(labels)
    assert masks["whole_tumor"].ravel().tolist() == [False, True, True, True]
    assert masks["tumor_body"].ravel().tolist() == [False, True, False, True]
    assert masks["enhancing"].ravel().tolist() == [False, False, False, True]
    assert masks["non_enhancing"].ravel().tolist() == [False, True, False, False]


def test_brats2021_export_writes_4_for_enhancing_and_reads_back():
    labels = np.array([0, 1, 2, 3], dtype=np.uint8).reshape(1, 1, 4)
    exported = to_convention(labels, "brats2021")["labels"]
    assert exported.ravel().tolist() == [0, 1, 2, 4]
    assert np.array_equal(from_convention(exported, "brats2021"), labels)
    assert to_convention(labels, "brats2023")["labels"].ravel().tolist() == [0, 1, 2, 3]


def test_reading_a_brats2021_file_as_brats2023_is_refused_with_the_values_seen():
    with pytest.raises(InputError, match=r"\[4\]"):
        from_convention(np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2), "brats2023")


def test_region_export_gives_four_binary_masks():
    labels = np.array([0, 1, 2, 3], dtype=np.uint8).reshape(1, 1, 4)
    exported = to_convention(labels, "regions")
    assert set(exported) == {"whole_tumor", "tumor_body", "enhancing", "non_enhancing"}
    assert exported["tumor_body"].ravel().tolist() == [0, 1, 0, 1]


def test_overlapping_region_masks_combine_with_enhancing_winning():
    shape = (1, 1, 4)
    masks = {
        "whole_tumor": np.array([0, 1, 1, 1], bool).reshape(shape),
        "tumor_body": np.array([0, 0, 1, 1], bool).reshape(shape),
        "enhancing": np.array([0, 0, 0, 1], bool).reshape(shape),
    }
    assert labels_from_region_masks(masks).ravel().tolist() == [0, 2, 1, 3]


def test_lesions_are_listed_with_volume_in_ml_and_axial_slice_range():
    reference = _reference()
    labels = np.zeros(reference.shape_kji, dtype=np.uint8)
    labels[3:7, 5:10, 5:10] = 2  # 4 x 5 x 5 = 100 voxels of 2 mm^3 -> 0.2 mL
    labels[12:14, 20:22, 20:22] = 3  # 8 voxels -> 0.016 mL
    report = run_qa(labels, reference)
    assert [lesion.volume_ml for lesion in report.lesions] == pytest.approx([0.2, 0.016])
    assert (report.lesions[0].first_axial_slice, report.lesions[0].last_axial_slice) == (3, 6)
    assert (report.lesions[1].first_axial_slice, report.lesions[1].last_axial_slice) == (12, 13)
    assert report.lesions[1].region_volumes_ml["enhancing"] == pytest.approx(0.016)
    assert report.region_volumes_ml["whole_tumor"] == pytest.approx(0.216)


def test_axial_slices_follow_the_superior_axis_not_the_array_order():
    # a sagittal stack: k runs left-right, i runs superior -> axial slices are across array axis 2 (i)
    direction = np.column_stack([[0, 0, 1], [0, 1, 0], [1, 0, 0]]).astype(float)
    reference = _reference(direction=direction)
    assert axial_array_axis(reference) == 2
    labels = np.zeros(reference.shape_kji, dtype=np.uint8)
    labels[3:7, 5:10, 11:14] = 2
    lesion = run_qa(labels, reference).lesions[0]
    assert (lesion.first_axial_slice, lesion.last_axial_slice) == (11, 13)


def test_enhancing_outside_tumour_body_breaks_nesting():
    reference = _reference()
    masks = {name: np.zeros(reference.shape_kji, bool) for name in ("whole_tumor", "tumor_body", "enhancing")}
    masks["whole_tumor"][5:10, 5:15, 5:15] = True
    masks["tumor_body"][6:9, 7:12, 7:12] = True
    masks["enhancing"][6:9, 7:13, 7:12] = True  # one column (3 x 1 x 5 = 15 voxels) sticks out of the body
    report = run_qa(masks, reference)
    nesting = [flag for flag in report.flags if flag.check == "nesting"]
    assert [(flag.region, flag.voxels) for flag in nesting] == [("enhancing", 15)]
    assert not report.passed


def test_small_islands_are_flagged_and_large_ones_are_not():
    reference = _reference(spacing=(1.0, 1.0, 1.0))
    labels = np.zeros(reference.shape_kji, dtype=np.uint8)
    labels[_sphere(reference.shape_kji, (10, 15, 15), 5)] = 2
    labels[2, 3, 3] = 2  # 1 mm^3 stray click
    islands = [flag for flag in run_qa(labels, reference).flags if flag.check == "island"]
    assert {(flag.region, flag.voxels, flag.axial_slice) for flag in islands} == {("whole_tumor", 1, 2)}


def test_labels_outside_the_brain_are_flagged_except_meninges_in_extra_axial_mode():
    reference = _reference()
    labels = np.zeros(reference.shape_kji, dtype=np.uint8)
    labels[0, 0:3, 0:3] = 3  # enhancing on the rim outside the brain (meninges)
    labels[5:8, 10:14, 10:14] = 2
    intra = run_qa(labels, reference)
    assert [(flag.check, flag.voxels) for flag in intra.flags if flag.check == "outside_brain"] == [
        ("outside_brain", 9)
    ]
    extra = run_qa(labels, reference, extra_axial=True)
    assert not [flag for flag in extra.flags if flag.check == "outside_brain"]
    labels[0, 0:2, 0:2] = 2  # edema outside the parenchyma is wrong even for extra-axial tumours
    extra = run_qa(labels, reference, extra_axial=True)
    assert [(flag.region, flag.voxels) for flag in extra.flags if flag.check == "outside_brain"] == [("edema", 4)]


def test_a_lesion_cut_flat_on_its_first_slice_is_flagged_and_a_sphere_is_not():
    reference = _reference(shape_kji=(30, 40, 40), spacing=(1.0, 1.0, 1.0))
    sphere = np.zeros(reference.shape_kji, dtype=np.uint8)
    sphere[_sphere(reference.shape_kji, (15, 20, 20), 8)] = 2
    assert not [flag for flag in run_qa(sphere, reference).flags if flag.check == "abrupt_end"]
    cut = sphere.copy()
    cut[:15] = 0  # the upper half was never drawn: the lesion starts at its widest section
    flags = [flag for flag in run_qa(cut, reference).flags if flag.check == "abrupt_end"]
    assert [(flag.axial_slice, "first" in flag.message) for flag in flags] == [(15, True)]


def test_quality_grade_outside_1_to_3_is_refused():
    with pytest.raises(InputError):
        run_qa(np.zeros((20, 30, 30), np.uint8), _reference(), image_quality_grade=4)
