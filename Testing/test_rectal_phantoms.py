"""Rectal T2 phantoms for CRMAssist: reproducible, truth measured on the labels, boxes drawn as the study did."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistcore.phantoms import rectum
from assistcore.phantoms.rectum import CRM_DISTANCE_MM, PELVIS_LABELS, generate_rectal_phantom


@pytest.fixture(scope="module")
def positive():
    return generate_rectal_phantom(2, crm_positive=True, matrix=256, n_slices=14)


@pytest.fixture(scope="module")
def negative():
    return generate_rectal_phantom(5, crm_positive=False, has_tumour=True, matrix=256, n_slices=14)


def test_the_same_seed_gives_the_same_phantom_and_another_seed_another(positive):
    again = generate_rectal_phantom(2, crm_positive=True, matrix=256, n_slices=14)
    assert np.array_equal(again.t2.array_kji, positive.t2.array_kji)
    assert [b.center_lps for b in again.boxes] == [b.center_lps for b in positive.boxes]
    other = generate_rectal_phantom(3, crm_positive=True, matrix=256, n_slices=14)
    assert not np.array_equal(other.labels.array_kji, positive.labels.array_kji)


def test_labels_share_the_t2_grid_and_use_only_the_documented_values(positive):
    assert positive.labels.same_grid(positive.t2)
    assert set(np.unique(positive.labels.array_kji)) <= set(PELVIS_LABELS)
    assert positive.t2.array_kji.dtype == np.float32 and np.isfinite(positive.t2.array_kji).all()
    assert not np.allclose(positive.t2.direction_lps, np.eye(3))  # tilted: geometry is exercised


def test_a_positive_phantom_has_boxes_exactly_on_its_slices_within_1_mm_of_the_fascia(positive):
    assert positive.crm_positive and positive.positive_slices
    assert {box.slice_index for box in positive.boxes} == set(positive.positive_slices)
    for k in positive.positive_slices:
        assert positive.slice_distance_mm[k] <= CRM_DISTANCE_MM


def test_a_negative_phantom_keeps_its_tumour_more_than_1_mm_from_the_fascia_and_has_no_boxes(negative):
    assert not negative.crm_positive and negative.boxes == []
    assert (negative.labels.array_kji == rectum.TUMOUR).any()
    assert min(negative.slice_distance_mm) > CRM_DISTANCE_MM


def test_every_box_spans_the_fascia_with_tumour_inside_and_other_tissue_beyond(positive):
    labels = positive.labels.array_kji
    for box in positive.boxes:
        k, i0, j0, i1, j1 = box.voxel_corners(positive.t2)
        inside = labels[k, int(np.floor(j0)) : int(np.ceil(j1)), int(np.floor(i0)) : int(np.ceil(i1))]
        assert (inside == rectum.TUMOUR).any()
        assert (inside == rectum.FASCIA).any() or (inside == rectum.TUMOUR).mean() < 0.9  # fascia or its breach
        outside = np.isin(inside, (rectum.PELVIC_FAT, rectum.MUSCLE, rectum.BONE, rectum.ANTERIOR, rectum.BLADDER))
        assert outside.any(), "a box reaches beyond the mesorectal compartment"
        assert 0.05 < (inside == rectum.TUMOUR).mean() < 0.95


def test_box_corners_in_lps_map_back_to_the_same_voxels(positive):
    for box in positive.boxes[:5]:
        k, i0, j0, i1, j1 = box.voxel_corners(positive.t2)
        again = type(box).from_slice_corners(positive.t2, k, i0, j0, i1, j1).voxel_corners(positive.t2)
        assert np.allclose(again, (k, i0, j0, i1, j1), atol=1e-6)


def test_fat_is_bright_on_plain_t2_and_dark_with_fat_suppression():
    means = {}
    for suppressed in (False, True):
        phantom = generate_rectal_phantom(11, fat_suppressed=suppressed, matrix=192, n_slices=6)
        labels, values = phantom.labels.array_kji, phantom.t2.array_kji
        means[suppressed] = values[labels == rectum.MESO_FAT].mean() / values[labels == rectum.WALL].mean()
    assert means[False] > 1.3 and means[True] < 0.9


def test_a_written_case_holds_the_volumes_and_the_truth(positive, tmp_path):
    from assistcore.image_io import read_image

    paths = rectum.write_rectal_phantom_case(positive, tmp_path, "R1")
    assert read_image(paths["t2"]).same_grid(positive.t2)
    truth = json.loads(paths["truth"].read_text())
    assert truth["crm_positive"] and truth["positive_slices"] == positive.positive_slices
    assert len(truth["boxes"]) == len(positive.boxes)


def test_asking_for_a_crm_positive_phantom_always_gives_a_tumour_reaching_the_fascia():
    from assistcore.errors import InputError

    # seed 4 draws "no tumour" (15 % of seeds): it used to come back a silent negative
    phantom = generate_rectal_phantom(4, crm_positive=True, matrix=128, n_slices=8)
    assert phantom.description["has_tumour"] and phantom.crm_positive and phantom.boxes
    with pytest.raises(InputError, match="needs a tumour"):
        generate_rectal_phantom(4, crm_positive=True, has_tumour=False, matrix=128, n_slices=8)
