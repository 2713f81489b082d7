"""Geometry-exact reading and writing: DICOM series discovery and ordering, NIfTI/NRRD round trips, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from assistcore.errors import AmbiguousSeriesError, DicomError, GeometryError, ImageValueError, InputError
from assistcore.image import Image
from assistcore.image_io import list_dicom_series, read_image, write_image


def _assert_same_geometry_and_voxels(a: Image, b: Image, atol_mm: float = 1e-5) -> None:
    assert a.shape_kji == b.shape_kji
    np.testing.assert_allclose(a.spacing_mm, b.spacing_mm, atol=atol_mm)
    np.testing.assert_allclose(a.origin_lps, b.origin_lps, atol=atol_mm)
    np.testing.assert_allclose(a.direction_lps, b.direction_lps, atol=1e-6)
    assert a.array_kji.dtype == b.array_kji.dtype
    np.testing.assert_array_equal(a.array_kji, b.array_kji)


def _write_dicom_series(folder, uid_suffix: str, description: str, n_slices: int, names_reversed: bool, angle_deg=20.0):
    """A small oblique MR series written with pydicom; file names run against slice position when asked."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    angle = np.deg2rad(angle_deg)
    row, column = np.array([1.0, 0.0, 0.0]), np.array([0.0, np.cos(angle), np.sin(angle)])
    normal = np.cross(row, column)
    series_uid = f"1.2.826.0.1.3680043.8.498.{uid_suffix}"
    for index in range(n_slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        name = f"IM{(n_slices - index if names_reversed else index + 1):03d}.dcm"
        ds = FileDataset(str(folder / name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.SeriesDescription = "MR", "PHANTOM-1", description
        ds.SeriesInstanceUID, ds.StudyInstanceUID = series_uid, "1.2.826.0.1.3680043.8.498.1"
        ds.SeriesNumber, ds.InstanceNumber = int(uid_suffix), index + 1
        ds.ImageOrientationPatient = [*row.tolist(), *column.tolist()]
        ds.ImagePositionPatient = (np.array([-10.0, 5.0, 30.0]) + index * 2.5 * normal).tolist()
        ds.PixelSpacing, ds.SliceThickness = [0.75, 0.5], 2.5
        ds.Rows, ds.Columns = 6, 8
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = np.full((6, 8), 100 * (index + 1), dtype=np.uint16).tobytes()
        ds.save_as(str(folder / name), enforce_file_format=True)
    return series_uid


@pytest.fixture
def two_series_folder(tmp_path):
    folder = tmp_path / "study"
    first = _write_dicom_series(folder / "a", "11", "AX T2 TSE", 5, names_reversed=True)
    second = _write_dicom_series(folder / "b", "12", "SAG T1", 4, names_reversed=False)
    return folder, first, second


def test_slices_are_ordered_by_position_along_the_normal_not_by_file_name(two_series_folder):
    folder, first_uid, _ = two_series_folder
    image = read_image(folder, series_uid=first_uid)
    assert image.shape_kji == (5, 6, 8)
    assert image.array_kji[:, 0, 0].tolist() == [100, 200, 300, 400, 500]  # slice 1 first although named IM005
    np.testing.assert_allclose(image.origin_lps, [-10.0, 5.0, 30.0], atol=1e-4)
    np.testing.assert_allclose(image.spacing_mm, [0.5, 0.75, 2.5], atol=1e-4)  # column spacing first (i)
    np.testing.assert_allclose(
        image.direction_lps[:, 1], [0.0, np.cos(np.deg2rad(20)), np.sin(np.deg2rad(20))], atol=1e-6
    )
    assert image.metadata.patient_id == "PHANTOM-1" and image.metadata.series_description == "AX T2 TSE"


def test_folder_with_two_series_and_no_choice_lists_both(two_series_folder):
    folder, first_uid, second_uid = two_series_folder
    with pytest.raises(AmbiguousSeriesError) as raised:
        read_image(folder)
    assert first_uid in str(raised.value) and second_uid in str(raised.value) and "--series-uid" in str(raised.value)
    assert {info.series_instance_uid for info in raised.value.series} == {first_uid, second_uid}
    assert read_image(folder, series_description="sag t1").shape_kji == (4, 6, 8)
    assert read_image(folder, series_description="T2").metadata.series_instance_uid == first_uid


def test_truncated_dicom_file_is_named_in_the_error(two_series_folder):
    folder, first_uid, _ = two_series_folder
    victim = folder / "a" / "IM003.dcm"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size - 50])
    with pytest.raises(DicomError, match="IM003.dcm"):
        read_image(folder, series_uid=first_uid)


def test_missing_path_empty_folder_and_folder_without_dicom_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        read_image(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match="No DICOM"):
        read_image(tmp_path / "text")


def test_a_2d_image_is_refused_where_3d_is_needed(tmp_path):
    sitk.WriteImage(sitk.Image(10, 12, sitk.sitkFloat32), str(tmp_path / "slice.nii.gz"))
    with pytest.raises(GeometryError, match="slice.nii.gz"):
        read_image(tmp_path / "slice.nii.gz")


def test_nan_voxels_are_refused_when_finite_values_are_required(tmp_path, an_oblique_image):
    an_oblique_image.array_kji[2, 3, 4] = np.nan
    path = write_image(an_oblique_image, tmp_path / "nan.nrrd")
    assert np.isnan(read_image(path).array_kji).sum() == 1
    with pytest.raises(ImageValueError, match="1 NaN"):
        read_image(path, require_finite=True)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_oblique_non_ras_image_round_trips_exactly(tmp_path, an_oblique_image, suffix):
    _assert_same_geometry_and_voxels(
        an_oblique_image, read_image(write_image(an_oblique_image, tmp_path / f"x{suffix}"))
    )


def test_failed_write_leaves_no_file(tmp_path, an_oblique_image, monkeypatch):
    def broken_write(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sitk, "WriteImage", broken_write)
    with pytest.raises(RuntimeError):
        write_image(an_oblique_image, tmp_path / "out.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_index_and_lps_mappings_are_inverse(an_oblique_image):
    points = np.array([[0, 0, 0], [9, 11, 6], [2.5, 3.25, 1.5]])
    np.testing.assert_allclose(an_oblique_image.lps_to_index(an_oblique_image.index_to_lps(points)), points, atol=1e-9)
    sitk_image = an_oblique_image.to_sitk()
    expected = sitk_image.TransformContinuousIndexToPhysicalPoint((2.5, 3.25, 1.5))
    np.testing.assert_allclose(an_oblique_image.index_to_lps(points[2])[0], expected, atol=1e-9)


@pytest.mark.realdata
def test_prostatex_folder_lists_its_four_series(real_data_dir):
    series = list_dicom_series(real_data_dir / "pelvis_prostatex_dicom" / "ProstateX-0000")
    assert sorted(info.series_description for info in series) == [
        "ep2d_diff_tra_DYNDIST_ADC",
        "t2_tse_cor",
        "t2_tse_sag",
        "t2_tse_tra",
    ]


@pytest.mark.realdata
def test_real_oblique_t2_series_reads_with_gdcm_order_and_first_slice_origin(prostatex_t2_dir):
    import pydicom

    image = read_image(prostatex_t2_dir)
    assert image.size_ijk == (384, 384, 19)
    np.testing.assert_allclose(image.spacing_mm, [0.5, 0.5, 3.0], atol=1e-6)
    tilt_deg = np.degrees(np.arccos(abs(image.direction_lps[2, 2])))
    assert 15 < tilt_deg < 21, "the series is about 18 degrees oblique"
    (info,) = list_dicom_series(prostatex_t2_dir)
    assert list(info.files) == list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(prostatex_t2_dir)))
    first = pydicom.dcmread(info.files[0], stop_before_pixels=True)
    np.testing.assert_allclose(image.origin_lps, [float(v) for v in first.ImagePositionPatient], atol=1e-6)


@pytest.mark.realdata
@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_real_psr_nifti_matches_nibabel_and_round_trips(cervical_t2_psr_path, tmp_path, suffix):
    import nibabel

    image = read_image(cervical_t2_psr_path)
    affine_ras = nibabel.load(str(cervical_t2_psr_path)).affine
    lps_from_ras = np.diag([-1.0, -1.0, 1.0])
    np.testing.assert_allclose(image.index_to_lps_matrix()[:3, :3], lps_from_ras @ affine_ras[:3, :3], atol=1e-5)
    np.testing.assert_allclose(image.origin_lps, lps_from_ras @ affine_ras[:3, 3], atol=1e-4)
    assert nibabel.aff2axcodes(affine_ras) == ("P", "S", "R")
    _assert_same_geometry_and_voxels(image, read_image(write_image(image, tmp_path / f"psr{suffix}")))


@pytest.mark.realdata
def test_real_oblique_dicom_round_trips_through_nifti(prostatex_t2_dir, tmp_path):
    image = read_image(prostatex_t2_dir)
    _assert_same_geometry_and_voxels(image, read_image(write_image(image, tmp_path / "t2.nii.gz")), atol_mm=1e-4)
