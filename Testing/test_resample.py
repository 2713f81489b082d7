"""Resampling onto a reference grid and rigid registration recover known geometry."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from assistcore.errors import GeometryError, InputError
from assistcore.image import Image
from assistcore.resample import (
    RigidRegistration,
    align_to_reference,
    check_same_grid,
    register_rigid,
    resample_to_reference,
)


def _blob_image(transform=None, origin_shift_mm=(0.0, 0.0, 0.0)) -> Image:
    """An asymmetric 'head' of three smooth ellipsoids on a 48^3 grid of 2 mm, optionally moved by a transform.

    ``transform`` maps this image's points to where the template is sampled; ``origin_shift_mm`` moves the
    grid (and the object with it) in LPS.
    """
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
    origin = tuple(axis[0] + shift for shift in origin_shift_mm)
    return Image(array, (spacing,) * 3, origin, np.eye(3))


def _known_motion() -> sitk.Euler3DTransform:
    """5 degrees about S and a 4 mm shift along L (plus smaller shifts), fixed -> moving."""
    truth = sitk.Euler3DTransform()
    truth.SetRotation(0.0, 0.0, np.deg2rad(5.0))
    truth.SetTranslation((4.0, -2.0, 1.0))
    return truth


def _max_point_error_mm(found: RigidRegistration, truth, shift_mm=(0.0, 0.0, 0.0)) -> float:
    errors = []
    for point in ([0, 0, 0], [20, -10, 8], [-15, 12, -6], [25, 20, -15]):
        expected = np.add(truth.TransformPoint(point), shift_mm)
        errors.append(np.linalg.norm(np.subtract(found.transform().TransformPoint(point), expected)))
    return float(max(errors))


def test_resampling_onto_its_own_grid_is_the_identity(an_oblique_image):
    for interpolation in ("nearest", "linear", "bspline"):
        resampled = resample_to_reference(an_oblique_image, an_oblique_image, interpolation=interpolation)
        np.testing.assert_allclose(resampled.array_kji, an_oblique_image.array_kji, rtol=1e-5, atol=1e-3)
        assert resampled.same_grid(an_oblique_image) and resampled.array_kji.dtype == np.float32


def test_label_maps_keep_their_values_with_nearest_interpolation(an_oblique_image):
    labels = an_oblique_image.with_array((an_oblique_image.array_kji > 100).astype(np.uint8) * 4)
    reference = Image(np.zeros((10, 20, 20), np.float32), (0.5, 0.5, 2.0), (-13.0, 29.0, 3.0), np.eye(3))
    resampled = resample_to_reference(labels, reference, interpolation="nearest")
    assert set(np.unique(resampled.array_kji)) == {0, 4} and resampled.array_kji.dtype == np.uint8
    assert resampled.same_grid(reference)


def test_unknown_interpolation_is_refused(an_oblique_image):
    with pytest.raises(InputError, match="'cubic'.*linear, nearest, bspline"):
        resample_to_reference(an_oblique_image, an_oblique_image, interpolation="cubic")


def test_resampling_with_the_true_motion_undoes_it():
    truth = _known_motion()
    fixed, moving = _blob_image(), _blob_image(truth.GetInverse())  # moving(truth(x)) == fixed(x)
    undone = resample_to_reference(moving, fixed, transform=truth)
    inside = fixed.array_kji > 50
    assert np.abs(undone.array_kji - fixed.array_kji)[inside].mean() < 3.0  # of intensities 100 to 240
    untouched = resample_to_reference(moving, fixed)
    assert np.abs(untouched.array_kji - fixed.array_kji)[inside].mean() > 10.0


def test_rigid_registration_recovers_a_known_rotation_and_shift():
    truth = _known_motion()
    fixed, moving = _blob_image(), _blob_image(truth.GetInverse())
    found = register_rigid(moving, fixed)
    assert found.initialisation == "identity"  # overlapping boxes: the headers are trusted as a start
    assert _max_point_error_mm(found, truth) < 1.0
    assert abs(found.rotation_degrees - 5.0) < 1.0
    assert found.improved and found.metric_value < found.metric_initial
    again = register_rigid(moving, fixed)
    # repeatable (seeded sampling); ITK's threads may sum in another order under load, so compare where the
    # two transforms put points, to a tenth of a millimetre
    assert _max_point_error_mm(again, found.transform()) < 0.1
    rebuilt = found.transform()
    assert isinstance(rebuilt, sitk.Euler3DTransform)
    np.testing.assert_allclose(rebuilt.GetParameters(), found.parameters, atol=1e-12)


def test_registration_starts_from_centred_boxes_when_headers_do_not_overlap():
    truth = _known_motion()
    shift_mm = (180.0, -120.0, 60.0)  # another session: the moving grid is nowhere near the fixed one
    fixed, moving = _blob_image(), _blob_image(truth.GetInverse(), origin_shift_mm=shift_mm)
    found = register_rigid(moving, fixed)
    assert found.initialisation == "geometry"
    assert _max_point_error_mm(found, truth, shift_mm) < 1.0


def test_align_reports_same_grid_without_touching_the_image(an_oblique_image):
    aligned, report = align_to_reference(an_oblique_image, an_oblique_image)
    assert aligned is an_oblique_image and report.action == "same_grid" and report.registration == {}


def test_align_without_registration_resamples_by_the_headers(an_oblique_image):
    reference = Image(np.zeros((6, 14, 12), np.float32), (0.8, 0.8, 2.5), (-12.0, 30.0, 4.0), np.eye(3))
    aligned, report = align_to_reference(an_oblique_image, reference, register=False)
    assert report.action == "resampled" and "no registration" in report.message
    assert aligned.same_grid(reference) and report.to_dict()["action"] == "resampled"


def test_mismatched_grids_are_named_with_how_they_differ(an_oblique_image):
    shifted = Image(
        an_oblique_image.array_kji, an_oblique_image.spacing_mm, (0.0, 0.0, 0.0), an_oblique_image.direction_lps
    )
    finer = Image(np.zeros((7, 12, 10), np.float32), (0.7, 0.8, 1.5), an_oblique_image.origin_lps, np.eye(3))
    with pytest.raises(GeometryError) as raised:
        check_same_grid({"t1": an_oblique_image, "flair": shifted, "t2": finer, "t1c": an_oblique_image})
    message = str(raised.value)
    assert "flair and t1 are on different grids: origin (0.0, 0.0, 0.0) vs (-12.5, 30.25, 4.0)" in message
    assert "t2 and t1" in message and "spacing" in message and "direction (axes up to 180.00 degrees" in message
    assert "t1c" not in message
    check_same_grid({"t1": an_oblique_image, "copy": an_oblique_image.with_array(an_oblique_image.array_kji)})
    check_same_grid({"only": an_oblique_image})


@pytest.mark.realdata
def test_raw_clinical_t2_is_registered_onto_the_t1_grid(real_data_dir):
    from assistcore.image_io import read_image

    folder = real_data_dir / "brain_tcga" / "TCGA-FG-6692_raw"
    t1 = read_image(next(folder.glob("T1_AX*")))
    t2 = read_image(next(folder.glob("MRHR_T2*")))
    assert not t2.same_grid(t1)
    aligned, report = align_to_reference(t2, t1)
    assert report.action == "registered" and aligned.same_grid(t1) and aligned.array_kji.dtype == t2.array_kji.dtype
    assert "registered" in report.message.lower()
    details = report.registration
    # these raw series are misaligned by their headers (about 15 degrees, 18 mm): registration must find it
    assert details["metric_value"] < details["metric_initial"] - 0.2
    assert 10 < details["rotation_degrees"] < 20 and 10 < details["translation_norm_mm"] < 30
