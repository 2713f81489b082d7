"""Ultrasound cine reading (assistcore.breastus.cine): real pydicom US samples, synthetic DICOM, videos written
with PyAV, frame folders, pictures, and every refused input (each error names the file and says what to do)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistcore.breastus.cine import Cine, doppler_fraction, read_cine
from assistcore.errors import DicomError, ImageValueError, InputError
from assistcore.paths import sample_data_dir

US_SAMPLES = "us_cine_dicom"


# ----- helpers ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def us_dir() -> Path:
    folder = sample_data_dir() / US_SAMPLES
    if not folder.is_dir():
        pytest.skip(f"real ultrasound samples not found at {folder} (set RADASSIST_DATA)")
    return folder


def _speckle(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Grey B-mode-like uint8 texture: a bright band (a 'fascia') over Rayleigh speckle."""
    rng = np.random.default_rng(seed)
    texture = rng.rayleigh(40.0, size=shape)
    texture[..., shape[-2] // 3 : shape[-2] // 3 + 4, :] += 120
    return np.clip(texture, 0, 255).astype(np.uint8)


def _region(x0: int, y0: int, x1: int, y1: int, delta_x_cm: float, delta_y_cm: float, data_type: int = 1):
    """One SequenceOfUltrasoundRegions item: (x1, y1) is the last pixel inside, as in DICOM."""
    from pydicom.dataset import Dataset

    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = data_type
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = x0, y0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = x1, y1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX, region.PhysicalDeltaY = delta_x_cm, delta_y_cm
    return region


def _write_us_dicom(
    path: Path,
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    transfer_syntax: str | None = None,
    encapsulated: bytes | None = None,
    **tags,
) -> Path:
    """A minimal ultrasound DICOM file: ``pixels`` (T, H, W[, 3]) or (H, W[, 3]), uint8 or uint16."""
    from pydicom import dcmwrite
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    colour = photometric in ("RGB", "YBR_FULL")
    multiframe = pixels.ndim == (4 if colour else 3)
    sop_class = UID("1.2.840.10008.5.1.4.1.1.3.1" if multiframe else "1.2.840.10008.5.1.4.1.1.6.1")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = UID(transfer_syntax) if transfer_syntax else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.Manufacturer, ds.PatientID = "US", "Synthetic", "P-001"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.4", "1.2.3.4.5"
    height, width = pixels.shape[1:3] if multiframe else pixels.shape[:2]
    ds.Rows, ds.Columns = height, width
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored = bits, bits_stored or bits
    ds.HighBit, ds.PixelRepresentation = ds.BitsStored - 1, 0
    if multiframe:
        ds.NumberOfFrames = pixels.shape[0]
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    if encapsulated is not None:
        from pydicom.encaps import encapsulate

        ds.PixelData = encapsulate([encapsulated])
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def _moving_disk_frames(count: int = 12, height: int = 64, width: int = 80) -> np.ndarray:
    """(T, H, W) uint8: a smooth gradient with a bright disk moving right (survives lossy video codecs)."""
    rows, columns = np.mgrid[0:height, 0:width]
    frames = []
    for t in range(count):
        frame = 40 + 80 * rows / height
        frame = np.where((rows - height / 2) ** 2 + (columns - 15 - 4 * t) ** 2 < 64, 220, frame)
        frames.append(frame)
    return np.asarray(frames, dtype=np.uint8)


def _encode_video(frames: np.ndarray, target, codec: str, container_format: str | None = None) -> None:
    import av

    with av.open(target, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 4_000_000
        for grey in frames:
            rgb = np.repeat(grey[..., None], 3, axis=2)
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _assert_clear(error: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    """The error names the file and says what to do (the hint), with the expected words."""
    text = str(error.value)
    assert str(path) in text, text
    assert error.value.hint, f"no hint on what to do: {text}"
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} not in {text!r}"


# ----- real samples ----------------------------------------------------------------------------------


def test_real_multiframe_ybr_cine_reads_30_grey_frames_and_distrusts_its_out_of_frame_region(us_dir):
    cine = read_cine(us_dir / "examples_ybr_color.dcm")
    assert isinstance(cine, Cine) and cine.kind == "dicom"
    assert cine.frames.shape == (30, 240, 320) and cine.frames.dtype == np.float32
    assert cine.n_frames == 30 and cine.shape_hw == (240, 320)
    assert cine.frames.min() >= 0.0 and cine.frames.max() <= 1.0
    assert cine.frame_time_ms == pytest.approx(33.333)
    # Region (84,31)-(595,414) cannot belong to a 320x240 frame: the copy was downscaled, its spacing is wrong.
    assert cine.pixel_spacing_mm is None and cine.region_xy is None
    assert any("does not fit" in note and "pixel spacing unknown" in note for note in cine.warnings)
    assert cine.metadata["manufacturer"] == "SonoSite, Inc." and cine.metadata["modality"] == "US"
    assert cine.metadata["patient_id"] == "204" and cine.metadata["sop_uid"].startswith("1.2.840.114340")
    # It is a real cine: the heart moves between frames, the echo is bright in the middle, the corners are black.
    assert np.abs(cine.frames[0] - cine.frames[15]).mean() > 0.005
    assert cine.frames[:, 80:160, 120:200].mean() > 5 * cine.frames[:, 170:, :40].mean()


def test_real_power_doppler_frame_is_refused(us_dir):
    path = us_dir / "examples_rgb_color.dcm"
    with pytest.raises(InputError) as error:
        read_cine(path)
    _assert_clear(error, path, "Doppler", "% coloured pixels", "B-mode")


def test_real_palette_b_mode_with_blue_ui_band_reads_as_one_grey_frame(us_dir):
    path = us_dir / "examples_palette.dcm"
    cine = read_cine(path)
    assert cine.frames.shape == (1, 350, 800) and cine.kind == "dicom"
    # The Philips title band (RGB 37,62,94 through the palette) becomes its BT.601 luminance.
    assert cine.frames[0, 5, 400] == pytest.approx((0.299 * 37 + 0.587 * 62 + 0.114 * 94) / 255, abs=2e-3)
    assert cine.frames.max() == pytest.approx(1.0)  # 16-bit palette entries holding 8-bit values * 256
    # Its region runs to row 518 of a 350-row frame (a cropped copy): calibration not trusted.
    assert cine.pixel_spacing_mm is None and cine.warnings
    assert cine.frame_time_ms is None
    with pytest.raises(InputError) as error:
        read_cine(path, require_multiframe=True)
    _assert_clear(error, path, "is a single frame, not a cine", "--require-cine")


def test_truncated_real_jpeg_cine_is_refused(us_dir, tmp_path):
    data = (us_dir / "examples_ybr_color.dcm").read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DicomError) as error:
        read_cine(path)
    _assert_clear(error, path, "is truncated")


# ----- synthetic DICOM -------------------------------------------------------------------------------


def test_synthetic_multiframe_grey_dicom_with_region_calibration(tmp_path):
    pixels = _speckle((5, 48, 64))
    region = _region(2, 3, 61, 45, delta_x_cm=0.01, delta_y_cm=0.012)
    path = _write_us_dicom(tmp_path / "cine.dcm", pixels, FrameTime=50.0, SequenceOfUltrasoundRegions=[region])
    cine = read_cine(path, require_multiframe=True)
    assert cine.frames.shape == (5, 48, 64)
    np.testing.assert_allclose(cine.frames, pixels / 255.0, atol=1e-6)
    assert cine.frame_time_ms == pytest.approx(50.0)
    assert cine.pixel_spacing_mm == pytest.approx((0.12, 0.1))  # (row/y, column/x) mm from cm
    assert cine.region_xy == (2, 3, 62, 46)  # exclusive pixel edges
    assert cine.warnings == []
    assert cine.metadata["patient_id"] == "P-001" and cine.metadata["series_uid"] == "1.2.3.4.5"


def test_16_bit_monochrome1_uses_bits_stored_frame_time_vector_and_pixel_spacing(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 4096, size=(4, 20, 30), dtype=np.uint16)
    path = _write_us_dicom(
        tmp_path / "mono1.dcm",
        pixels,
        photometric="MONOCHROME1",
        bits_stored=12,
        FrameTimeVector=[0, 40, 40, 40],
        PixelSpacing=[0.3, 0.2],
    )
    cine = read_cine(path)
    np.testing.assert_allclose(cine.frames, 1.0 - pixels / 4095.0, atol=1e-6)  # MONOCHROME1: low is white
    assert cine.frame_time_ms == pytest.approx(40.0)
    assert cine.pixel_spacing_mm == pytest.approx((0.3, 0.2)) and cine.region_xy is None


def test_cine_rate_gives_frame_time_and_a_region_outside_the_frame_drops_every_calibration(tmp_path):
    pixels = _speckle((3, 40, 50))
    path = _write_us_dicom(
        tmp_path / "resized.dcm",
        pixels,
        CineRate=20,
        PixelSpacing=[0.2, 0.2],
        SequenceOfUltrasoundRegions=[_region(10, 5, 99, 79, 0.01, 0.01)],
    )
    cine = read_cine(path)
    assert cine.frame_time_ms == pytest.approx(50.0)
    assert cine.pixel_spacing_mm is None and cine.region_xy is None
    assert len(cine.warnings) == 1 and str(path) in cine.warnings[0]


def test_grey_b_mode_stored_as_rgb_with_small_coloured_marks_passes(tmp_path):
    grey = _speckle((60, 80), seed=3)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[30, 30:36] = (0, 255, 0)  # a green caliper cross and a yellow text mark: UI, not Doppler
    rgb[27:33, 33] = (0, 255, 0)
    rgb[50:54, 40:48] = (255, 255, 0)
    path = _write_us_dicom(tmp_path / "rgb_grey.dcm", rgb, photometric="RGB")
    cine = read_cine(path)
    assert cine.frames.shape == (1, 60, 80)
    expected = grey / 255.0
    np.testing.assert_allclose(cine.frames[0, :20], expected[:20], atol=1e-5)  # luminance of R=G=B is the grey


def test_native_ybr_full_grey_reads_as_its_luma(tmp_path):
    grey = _speckle((2, 30, 40), seed=9)
    ybr = np.stack([grey, np.full_like(grey, 128), np.full_like(grey, 128)], axis=-1)  # no chroma
    cine = read_cine(_write_us_dicom(tmp_path / "ybr.dcm", ybr, photometric="YBR_FULL"))
    assert np.abs(cine.frames - grey / 255.0).max() < 2.5 / 255  # YBR -> RGB -> BT.601 luma, rounding only


def test_synthetic_doppler_blob_in_one_frame_of_a_cine_is_refused_naming_the_frame(tmp_path):
    grey = _speckle((4, 60, 80), seed=4)
    rgb = np.repeat(grey[..., None], 3, axis=3)
    rgb[2, 20:35, 25:50] = (255, 140, 0)  # orange flow in frame 3 only: about 11 % of the image area
    path = _write_us_dicom(tmp_path / "doppler.dcm", rgb, photometric="RGB", FrameTime=30.0)
    with pytest.raises(InputError) as error:
        read_cine(path)
    _assert_clear(error, path, "frame 3", "colour/power Doppler")
    assert doppler_fraction(rgb[0] / 255.0) == 0.0


def test_doppler_check_ignores_a_flat_coloured_title_band():
    grey = _speckle((100, 120), seed=5) / 255.0
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[:25] = np.array([37, 62, 94]) / 255.0  # a title band reaching into the checked area
    rgb[15:20, 30:40] = 1.0  # white text in it
    assert doppler_fraction(rgb) == 0.0


def test_folder_of_single_frame_dicom_files_is_ordered_by_instance_number(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in range(1, 4):
        pixels = np.full((16, 24), 50 * number, dtype=np.uint8)
        # file names in the reverse order of the instance numbers
        _write_us_dicom(folder / f"img{4 - number}.dcm", pixels, InstanceNumber=number, FrameTime=25.0)
    cine = read_cine(folder)
    assert cine.kind == "frames_folder" and cine.frames.shape == (3, 16, 24)
    np.testing.assert_allclose(cine.frames[:, 0, 0], [50 / 255, 100 / 255, 150 / 255], atol=1e-6)
    assert cine.frame_time_ms == pytest.approx(25.0)
    assert cine.metadata["files"][0].endswith("img3.dcm")


def test_mpeg_encapsulated_dicom_cine_is_decoded_with_pyav(tmp_path):
    frames = _moving_disk_frames(count=8)
    stream = io.BytesIO()
    _encode_video(frames, stream, "libx264", container_format="h264")
    path = _write_us_dicom(
        tmp_path / "h264.dcm",
        frames,
        transfer_syntax="1.2.840.10008.1.2.4.102",  # MPEG-4 AVC/H.264 High Profile
        encapsulated=stream.getvalue(),
        FrameTime=40.0,
    )
    cine = read_cine(path)
    assert cine.frames.shape == (8, 64, 80) and cine.frame_time_ms == pytest.approx(40.0)
    assert np.abs(cine.frames - frames / 255.0).mean() < 0.03


# ----- video, pictures, folders -----------------------------------------------------------------------


def test_video_written_with_pyav_reads_back_frames_and_frame_time(tmp_path):
    frames = _moving_disk_frames()
    path = tmp_path / "sweep.mp4"
    _encode_video(frames, str(path), "mpeg4")
    cine = read_cine(path, require_multiframe=True)
    assert cine.kind == "video" and cine.frames.shape == (12, 64, 80)
    assert cine.frame_time_ms == pytest.approx(40.0, rel=0.02)
    assert np.abs(cine.frames - frames / 255.0).mean() < 0.03
    assert cine.pixel_spacing_mm is None and cine.metadata["codec"] == "mpeg4" and cine.metadata["patient_id"] == ""
    # the disk moved right: its brightest column follows it
    assert np.argmax(cine.frames[-1, 32]) > np.argmax(cine.frames[0, 32]) + 30


def test_frames_folder_is_in_natural_order(tmp_path):
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    for number, value in ((10, 100), (2, 20), (1, 10)):
        Image.fromarray(np.full((12, 20), value, dtype=np.uint8)).save(folder / f"frame{number}.png")
    (folder / "notes.txt").write_text("exported by hand")
    cine = read_cine(folder)
    assert cine.kind == "frames_folder" and cine.frames.shape == (3, 12, 20)
    np.testing.assert_allclose(cine.frames[:, 0, 0], [10 / 255, 20 / 255, 100 / 255], atol=1e-6)
    assert cine.frame_time_ms is None and any("not pictures" in note for note in cine.warnings)


def test_single_pictures_rgb_png_16_bit_png_and_float_tiff(tmp_path):
    from PIL import Image

    grey = _speckle((30, 40), seed=6)
    Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(tmp_path / "frame.png")
    cine = read_cine(tmp_path / "frame.png")
    assert cine.kind == "image" and cine.frames.shape == (1, 30, 40)
    np.testing.assert_allclose(cine.frames[0], grey / 255.0, atol=1e-5)

    Image.fromarray(grey).save(tmp_path / "frame.jpg", quality=95)
    assert np.abs(read_cine(tmp_path / "frame.jpg").frames[0] - grey / 255.0).mean() < 0.03

    deep = (grey.astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    np.testing.assert_allclose(read_cine(tmp_path / "deep.png").frames[0], grey / 255.0, atol=1e-4)

    Image.fromarray(grey.astype(np.float32) * 4.0).save(tmp_path / "float.tif")  # 0..1020: one min-max scale
    frames = read_cine(tmp_path / "float.tif").frames
    assert frames.min() == 0.0 and frames.max() == pytest.approx(1.0)


# ----- refused inputs ----------------------------------------------------------------------------------


def test_missing_path_and_unsupported_extension(tmp_path):
    with pytest.raises(InputError) as error:
        read_cine(tmp_path / "nothing.dcm")
    _assert_clear(error, tmp_path / "nothing.dcm", "does not exist")
    text = tmp_path / "report.txt"
    text.write_text("not an image")
    with pytest.raises(InputError) as error:
        read_cine(text)
    _assert_clear(error, text, "not a supported")


def test_corrupt_dicom_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.dcm"
    garbage.write_bytes(np.random.default_rng(7).bytes(4000))
    with pytest.raises(DicomError) as error:
        read_cine(garbage)
    _assert_clear(error, garbage, "is not a DICOM image")

    whole = _write_us_dicom(tmp_path / "whole.dcm", _speckle((4, 40, 50)), FrameTime=30.0)
    cut = tmp_path / "cut.dcm"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) - 3000])  # stops inside the pixel data
    with pytest.raises(DicomError) as error:
        read_cine(cut)
    _assert_clear(error, cut, "truncated", "lacks 3000 bytes")


def test_corrupt_video_is_refused(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(np.random.default_rng(8).bytes(20000))
    with pytest.raises(InputError) as error:
        read_cine(path)
    _assert_clear(error, path, "video")


def test_empty_folder_and_folder_of_other_files(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError) as error:
        read_cine(empty)
    _assert_clear(error, empty, "No frame pictures")
    (empty / "readme.txt").write_text("nothing here")
    with pytest.raises(InputError):
        read_cine(empty)


def test_folder_frames_of_different_sizes_name_the_file_and_both_sizes(tmp_path):
    from PIL import Image

    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((20, 30), dtype=np.uint8)).save(folder / "f1.png")
    Image.fromarray(np.zeros((20, 30), dtype=np.uint8)).save(folder / "f2.png")
    Image.fromarray(np.zeros((24, 30), dtype=np.uint8)).save(folder / "f3.png")
    with pytest.raises(InputError) as error:
        read_cine(folder)
    _assert_clear(error, folder / "f3.png", "30x24", "30x20", "f1.png")


def test_non_finite_float_tiff_is_refused(tmp_path):
    from PIL import Image

    values = np.linspace(0, 1, 200, dtype=np.float32).reshape(10, 20)
    values[3, 4] = np.nan
    path = tmp_path / "nan.tif"
    Image.fromarray(values).save(path)
    with pytest.raises(ImageValueError) as error:
        read_cine(path)
    _assert_clear(error, path, "NaN or infinite")


def test_require_multiframe_refuses_a_single_picture(tmp_path):
    from PIL import Image

    path = tmp_path / "still.png"
    Image.fromarray(_speckle((20, 20))).save(path)
    with pytest.raises(InputError) as error:
        read_cine(path, require_multiframe=True)
    _assert_clear(error, path, "single frame")


def test_a_copy_of_the_real_cine_in_a_folder_is_not_a_frames_folder(us_dir, tmp_path):
    # A multi-frame file among single frames is refused with a hint to give that file on its own.
    folder = tmp_path / "series"
    folder.mkdir()
    shutil.copy(us_dir / "examples_ybr_color.dcm", folder / "a.dcm")
    shutil.copy(us_dir / "examples_ybr_color.dcm", folder / "b.dcm")
    with pytest.raises(InputError) as error:
        read_cine(folder)
    _assert_clear(error, folder / "a.dcm", "multi-frame", "on its own")
