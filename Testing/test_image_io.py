"""Geometry-exact reading and writing: DICOM series discovery and ordering, NIfTI/NRRD round trips, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from assistcore.errors import AmbiguousSeriesError, DicomError, GeometryError, ImageValueError, InputError
from assistcore.image import Image
from assistcore.image_io import list_dicom_series, read_dicom_series, read_image, write_image

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
TILT_DEG = 20.0


def _assert_same_geometry_and_voxels(a: Image, b: Image, atol_mm: float = 1e-5) -> None:
    assert a.shape_kji == b.shape_kji
    np.testing.assert_allclose(a.spacing_mm, b.spacing_mm, rtol=0, atol=atol_mm)
    np.testing.assert_allclose(a.origin_lps, b.origin_lps, rtol=0, atol=atol_mm)
    np.testing.assert_allclose(a.direction_lps, b.direction_lps, rtol=0, atol=1e-6)
    assert a.array_kji.dtype == b.array_kji.dtype
    np.testing.assert_array_equal(a.array_kji, b.array_kji)


def _oblique_axes(angle_deg: float = TILT_DEG) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column cosines of a slice tilted about L, and the slice normal (row x column)."""
    angle = np.deg2rad(angle_deg)
    row, column = np.array([1.0, 0.0, 0.0]), np.array([0.0, np.cos(angle), np.sin(angle)])
    return row, column, np.cross(row, column)


def _new_dataset(path: Path, sop_class: str):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.StudyDescription = "MR", "PHANTOM-1", "pelvis phantom"
    ds.StudyInstanceUID = STUDY_UID
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    return ds


def _write_dicom_series(
    folder: Path,
    uid_suffix: str,
    description: str,
    n_slices: int,
    names_reversed: bool = False,
    angle_deg: float = TILT_DEG,
    slice_offsets_mm: list[float] | None = None,
    pixel_spacings: list[list[float]] | None = None,
    orientations: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> str:
    """A small oblique MR series of 6x8 slices (slice n holds the value 100 n), written with pydicom.

    File names run against slice position when ``names_reversed``; offsets along the normal default to
    2.5 mm steps; per-slice pixel spacings and orientations can be given to build inconsistent series.
    """
    folder.mkdir(parents=True, exist_ok=True)
    row, column, normal = _oblique_axes(angle_deg)
    offsets = slice_offsets_mm if slice_offsets_mm is not None else [2.5 * n for n in range(n_slices)]
    series_uid = f"1.2.826.0.1.3680043.8.498.{uid_suffix}"
    for index, offset in enumerate(offsets):
        name = f"IM{(len(offsets) - index if names_reversed else index + 1):03d}.dcm"
        ds = _new_dataset(folder / name, MR_IMAGE_STORAGE)
        ds.SeriesDescription, ds.SeriesInstanceUID = description, series_uid
        ds.SeriesNumber, ds.InstanceNumber = int(uid_suffix), index + 1
        slice_row, slice_column = orientations[index] if orientations else (row, column)
        ds.ImageOrientationPatient = [*slice_row.tolist(), *slice_column.tolist()]
        ds.ImagePositionPatient = (np.array([-10.0, 5.0, 30.0]) + offset * normal).tolist()
        ds.PixelSpacing = pixel_spacings[index] if pixel_spacings else [0.75, 0.5]  # row spacing, column spacing
        ds.SliceThickness = 2.5
        ds.Rows, ds.Columns = 6, 8
        ds.PixelData = np.full((6, 8), 100 * (index + 1), dtype=np.uint16).tobytes()
        ds.save_as(str(folder / name), enforce_file_format=True)
    return series_uid


def _write_enhanced_mr(path: Path, frame_offsets_mm: list[float]) -> None:
    """One Enhanced MR file holding a frame per offset (frame n holds 100 (n + 1)), positions per frame."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    row, column, normal = _oblique_axes()
    ds = _new_dataset(path, ENHANCED_MR_IMAGE_STORAGE)
    ds.SeriesInstanceUID, ds.SeriesDescription = "1.2.826.0.1.3680043.8.498.77", "enhanced T2"
    ds.NumberOfFrames, ds.Rows, ds.Columns = len(frame_offsets_mm), 6, 8
    measures, orientation, shared = Dataset(), Dataset(), Dataset()
    measures.PixelSpacing, measures.SliceThickness = [0.75, 0.5], 2.5
    orientation.ImageOrientationPatient = [*row.tolist(), *column.tolist()]
    shared.PixelMeasuresSequence, shared.PlaneOrientationSequence = Sequence([measures]), Sequence([orientation])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for offset in frame_offsets_mm:
        position, frame = Dataset(), Dataset()
        position.ImagePositionPatient = (np.array([-10.0, 5.0, 30.0]) + offset * normal).tolist()
        frame.PlanePositionSequence = Sequence([position])
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = np.stack([np.full((6, 8), 100 * (n + 1), np.uint16) for n in range(len(frame_offsets_mm))]).tobytes()
    ds.save_as(str(path), enforce_file_format=True)


@pytest.fixture
def two_series_folder(tmp_path):
    """A study folder with an oblique axial T2 (5 slices, names against position) and a sagittal T1 (4 slices)."""
    folder = tmp_path / "study"
    first = _write_dicom_series(folder / "a", "11", "AX T2 TSE", 5, names_reversed=True)
    second = _write_dicom_series(folder / "b", "12", "SAG T1", 4)
    (folder / "README.txt").write_text("exported by a phantom")
    (folder / "DICOMDIR").write_bytes(b"\0" * 200)
    return folder, first, second


# ----- DICOM: discovery, ordering, choice ------------------------------------------------------


def test_slices_are_ordered_by_position_along_the_normal_not_by_file_name(two_series_folder):
    folder, first_uid, _ = two_series_folder
    image = read_image(folder, series_uid=first_uid)
    assert image.shape_kji == (5, 6, 8)
    assert image.array_kji[:, 0, 0].tolist() == [100, 200, 300, 400, 500]  # slice 1 first although named IM005
    assert image.array_kji.dtype == np.uint16  # the on-disk type is kept
    np.testing.assert_allclose(image.origin_lps, [-10.0, 5.0, 30.0], atol=1e-6)
    np.testing.assert_allclose(image.spacing_mm, [0.5, 0.75, 2.5], atol=1e-6)  # column spacing first (i)
    row, column, normal = _oblique_axes()
    np.testing.assert_allclose(image.direction_lps, np.column_stack([row, column, normal]), atol=1e-6)
    assert image.metadata.patient_id == "PHANTOM-1" and image.metadata.series_description == "AX T2 TSE"
    assert image.metadata.modality == "MR" and image.metadata.study_description == "pelvis phantom"
    assert image.metadata.series_instance_uid == first_uid and image.metadata.study_instance_uid == STUDY_UID


def test_listing_skips_non_image_files_and_orders_each_series(two_series_folder):
    folder, first_uid, second_uid = two_series_folder
    series = list_dicom_series(folder)
    assert [info.series_instance_uid for info in series] == [first_uid, second_uid]  # by series number
    axial = series[0]
    assert [Path(f).name for f in axial.files] == ["IM005.dcm", "IM004.dcm", "IM003.dcm", "IM002.dcm", "IM001.dcm"]
    assert axial.number_of_files == 5 and (axial.rows, axial.columns) == (6, 8)
    assert axial.slice_spacing_mm == pytest.approx(2.5) and axial.pixel_spacing_mm == (0.75, 0.5)
    assert axial.readable and axial.modality == "MR" and axial.patient_id == "PHANTOM-1"


def test_folder_with_two_series_and_no_choice_lists_both(two_series_folder):
    folder, first_uid, second_uid = two_series_folder
    with pytest.raises(AmbiguousSeriesError) as raised:
        read_image(folder)
    message = str(raised.value)
    assert first_uid in message and second_uid in message and "AX T2 TSE" in message and "SAG T1" in message
    assert "--series-uid" in message
    assert {info.series_instance_uid for info in raised.value.series} == {first_uid, second_uid}


def test_series_is_chosen_by_uid_or_by_description_case_insensitively(two_series_folder):
    folder, first_uid, second_uid = two_series_folder
    assert read_image(folder, series_uid=second_uid).shape_kji == (4, 6, 8)
    assert read_image(folder, series_description="sag t1").metadata.series_instance_uid == second_uid
    assert read_image(folder, series_description="T2").metadata.series_instance_uid == first_uid  # substring
    with pytest.raises(InputError, match="not found.*SAG T1"):
        read_image(folder, series_uid="1.2.3.4")
    with pytest.raises(InputError, match="No series described like 'FLAIR'"):
        read_image(folder, series_description="FLAIR")


def test_several_substring_matches_are_ambiguous_but_an_exact_description_wins(tmp_path):
    _write_dicom_series(tmp_path / "a", "21", "T2 AX", 3)
    _write_dicom_series(tmp_path / "b", "22", "T2 AX fat sat", 3)
    with pytest.raises(AmbiguousSeriesError, match="2 series .* match 'ax'") as raised:
        read_image(tmp_path, series_description="ax")
    assert len(raised.value.series) == 2
    assert read_image(tmp_path, series_description="t2 ax").metadata.series_description == "T2 AX"


def test_a_single_dicom_file_reads_as_its_whole_series(two_series_folder):
    folder, first_uid, _ = two_series_folder
    image = read_image(folder / "a" / "IM003.dcm")
    assert image.metadata.series_instance_uid == first_uid and image.shape_kji == (5, 6, 8)


# ----- DICOM: damaged and inconsistent series --------------------------------------------------


def test_file_cut_in_half_is_named_in_the_error(two_series_folder):
    folder, first_uid, _ = two_series_folder
    victim = folder / "a" / "IM005.dcm"  # the first slice along the normal: must not be silently dropped
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.raises(DicomError, match="IM005.dcm"):
        read_image(folder, series_uid=first_uid)
    with pytest.raises(DicomError, match="IM005.dcm"):
        list_dicom_series(folder)


def test_file_with_truncated_pixel_data_is_named_and_other_series_stay_readable(two_series_folder):
    folder, first_uid, second_uid = two_series_folder
    victim = folder / "a" / "IM003.dcm"
    victim.write_bytes(victim.read_bytes()[:-50])
    with pytest.raises(DicomError, match=r"IM003.dcm is truncated"):
        read_image(folder, series_uid=first_uid)
    assert read_image(folder, series_uid=second_uid).shape_kji == (4, 6, 8)


def test_missing_slice_makes_the_series_irregular(tmp_path):
    _write_dicom_series(tmp_path, "31", "AX T2", 4, slice_offsets_mm=[0.0, 2.5, 7.5, 10.0])
    (info,) = list_dicom_series(tmp_path)
    assert "irregular" in info.problem
    with pytest.raises(DicomError, match="irregular.*7.5|irregular.*5.000 mm"):
        read_image(tmp_path)


def test_two_slices_at_one_position_are_refused(tmp_path):
    _write_dicom_series(tmp_path, "32", "DWI", 4, slice_offsets_mm=[0.0, 2.5, 2.5, 5.0])
    with pytest.raises(DicomError, match="same position"):
        read_image(tmp_path)


def test_slices_with_different_pixel_sizes_are_refused(tmp_path):
    spacings = [[0.75, 0.5], [0.75, 0.5], [0.8, 0.5]]
    _write_dicom_series(tmp_path, "33", "AX T2", 3, pixel_spacings=spacings)
    with pytest.raises(DicomError, match="different pixel spacings"):
        read_image(tmp_path)


def test_a_localiser_mixing_planes_is_listed_but_does_not_block_other_series(tmp_path):
    row, column, _ = _oblique_axes(0.0)
    planes = [(row, column), (row, np.array([0.0, 0.0, -1.0])), (np.array([0.0, 1.0, 0.0]), np.array([0, 0, -1.0]))]
    _write_dicom_series(tmp_path / "loc", "1", "localizer", 3, orientations=planes)
    t2_uid = _write_dicom_series(tmp_path / "t2", "2", "AX T2", 3)
    localiser, t2 = list_dicom_series(tmp_path)
    assert "mixes slice orientations" in localiser.problem and t2.readable
    assert "not readable as a volume" in localiser.describe()
    assert read_image(tmp_path, series_description="ax t2").metadata.series_instance_uid == t2_uid
    with pytest.raises(DicomError, match="localizer.*mixes slice orientations"):
        read_image(tmp_path, series_description="localizer")


# ----- DICOM: multi-frame ----------------------------------------------------------------------


def test_enhanced_multiframe_file_reads_as_a_volume_with_its_frame_geometry(tmp_path):
    _write_enhanced_mr(tmp_path / "enhanced.dcm", [0.0, 2.5, 5.0, 7.5])
    image = read_image(tmp_path / "enhanced.dcm")
    assert image.shape_kji == (4, 6, 8) and image.array_kji[:, 0, 0].tolist() == [100, 200, 300, 400]
    np.testing.assert_allclose(image.spacing_mm, [0.5, 0.75, 2.5], atol=1e-6)
    np.testing.assert_allclose(image.origin_lps, [-10.0, 5.0, 30.0], atol=1e-6)
    np.testing.assert_allclose(image.direction_lps[:, 2], _oblique_axes()[2], atol=1e-6)
    assert read_image(tmp_path).shape_kji == (4, 6, 8)  # the same file found in its folder


def test_enhanced_file_with_unevenly_spaced_frames_is_refused(tmp_path):
    # GDCM silently falls back to 1 mm voxels here; the frame positions give it away
    _write_enhanced_mr(tmp_path / "enhanced.dcm", [0.0, 2.5, 7.5, 10.0])
    with pytest.raises(DicomError, match="enhanced.dcm.*uniform spacing"):
        read_image(tmp_path / "enhanced.dcm")


# ----- other bad input -------------------------------------------------------------------------


def test_missing_path_empty_folder_and_folder_without_dicom_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist: .*nope"):
        read_image(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        read_image(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("not an image")
    (tmp_path / "text" / "scan.dcm").write_text("not DICOM either")
    with pytest.raises(InputError, match="No DICOM image series found in .*text"):
        read_image(tmp_path / "text")
    with pytest.raises(InputError, match="neither a DICOM image"):
        read_image(tmp_path / "text" / "notes.txt")


@pytest.mark.parametrize("shape_xyz", [(10, 12), (10, 12, 1)], ids=["2d_nifti", "3d_nifti_with_one_slice"])
def test_a_2d_image_is_refused_where_3d_is_needed(tmp_path, shape_xyz):
    sitk.WriteImage(sitk.Image(list(shape_xyz), sitk.sitkFloat32), str(tmp_path / "slice.nii.gz"))
    with pytest.raises(GeometryError, match="slice.nii.gz holds a single 2D slice"):
        read_image(tmp_path / "slice.nii.gz")


def test_a_single_slice_dicom_series_is_refused_as_2d(tmp_path):
    _write_dicom_series(tmp_path, "41", "one slice", 1)
    with pytest.raises(GeometryError, match="IM001.dcm holds a single 2D slice"):
        read_image(tmp_path)


def test_4d_images_are_refused_unless_the_4th_axis_has_one_volume(tmp_path):
    one = sitk.JoinSeries([sitk.Image([5, 6, 7], sitk.sitkInt16)])
    sitk.WriteImage(one, str(tmp_path / "one.nii.gz"))
    assert read_image(tmp_path / "one.nii.gz").shape_kji == (7, 6, 5)
    two = sitk.JoinSeries([sitk.Image([5, 6, 7], sitk.sitkInt16)] * 2)
    sitk.WriteImage(two, str(tmp_path / "two.nii.gz"))
    with pytest.raises(GeometryError, match="two.nii.gz is a 4D image"):
        read_image(tmp_path / "two.nii.gz")


def test_colour_images_are_refused(tmp_path):
    sitk.WriteImage(sitk.Image([5, 6, 7], sitk.sitkVectorUInt8, 3), str(tmp_path / "rgb.nrrd"))
    with pytest.raises(GeometryError, match="rgb.nrrd is a colour or vector image .*3 components"):
        read_image(tmp_path / "rgb.nrrd")


def test_nan_and_infinite_voxels_are_counted_when_finite_values_are_required(tmp_path, an_oblique_image):
    an_oblique_image.array_kji[2, 3, 4] = np.nan
    an_oblique_image.array_kji[0, 0, 0] = np.inf
    path = write_image(an_oblique_image, tmp_path / "nan.nrrd")
    assert np.isnan(read_image(path).array_kji).sum() == 1  # reading alone does not judge values
    with pytest.raises(ImageValueError, match=r"nan.nrrd has 2 NaN or infinite voxels"):
        read_image(path, as_scan=True)


# ----- writing and geometry --------------------------------------------------------------------


def test_image_and_simpleitk_round_trip_keeps_geometry_and_voxels(an_oblique_image):
    sitk_image = an_oblique_image.to_sitk()
    assert sitk_image.GetSize() == an_oblique_image.size_ijk
    np.testing.assert_array_equal(sitk_image.GetDirection(), an_oblique_image.direction_lps.flatten())
    _assert_same_geometry_and_voxels(an_oblique_image, Image.from_sitk(sitk_image), atol_mm=0)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_oblique_non_ras_image_round_trips_exactly(tmp_path, an_oblique_image, suffix):
    assert np.linalg.det(an_oblique_image.direction_lps) < 0  # a flipped, oblique grid
    back = read_image(write_image(an_oblique_image, tmp_path / f"x{suffix}"))
    _assert_same_geometry_and_voxels(an_oblique_image, back, atol_mm=1e-5 if suffix.startswith(".nii") else 1e-12)


def test_written_nifti_has_the_affine_other_tools_read(tmp_path, an_oblique_image):
    import nibabel

    path = write_image(an_oblique_image, tmp_path / "x.nii.gz")
    affine_ras = nibabel.load(str(path)).affine  # nibabel reads the sform, as Slicer and ITK-SNAP do
    np.testing.assert_allclose(np.diag([-1, -1, 1, 1]) @ affine_ras, an_oblique_image.index_to_lps_matrix(), atol=1e-5)


def test_boolean_masks_are_written_as_uint8(tmp_path, an_oblique_image):
    mask = an_oblique_image.with_array(an_oblique_image.array_kji > 100)
    back = read_image(write_image(mask, tmp_path / "deep" / "er" / "mask.nii.gz"))
    assert back.array_kji.dtype == np.uint8
    np.testing.assert_array_equal(back.array_kji, mask.array_kji.astype(np.uint8))


def test_failed_write_leaves_no_file(tmp_path, an_oblique_image, monkeypatch):
    def write_half_then_fail(image, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(sitk, "WriteImage", write_half_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        write_image(an_oblique_image, tmp_path / "out.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_unknown_output_format_is_refused(tmp_path, an_oblique_image):
    with pytest.raises(InputError, match="out.png: unknown format"):
        write_image(an_oblique_image, tmp_path / "out.png")


def test_index_and_lps_mappings_are_inverse_and_match_simpleitk(an_oblique_image):
    points = np.array([[0, 0, 0], [9, 11, 6], [2.5, 3.25, 1.5]])
    np.testing.assert_allclose(an_oblique_image.lps_to_index(an_oblique_image.index_to_lps(points)), points, atol=1e-9)
    sitk_image = an_oblique_image.to_sitk()
    for point in points:
        expected = sitk_image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in point))
        np.testing.assert_allclose(an_oblique_image.index_to_lps(point)[0], expected, atol=1e-9)


# ----- real data -------------------------------------------------------------------------------


@pytest.mark.realdata
def test_prostatex_folder_lists_its_four_series(real_data_dir):
    series = list_dicom_series(real_data_dir / "pelvis_prostatex_dicom" / "ProstateX-0000")
    assert [(info.series_description, info.number_of_files) for info in series] == [
        ("t2_tse_sag", 19),
        ("t2_tse_tra", 19),
        ("t2_tse_cor", 15),
        ("ep2d_diff_tra_DYNDIST_ADC", 19),
    ]
    assert all(info.readable and info.patient_id == "ProstateX-0000" for info in series)


@pytest.mark.realdata
def test_same_description_in_two_patients_is_ambiguous_and_names_the_patients(real_data_dir):
    with pytest.raises(AmbiguousSeriesError, match="ProstateX-0000.*ProstateX-0001") as raised:
        read_image(real_data_dir / "pelvis_prostatex_dicom", series_description="t2_tse_tra")
    assert len(raised.value.series) == 2


@pytest.mark.realdata
def test_real_oblique_t2_series_reads_with_gdcm_order_and_first_slice_origin(prostatex_t2_dir):
    import pydicom

    image = read_image(prostatex_t2_dir)
    assert image.size_ijk == (384, 384, 19) and image.array_kji.dtype == np.uint16
    np.testing.assert_allclose(image.spacing_mm, [0.5, 0.5, 3.0], atol=1e-6)
    tilt_deg = np.degrees(np.arccos(abs(image.direction_lps[2, 2])))
    assert 15 < tilt_deg < 21, "the series is about 18 degrees oblique"
    (info,) = list_dicom_series(prostatex_t2_dir)
    assert list(info.files) == list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(prostatex_t2_dir)))
    first = pydicom.dcmread(info.files[0], stop_before_pixels=True)
    np.testing.assert_allclose(image.origin_lps, [float(v) for v in first.ImagePositionPatient], atol=1e-6)
    normal = np.cross(*np.reshape([float(v) for v in first.ImageOrientationPatient], (2, 3)))
    np.testing.assert_allclose(image.direction_lps[:, 2], normal, atol=1e-6)
    assert image.metadata.patient_id == "ProstateX-0000" and image.metadata.series_description == "t2_tse_tra"
    # the same series found from its study folder by description
    study = prostatex_t2_dir.parent.parent
    _assert_same_geometry_and_voxels(image, read_dicom_series(study, series_description="T2_TSE_TRA"), atol_mm=0)


@pytest.mark.realdata
@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_real_psr_nifti_matches_nibabel_and_round_trips(cervical_t2_psr_path, tmp_path, suffix):
    import nibabel

    image = read_image(cervical_t2_psr_path)
    affine_ras = nibabel.load(str(cervical_t2_psr_path)).affine
    lps_from_ras = np.diag([-1.0, -1.0, 1.0])
    np.testing.assert_allclose(image.index_to_lps_matrix()[:3, :3], lps_from_ras @ affine_ras[:3, :3], atol=1e-5)
    np.testing.assert_allclose(image.origin_lps, lps_from_ras @ affine_ras[:3, 3], atol=1e-5)
    assert nibabel.aff2axcodes(affine_ras) == ("P", "S", "R")
    _assert_same_geometry_and_voxels(image, read_image(write_image(image, tmp_path / f"psr{suffix}")))


@pytest.mark.realdata
@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_real_oblique_dicom_round_trips_through_nifti_and_nrrd(prostatex_t2_dir, tmp_path, suffix):
    image = read_image(prostatex_t2_dir)
    back = read_image(write_image(image, tmp_path / f"t2{suffix}"))
    _assert_same_geometry_and_voxels(image, back, atol_mm=1e-5 if suffix == ".nii.gz" else 1e-12)


@pytest.mark.realdata
def test_real_colour_ultrasound_dicom_is_refused(real_data_dir):
    with pytest.raises(GeometryError, match="examples_ybr_color.dcm is a colour"):
        read_image(real_data_dir / "us_cine_dicom" / "examples_ybr_color.dcm")


def test_atomically_written_files_and_folders_get_normal_permissions_not_private_temp_ones(tmp_path):
    import os
    import stat

    from assistcore.atomic import _UMASK, atomic_directory, write_text_atomic

    written = write_text_atomic(tmp_path / "report.json", "{}")
    with atomic_directory(tmp_path / "results") as staging:
        (staging / "a.txt").write_text("x")
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o666 & ~_UMASK
    assert stat.S_IMODE(os.stat(tmp_path / "results").st_mode) == 0o777 & ~_UMASK
