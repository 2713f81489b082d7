"""Damaged volume files are refused before ITK can paper over them (zero-filled truncation, NaN made 0)."""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from assistcore.errors import ImageValueError, InputError
from assistcore.image_io import read_image, write_image
from assistcore.volume_files import verify_volume_file
from radassist.cli.main import main


def _volume(dtype=np.float32) -> sitk.Image:
    rng = np.random.default_rng(0)
    array = (rng.random((12, 14, 16)) * 1000).astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.9, 3.0))
    image.SetOrigin((10.0, -20.0, 5.0))
    return image


def _write(image: sitk.Image, path: Path, compress: bool = False) -> Path:
    sitk.WriteImage(image, str(path), useCompression=compress)
    return path


def _truncate(path: Path, keep_fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii", "v.nrrd", "v.mha"])
def test_whole_files_of_every_format_pass_and_read_as_written(tmp_path, name):
    path = _write(_volume(), tmp_path / name, compress=name.endswith((".nrrd", ".mha")))
    verify_volume_file(path, require_finite=True)
    assert read_image(path, as_scan=True).shape_kji == (12, 14, 16)


@pytest.mark.parametrize(
    "name, compress, words",
    [
        ("v.nii.gz", False, "gzip stream is incomplete"),
        ("v.nii", False, "bytes of voxel data but its header says"),
        ("v.nrrd", True, "voxel data does not match its header"),
        ("v.nrrd", False, "voxel data does not match its header"),
        ("v.mha", True, "zlib stream is incomplete"),
        ("v.mha", False, "bytes of voxel data but its header says"),
    ],
)
def test_truncated_files_are_refused_naming_the_file(tmp_path, name, compress, words):
    path = _truncate(_write(_volume(), tmp_path / name, compress), 0.7)
    with pytest.raises(InputError, match=words) as caught:
        read_image(path)  # label maps too: a damaged file is never read, whatever it holds
    assert str(path) in str(caught.value) and "copy or export it again" in str(caught.value)


def test_a_gzip_stream_missing_only_its_checksum_trailer_is_refused(tmp_path):
    path = _write(_volume(), tmp_path / "v.nii.gz")
    data = path.read_bytes()
    path.write_bytes(data[:-4])  # the voxels are all there; the CRC and size trailer is not
    with pytest.raises(InputError, match="gzip stream is incomplete"):
        read_image(path)


def test_a_flipped_byte_in_a_gzip_stream_fails_its_checksum(tmp_path):
    path = _write(_volume(), tmp_path / "v.nii.gz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="incomplete or corrupt"):
        read_image(path)


def test_a_metaimage_whose_data_file_is_missing_is_refused(tmp_path):
    header = _write(_volume(), tmp_path / "v.mhd")
    header.with_suffix(".raw").unlink()
    with pytest.raises(InputError, match="data file that is missing"):
        read_image(header)


def test_a_detached_nrrd_with_short_data_is_refused(tmp_path):
    header = _write(_volume(), tmp_path / "v.nhdr")
    data_file = next(p for p in tmp_path.iterdir() if p != header)
    _truncate(data_file, 0.5)
    with pytest.raises(InputError, match="does not match its header"):
        read_image(header)


@pytest.mark.parametrize("name", ["nan.nii.gz", "nan.nii", "nan.nrrd", "nan.mha"])
def test_all_nan_scans_are_refused_from_the_stored_values(tmp_path, name):
    # ITK's NIfTI reader turns NaN into 0: the check must see the file's own numbers
    array = np.full((6, 7, 8), np.nan, np.float32)
    path = _write(sitk.GetImageFromArray(array), tmp_path / name)
    with pytest.raises(ImageValueError, match=f"{name} has 336 NaN or infinite voxels"):
        read_image(path, as_scan=True)


def test_scaled_integer_nifti_is_checked_on_its_stored_integers(tmp_path):
    import nibabel

    data = np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8)
    image = nibabel.Nifti1Image(data, np.eye(4))
    image.header.set_slope_inter(2.0, 1.0)
    path = tmp_path / "scaled.nii.gz"
    nibabel.save(image, path)
    verify_volume_file(path, require_finite=True)  # integers are always finite; nothing to refuse
    assert read_image(path, as_scan=True).array_kji.max() == pytest.approx(2.0 * data.max() + 1.0)


@pytest.mark.parametrize("value", [0.0, 117.0])
def test_constant_scans_are_refused_but_empty_label_maps_are_read(tmp_path, value):
    path = _write(sitk.GetImageFromArray(np.full((6, 7, 8), value, np.float32)), tmp_path / "flat.nii.gz")
    with pytest.raises(ImageValueError, match="holds no image: all 336 voxels"):
        read_image(path, as_scan=True)
    assert read_image(path).array_kji.max() == value  # a label map with no label is a valid answer


def test_real_samples_pass_the_checks(real_data_dir):
    for relative in ("spine_sct_cervical/t2/t2.nii.gz", "spine_pam50_small/PAM50_small_t2.nii.gz"):
        verify_volume_file(real_data_dir / relative, require_finite=True)
    flair = next((real_data_dir / "brain_tcga" / "TCGA-DU-7294").rglob("*_fla_bet.nii.gz"))
    verify_volume_file(flair, require_finite=True)


# ----- every assistant refuses them, before writing anything ----------------------------------------------


@pytest.fixture(scope="module")
def damaged_copies(tmp_path_factory, real_data_dir):
    """A truncated and an all-NaN copy of the real cervical T2 (PSR NIfTI)."""
    folder = tmp_path_factory.mktemp("damaged")
    source = real_data_dir / "spine_sct_cervical/t2/t2.nii.gz"
    truncated = _truncate(Path(shutil.copy(source, folder / "truncated_t2.nii.gz")), 0.6)
    image = read_image(source)
    nan = write_image(image.with_array(np.full(image.shape_kji, np.nan, np.float32)), folder / "nan_t2.nii.gz")
    flat = write_image(image.with_array(np.zeros(image.shape_kji, np.float32)), folder / "flat_t2.nii.gz")
    return {"truncated": truncated, "nan": nan, "flat": flat}


def _command(assistant: str, path: Path, out: Path) -> list[str]:
    if assistant == "brain":
        return ["brain", "--t1c", str(path), "--flair", str(path), "--out", str(out)]
    if assistant == "crm":
        return ["crm", "--t2", str(path), "--out", str(out)]
    return ["spine", "--sag-t2", str(path), "--out", str(out)]


@pytest.mark.cli
@pytest.mark.realdata
@pytest.mark.parametrize("assistant", ["brain", "crm", "spine"])
@pytest.mark.parametrize("damage", ["truncated", "nan", "flat"])
def test_every_assistant_refuses_damaged_scans_with_one_line_and_no_output(
    damaged_copies, tmp_path, capsys, assistant, damage
):
    out = tmp_path / "out"
    code = main(_command(assistant, damaged_copies[damage], out))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("radassist:")]
    assert code == 1, err
    assert len(lines) == 1 and damaged_copies[damage].name in lines[0] and "Traceback" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_zlib_check_rejects_a_stream_without_its_end(tmp_path):
    from assistcore.volume_files import _decompressed

    stream = zlib.compress(b"x" * 10_000)
    with pytest.raises(InputError, match="zlib stream is incomplete"):
        _decompressed(tmp_path / "f.mha", stream[:-3], "zlib")
    assert _decompressed(tmp_path / "f.mha", stream, "zlib") == b"x" * 10_000


@pytest.mark.cli
def test_a_blank_ultrasound_cine_is_refused_with_one_line(tmp_path, capsys):
    from PIL import Image as PILImage

    frames = tmp_path / "frames"
    frames.mkdir()
    for number in range(3):
        PILImage.fromarray(np.zeros((64, 80), np.uint8)).save(frames / f"frame{number}.png")
    out = tmp_path / "out"
    assert main(["breast-us", "--cine", str(frames), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "holds no image" in err and str(frames) in err and not out.exists()


@pytest.mark.mrml
def test_the_station_refuses_to_open_a_case_with_a_truncated_sequence(tmp_path):
    pytest.importorskip("slicer")
    from test_station import CASE_ID, write_case

    from assistcore.brain.worklist import Worklist
    from assistcore.station.accounts import Account, Role
    from AssistCoreLib.headless import createHeadlessScene
    from radassist.station.cases import StationSession, register_case_folders

    paths = write_case(tmp_path / "cases", CASE_ID)
    _truncate(Path(paths["t2"]), 0.5)
    worklist = Worklist(tmp_path / "worklist.db")
    register_case_folders(worklist, tmp_path / "cases")
    scene, logics = createHeadlessScene()
    session = StationSession(scene, logics, worklist, Account("ann", Role("annotator")))
    with pytest.raises(InputError, match=f"{paths['t2'].name}: its gzip stream is incomplete"):
        session.open_case(CASE_ID)
