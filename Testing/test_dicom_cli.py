"""`radassist crm ... --out A --dicom-out B` on the real ProstateX DICOM series: the draft SR in B passes dciodvfy;
NIfTI input is refused with a message saying the results in A are complete; report.json records the source's
SeriesInstanceUID and SOPInstanceUID digest as the run read them, so a series changed before the draft is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_dicom_export import dciodvfy_errors

from assistcore.image_io import dicom_identity, read_image, write_image
from assistcore.reports.case_files import read_json, sop_digest
from radassist.cli.main import main

highdicom = pytest.importorskip("highdicom")


@pytest.fixture
def prostatex_copy(prostatex_t2_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the ProstateX axial T2 series (a test may rewrite its files)."""
    return Path(shutil.copytree(prostatex_t2_dir, tmp_path / "t2"))


def test_crm_dicom_out_writes_a_draft_sr_that_dciodvfy_accepts(prostatex_copy, tmp_path, capsys):
    case_dir, dicom_dir = tmp_path / "A", tmp_path / "B"
    command = ["crm", "--t2", str(prostatex_copy), "--out", str(case_dir), "--dicom-out", str(dicom_dir)]
    assert main([*command, "--threshold", "0.05"]) == 0  # a low threshold: the SR holds region ROIs
    printed = capsys.readouterr().out
    assert f"DICOM in {dicom_dir}" in printed
    (sr_path,) = dicom_dir.glob("*_sr.dcm")  # CRM writes boxes, no label map: SR only
    assert sr_path.name in printed
    assert sorted(path.name for path in dicom_dir.iterdir()) == [sr_path.name]
    assert dciodvfy_errors(sr_path) == []
    sr = highdicom.sr.srread(sr_path)
    assert sr.CompletionFlag == "PARTIAL" and sr.VerificationFlag == "UNVERIFIED"  # a draft, not signed
    assert (case_dir / "report.json").is_file()


def test_crm_dicom_out_on_nifti_input_fails_saying_the_results_are_complete(prostatex_t2_dir, tmp_path, capsys):
    nifti = tmp_path / "t2.nii.gz"
    write_image(read_image(prostatex_t2_dir), nifti)
    case_dir, dicom_dir = tmp_path / "A", tmp_path / "B"
    assert main(["crm", "--t2", str(nifti), "--out", str(case_dir), "--dicom-out", str(dicom_dir)]) == 1
    captured = capsys.readouterr()
    assert f"results in {case_dir}" in captured.out  # the file list was still printed
    error = captured.err
    assert f"The results in {case_dir} are complete; only the DICOM export to {dicom_dir} failed" in error
    assert f"radassist report {case_dir} --dicom-out {dicom_dir} --source-dicom" in error and "--derive-source" in error
    assert (case_dir / "report.json").is_file() and (case_dir / "boxes.json").is_file()
    assert not dicom_dir.exists()


def test_report_json_records_the_series_identity_as_the_run_read_it(prostatex_copy, tmp_path):
    case_dir = tmp_path / "A"
    assert main(["crm", "--t2", str(prostatex_copy), "--out", str(case_dir)]) == 0
    series = read_json(case_dir / "report.json")["series"]
    image = read_image(prostatex_copy)
    assert series["series_instance_uid"] == image.metadata.series_instance_uid
    files = sorted(str(path) for path in prostatex_copy.iterdir() if path.is_file())
    assert series["sop_instance_uids_sha256"] == sop_digest(files)["sop_instance_uids_sha256"]


def test_series_changed_between_run_and_draft_is_refused_when_exporting(prostatex_copy, tmp_path, capsys):
    import pydicom
    from pydicom.uid import generate_uid

    case_dir, dicom_dir = tmp_path / "A", tmp_path / "B"
    assert main(["crm", "--t2", str(prostatex_copy), "--out", str(case_dir)]) == 0
    first = sorted(prostatex_copy.iterdir())[0]
    dataset = pydicom.dcmread(first)
    dataset.SOPInstanceUID = generate_uid()  # re-exported after the run, before anyone drafted the report
    dataset.save_as(first)
    capsys.readouterr()
    assert main(["report", str(case_dir), "--formats", "json", "--dicom-out", str(dicom_dir)]) == 1
    assert "changed since the run" in capsys.readouterr().err
    assert not dicom_dir.exists()


def test_nifti_images_carry_no_dicom_identity(cervical_t2_psr_path):
    assert dicom_identity(read_image(cervical_t2_psr_path)) == {}


def test_breast_us_cine_changed_between_run_and_draft_is_refused(real_data_dir, tmp_path, capsys):
    import pydicom
    from pydicom.uid import generate_uid

    cine = Path(shutil.copy(real_data_dir / "us_cine_dicom" / "examples_ybr_color.dcm", tmp_path / "cine.dcm"))
    case_dir, dicom_dir = tmp_path / "A", tmp_path / "B"
    assert main(["breast-us", "--cine", str(cine), "--out", str(case_dir)]) == 0
    recorded = read_json(case_dir / "report.json")["cine"]
    assert recorded["series_instance_uid"] == str(pydicom.dcmread(cine, stop_before_pixels=True).SeriesInstanceUID)
    assert recorded["sop_instance_uids_sha256"] == sop_digest([str(cine)])["sop_instance_uids_sha256"]
    dataset = pydicom.dcmread(cine)
    dataset.SOPInstanceUID = generate_uid()
    dataset.save_as(cine)
    capsys.readouterr()
    assert main(["report", str(case_dir), "--formats", "json", "--dicom-out", str(dicom_dir)]) == 1
    assert "changed since the run" in capsys.readouterr().err
    assert not dicom_dir.exists()
