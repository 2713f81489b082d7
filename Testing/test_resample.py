"""Resampling onto a reference grid and rigid registration recover known geometry."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from assistcore.errors import GeometryError
from assistcore.image import Image
from assistcore.resample import align_to_reference, check_same_grid, register_rigid, resample_to_reference


def _blob_image(transform=None) -> Image:
    """An asymmetric 'head' of three ellipsoids on a 2 mm grid, optionally moved by a transform."""
    size, spacing = 48, 2.0
    axis = (np.arange(size) - size / 2) * spacing
    k, j, i = np.meshgrid(axis, axis, axis, indexing="ij")
    points = np.stack([i, j, k], axis=-1).reshape(-1, 3)
    if transform is not None:
        points = np.array([transform.TransformPoint(tuple(p)) for p in points])
    x, y, z = points.T
    values = 100.0 * ((x / 30) ** 2 + (y / 22) ** 2 + (z / 18) ** 2 <= 1)
    values += 80.0 * (((x - 10) / 8) ** 2 + ((y + 6) / 5) ** 2 + ((z - 4) / 6) ** 2 <= 1)
    values += 60.0 * (((x + 12) / 4) ** 2 + ((y - 8) / 9) ** 2 + ((z + 6) / 4) ** 2 <= 1)
    from scipy.ndimage import gaussian_filter

    # smooth edges, like real partial-volume boundaries, give the optimiser a usable gradient
    array = gaussian_filter(values.reshape(size, size, size), 1.0).astype(np.float32)
    return Image(array, (spacing,) * 3, tuple(axis[0] for _ in range(3)), np.eye(3))


def test_resampling_onto_its_own_grid_is_the_identity(an_oblique_image):
    resampled = resample_to_reference(an_oblique_image, an_oblique_image, interpolation="nearest")
    np.testing.assert_array_equal(resampled.array_kji, an_oblique_image.array_kji)
    assert resampled.same_grid(an_oblique_image)


def test_label_maps_keep_their_values_with_nearest_interpolation(an_oblique_image):
    labels = an_oblique_image.with_array((an_oblique_image.array_kji > 100).astype(np.uint8) * 4)
    reference = Image(np.zeros((10, 20, 20), np.float32), (0.5, 0.5, 2.0), (-13.0, 29.0, 3.0), np.eye(3))
    resampled = resample_to_reference(labels, reference, interpolation="nearest")
    assert set(np.unique(resampled.array_kji)) <= {0, 4} and resampled.array_kji.dtype == np.uint8
    assert resampled.same_grid(reference)


def test_rigid_registration_recovers_a_known_rotation_and_shift():
    truth = sitk.Euler3DTransform()
    truth.SetRotation(0.0, 0.0, np.deg2rad(5.0))
    truth.SetTranslation((4.0, -3.0, 2.0))
    fixed = _blob_image()
    moving = _blob_image(truth.GetInverse())  # moving(T(x)) == fixed(x)
    found = register_rigid(moving, fixed)
    recovered = found.transform()
    for point in ([0, 0, 0], [20, -10, 8], [-15, 12, -6]):
        error_mm = np.linalg.norm(np.subtract(recovered.TransformPoint(point), truth.TransformPoint(point)))
        assert error_mm < 1.0, (point, error_mm)
    assert abs(found.rotation_degrees - 5.0) < 1.0


def test_align_reports_same_grid_without_touching_the_image(an_oblique_image):
    aligned, report = align_to_reference(an_oblique_image, an_oblique_image)
    assert aligned is an_oblique_image and report.action == "same_grid"


def test_mismatched_grids_are_named_with_how_they_differ(an_oblique_image):
    shifted = Image(
        an_oblique_image.array_kji, an_oblique_image.spacing_mm, (0.0, 0.0, 0.0), an_oblique_image.direction_lps
    )
    with pytest.raises(GeometryError, match="flair and t1 .*origin"):
        check_same_grid({"t1": an_oblique_image, "flair": shifted})


@pytest.mark.realdata
def test_raw_clinical_t2_is_registered_onto_the_t1_grid(real_data_dir):
    from assistcore.image_io import read_image

    folder = real_data_dir / "brain_tcga" / "TCGA-FG-6692_raw"
    t1 = read_image(next(folder.glob("T1_AX*")))
    t2 = read_image(next(folder.glob("MRHR_T2*")))
    aligned, report = align_to_reference(t2, t1)
    assert report.action == "registered" and aligned.same_grid(t1)
    assert report.registration["metric_value"] < -0.5  # mutual information clearly better than unregistered
