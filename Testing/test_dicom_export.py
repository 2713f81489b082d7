"""DICOM SR and SEG of a signed report: valid for dciodvfy, read back by highdicom/pydicom voxel for voxel on the
source geometry (a synthetic oblique series and the real oblique ProstateX series), loaded into a slicer-core scene,
and refused with one clear message (nothing written) for changed source files, other grids and NIfTI sources."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from report_fixtures import oblique_image, write_brain_case, write_dicom_series

from assistcore.dicom_export import export_case_dicom, load_source_series
from assistcore.dicom_export.seg import build_segmentation, read_segmentation_labels
from assistcore.errors import DicomError, GeometryError, InputError
from assistcore.image_io import write_image
from assistcore.labels import load_label_table
from assistcore.reports import update_report
from assistcore.reports.case_files import read_json

highdicom = pytest.importorskip("highdicom")


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's error lines for a file (warnings are allowed); skips when dicom3tools is not installed."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy not installed (make dicom-tools)")
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def _lesion_labels(shape_kji) -> np.ndarray:
    labels = np.zeros(shape_kji, dtype=np.uint8)
    labels[1:5, 4:14, 12:22] = 2  # oedema
    labels[2:4, 6:11, 14:19] = 1  # non-enhancing core
    labels[3, 7:9, 15:17] = 4  # enhancing
    return labels


@pytest.fixture
def a_dicom_brain_case(tmp_path):
    image = oblique_image()
    series_dir = tmp_path / "series"
    write_dicom_series(series_dir, image)
    labels = _lesion_labels(image.shape_kji)
    case_dir = write_brain_case(tmp_path / "case", image, str(series_dir), labels)
    return case_dir, series_dir, labels


def test_signed_brain_case_exports_valid_sr_and_seg_matching_the_labels(a_dicom_brain_case, tmp_path):
    import pydicom

    case_dir, _, labels = a_dicom_brain_case
    record = update_report(case_dir, sign="Dr Ann Reader")
    written = export_case_dicom(record, tmp_path / "dicom")
    names = sorted(path.name for path in written)
    assert names == ["C1_flair_seg.dcm", "C1_report_v1_sr.dcm"]
    for path in written:
        assert dciodvfy_errors(path) == []
    source = load_source_series("flair", record.content.source["flair"])
    seg_path = tmp_path / "dicom" / "C1_flair_seg.dcm"
    np.testing.assert_array_equal(read_segmentation_labels(seg_path, source), labels)
    seg = pydicom.dcmread(seg_path)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.datasets[0].SeriesInstanceUID
    assert [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence] == [
        "6574001",
        "79654002",
        "108369006",
    ]  # necrosis, oedema, neoplasm: SNOMED CT codes from the case's label table

    sr = highdicom.sr.srread(tmp_path / "dicom" / "C1_report_v1_sr.dcm")
    assert (
        sr.VerificationFlag == "VERIFIED"
        and str(sr.VerifyingObserverSequence[0].VerifyingObserverName) == "Reader^Dr Ann"
    )
    lesion = next(g for g in sr.content.get_image_measurement_groups() if g.tracking_identifier == "lesion-1")
    volumes = {m.name.meaning: (m.value, m.unit.value) for m in lesion.get_measurements()}
    assert volumes["Volume"][1] == "mL" and len(lesion.get_measurements()) == 4
    observers = {str(context.observer_type.meaning): context for context in sr.content.get_observer_contexts()}
    assert set(observers) == {"Person", "Device"}
    text = str(pydicom.dcmread(tmp_path / "dicom" / "C1_report_v1_sr.dcm"))
    assert "Reader^Dr Ann" in text and "brain-test" in text  # the reader and the model by name
    volumes = {
        group.tracking_identifier: group.get_measurements()[0].value
        for group in sr.content.get_volumetric_roi_measurement_groups()
    }
    voxel_ml = np.prod(source.image.spacing_mm) / 1000.0
    assert volumes == {
        f"segment {name}": pytest.approx(np.count_nonzero(labels == value) * voxel_ml, abs=1e-4)
        for name, value in (("Non-enhancing tumor", 1), ("Edema", 2), ("Enhancing tumor", 4))
    }  # one group per SEG segment, its volume from the voxels
    segment_reference = sr.content.get_volumetric_roi_measurement_groups()[0].referenced_segment
    assert segment_reference.referenced_sop_instance_uid == seg.SOPInstanceUID


def test_a_label_map_with_one_region_gives_a_valid_seg_and_an_sr_that_references_its_segment(tmp_path):
    """highdicom identifies a SEG's only segment in the shared functional groups, not per frame; the SR's segment
    reference must still be built (it failed with an AttributeError before) and name the source slices."""
    image = oblique_image()
    write_dicom_series(tmp_path / "series", image)
    labels = np.zeros(image.shape_kji, dtype=np.uint8)
    labels[1:4, 5:12, 6:14] = 2  # oedema only
    case_dir = write_brain_case(tmp_path / "case", image, str(tmp_path / "series"), labels)
    written = export_case_dicom(update_report(case_dir, sign="Dr Ann Reader"), tmp_path / "dicom")
    for path in written:
        assert dciodvfy_errors(path) == []
    sr = highdicom.sr.srread(tmp_path / "dicom" / "C1_report_v1_sr.dcm")
    (group,) = sr.content.get_volumetric_roi_measurement_groups()
    referenced = {item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for item in group.referenced_segment}
    slices_with_labels = {
        str(pydicom_uid) for k, pydicom_uid in enumerate(_sop_uids(tmp_path / "series")) if labels[k].any()
    }
    assert slices_with_labels <= referenced


def _sop_uids(series_dir: Path) -> list[str]:
    """The series' SOPInstanceUIDs in slice order (files are ``slice_<k>.dcm``)."""
    import pydicom

    return [
        str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in sorted(series_dir.glob("*.dcm"))
    ]


def test_changed_source_files_are_refused_and_nothing_is_written(a_dicom_brain_case, tmp_path):
    import pydicom
    from pydicom.uid import generate_uid

    case_dir, series_dir, _ = a_dicom_brain_case
    record = update_report(case_dir, sign="Dr Ann Reader")
    first = sorted(series_dir.glob("*.dcm"))[0]
    dataset = pydicom.dcmread(first)
    dataset.SOPInstanceUID = generate_uid()  # a re-export of the series gives new instance UIDs
    dataset.save_as(first)
    with pytest.raises(DicomError, match="changed since the run"):
        export_case_dicom(record, tmp_path / "dicom")
    assert not (tmp_path / "dicom").exists()


def test_label_map_on_another_grid_is_refused_and_nothing_is_written(a_dicom_brain_case, tmp_path):
    case_dir, _, labels = a_dicom_brain_case
    shifted = oblique_image().with_array(labels)
    shifted = type(shifted)(labels, shifted.spacing_mm, (0.0, 0.0, 0.0), shifted.direction_lps)
    write_image(shifted, case_dir / "C1_flair_seg-brats2021.nii.gz")
    record = update_report(case_dir, sign="Dr Ann Reader")
    with pytest.raises(GeometryError, match="not on the grid"):
        export_case_dicom(record, tmp_path / "dicom")
    assert not (tmp_path / "dicom").exists()


def test_nifti_source_asks_for_the_source_dicom(tmp_path):
    image = oblique_image()
    write_image(image, tmp_path / "flair.nii.gz")
    case_dir = write_brain_case(
        tmp_path / "case", image, str(tmp_path / "flair.nii.gz"), _lesion_labels(image.shape_kji)
    )
    record = update_report(case_dir, sign="Dr Ann Reader")
    with pytest.raises(InputError, match="must reference the source DICOM"):
        export_case_dicom(record, tmp_path / "dicom")
    assert not (tmp_path / "dicom").exists()
    write_dicom_series(tmp_path / "series", image)  # the series the NIfTI came from: same grid, so accepted
    written = export_case_dicom(record, tmp_path / "dicom", source_dicom=tmp_path / "series")
    assert len(written) == 2


def test_seg_on_the_oblique_prostatex_series_matches_voxel_for_voxel(prostatex_t2_dir, tmp_path):
    import pydicom

    source = load_source_series("t2", {}, prostatex_t2_dir)
    labels = np.zeros(source.image.shape_kji, dtype=np.uint8)
    labels[4:11, 120:220, 150:260] = 2
    labels[6:9, 150:170, 190:215] = 3
    image = source.image.with_array(labels)
    segmentation, numbers = build_segmentation(image, load_label_table("brain_tumor_labels"), source, {"model_id": "m"})
    assert numbers == {1: 2, 2: 3}
    path = tmp_path / "seg.dcm"
    segmentation.save_as(path)
    assert dciodvfy_errors(path) == []
    np.testing.assert_array_equal(read_segmentation_labels(path, source), labels)
    seg = pydicom.dcmread(path)
    positions = {
        tuple(np.round(frame.PlanePositionSequence[0].ImagePositionPatient, 3))
        for frame in seg.PerFrameFunctionalGroupsSequence
    }
    expected = {tuple(np.round(np.asarray(d.ImagePositionPatient, dtype=float), 3)) for d in source.datasets}
    assert positions == expected  # frames lie on the source slices (18 degrees oblique)
    orientation = seg.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
    np.testing.assert_allclose(
        np.asarray(orientation, float), np.asarray(source.datasets[0].ImageOrientationPatient, float)
    )


def test_seg_loads_into_a_slicer_core_segmentation_node(a_dicom_brain_case, tmp_path):
    """slicer-core has no DICOM SEG reader (that is QuantitativeReporting/dcmqi in Slicer): highdicom reads it and
    the project's adapter makes the segmentation node, which exports the same labels back."""
    pytest.importorskip("slicer", reason="slicer-core wheel not installed")
    from AssistCoreLib.headless import createHeadlessScene
    from AssistCoreLib.segmentations import labelArrayToSegmentationNode, segmentationNodeToLabelArray
    from AssistCoreLib.volumes import imageToVolumeNode

    case_dir, _, labels = a_dicom_brain_case
    record = update_report(case_dir, sign="Dr Ann Reader")
    export_case_dicom(record, tmp_path / "dicom")
    source = load_source_series("flair", record.content.source["flair"])
    read_back = read_segmentation_labels(tmp_path / "dicom" / "C1_flair_seg.dcm", source)
    scene, logics = createHeadlessScene()
    volume = imageToVolumeNode(scene, source.image, "flair")
    definitions = load_label_table(read_json(case_dir / "C1_labels.json")["labels"])
    node = labelArrayToSegmentationNode(
        scene, logics.segmentations, read_back, source.image, definitions, "seg", volume
    )
    assert node.GetSegmentation().GetNumberOfSegments() == 3
    np.testing.assert_array_equal(segmentationNodeToLabelArray(scene, logics.segmentations, node, volume), labels)


def test_crm_run_on_real_dicom_gives_a_valid_sr_with_a_planar_roi_per_involved_region(prostatex_t2_dir, tmp_path):
    from radassist.cli.main import main

    case_dir, dicom_dir = tmp_path / "crm", tmp_path / "dicom"
    assert main(["crm", "--t2", str(prostatex_t2_dir), "--out", str(case_dir), "--threshold", "0.05"]) == 0
    assert (
        main(["report", str(case_dir), "--sign", "Dr Ann Reader", "--dicom-out", str(dicom_dir), "--formats", "json"])
        == 0
    )
    (sr_path,) = dicom_dir.glob("*_sr.dcm")
    assert dciodvfy_errors(sr_path) == []
    sr = highdicom.sr.srread(sr_path)
    regions = read_json(case_dir / "report" / "report_v1.json")["version"]["content"]["findings"]
    rois = sr.content.get_planar_roi_measurement_groups()
    assert len(rois) == len(regions) - 1  # every involved region but the verdict line
    assert {roi.tracking_identifier for roi in rois} == {f["finding_id"] for f in regions[1:]}
    assert all(roi.reference_type.value == "111030" for roi in rois)  # DCM 111030: Image Region


def test_derived_source_for_a_left_handed_real_nifti_gives_seg_and_sr_on_the_same_voxels(
    cervical_t2_psr_path, tmp_path
):
    """The PSR cervical T2 is left-handed: DICOM slices cannot keep its k order, so the derived series stores k
    reversed and the SEG's voxels, mapped back, are our labels on the NIfTI grid."""
    from assistcore.image_io import read_image

    image = read_image(cervical_t2_psr_path)
    assert np.linalg.det(image.direction_lps) < 0
    labels = np.zeros(image.shape_kji, dtype=np.uint8)
    labels[10:30, 20:35, 25:40] = 2
    labels[15:20, 25:30, 30:35] = 1
    case_dir = write_brain_case(tmp_path / "case", image, str(cervical_t2_psr_path), labels)
    record = update_report(case_dir, sign="Dr Ann Reader")
    written = export_case_dicom(record, tmp_path / "dicom", derive_source=True)
    assert sorted(path.name for path in written) == ["C1_flair_seg.dcm", "C1_flair_source", "C1_report_v1_sr.dcm"]
    derived_files = sorted((tmp_path / "dicom" / "C1_flair_source").glob("*.dcm"))
    for path in [tmp_path / "dicom" / "C1_flair_seg.dcm", tmp_path / "dicom" / "C1_report_v1_sr.dcm", derived_files[0]]:
        assert dciodvfy_errors(path) == []
    source = load_source_series("flair", {}, tmp_path / "dicom" / "C1_flair_source")
    np.testing.assert_allclose(source.image.array_kji[::-1], image.array_kji, atol=1e-3 * np.ptp(image.array_kji))
    read_back = read_segmentation_labels(tmp_path / "dicom" / "C1_flair_seg.dcm", source)
    np.testing.assert_array_equal(read_back[::-1], labels)


def test_breast_lesions_on_a_real_dicom_cine_become_frame_polylines_in_a_valid_sr(real_data_dir, tmp_path):
    from report_fixtures import write_breast_case

    cine = real_data_dir / "us_cine_dicom" / "examples_ybr_color.dcm"
    record = update_report(write_breast_case(tmp_path / "breast", str(cine)), sign="Dr Ann Reader")
    (sr_path,) = export_case_dicom(record, tmp_path / "dicom")
    assert dciodvfy_errors(sr_path) == []
    (roi,) = highdicom.sr.srread(sr_path).content.get_planar_roi_measurement_groups()
    assert roi.tracking_identifier == "lesion-1" and roi.roi.graphic_type.value == "POLYLINE"
    reference = roi.roi.ContentSequence[0].ReferencedSOPSequence[0]  # the IMAGE item the SCOORD is selected from
    assert reference.ReferencedFrameNumber == 6  # best frame 5 (0-based) is DICOM frame 6
    np.testing.assert_allclose(roi.roi.value[[0, 2]], [[10.5, 20.5], [130.5, 100.5]])


def test_a_real_cine_where_nothing_was_found_gives_a_valid_sr_saying_so(real_data_dir, tmp_path):
    """No lesion reached the threshold: TID 1500 still needs one measurement group (it failed with highdicom's
    ValueError before), so the SR holds "Finding: absent"."""
    from assistcore.breastus.cine import read_cine
    from assistcore.pipelines.breast_us import run
    from assistcore.result_folders import write_result_folder

    cine = real_data_dir / "us_cine_dicom" / "examples_ybr_color.dcm"
    result = run(read_cine(cine), {"model_id": "breastus-demo", "device": "cpu", "threshold": 1.0})
    write_result_folder("breast_us", result, tmp_path / "us", "US0")
    record = update_report(tmp_path / "us", sign="Dr Ann Reader")
    assert record.content.findings == []
    (sr_path,) = export_case_dicom(record, tmp_path / "dicom")
    assert dciodvfy_errors(sr_path) == []
    groups = highdicom.sr.srread(sr_path).content.get_image_measurement_groups()
    assert [g.tracking_identifier for g in groups] == ["no findings"]
    coded = {
        item.ConceptNameCodeSequence[0].CodeMeaning: item.ConceptCodeSequence[0].CodeMeaning
        for item in groups[0][0].ContentSequence
        if item.ValueType == "CODE"
    }
    assert coded == {"Finding": "Absent"}


def test_assistant_commands_get_dicom_out_from_two_helper_calls(a_dicom_brain_case, tmp_path):
    import argparse

    from radassist.cli.commands_report import add_dicom_arguments, write_dicom_after_run

    case_dir, _, _ = a_dicom_brain_case
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    add_dicom_arguments(parser)
    assert write_dicom_after_run(parser.parse_args(["--out", str(case_dir)])) == []
    args = parser.parse_args(["--out", str(case_dir), "--dicom-out", str(tmp_path / "dicom")])
    written = write_dicom_after_run(args)
    assert sorted(Path(name).name for name in written) == ["C1_flair_seg.dcm", "C1_report_v1_sr.dcm"]
    sr = highdicom.sr.srread(tmp_path / "dicom" / "C1_report_v1_sr.dcm")
    assert sr.CompletionFlag == "PARTIAL" and sr.VerificationFlag == "UNVERIFIED"  # a draft, not signed


def test_report_command_refuses_sign_and_export_together_when_the_source_changed(a_dicom_brain_case, tmp_path, capsys):
    import pydicom
    from pydicom.uid import generate_uid

    from assistcore.reports.record import record_path
    from radassist.cli.main import main

    case_dir, series_dir, _ = a_dicom_brain_case
    assert main(["report", str(case_dir), "--formats", "json"]) == 0  # the draft records the series' UIDs
    before = record_path(case_dir).read_bytes()
    first = sorted(series_dir.glob("*.dcm"))[0]
    dataset = pydicom.dcmread(first)
    dataset.SOPInstanceUID = generate_uid()
    dataset.save_as(first)
    command = ["report", str(case_dir), "--sign", "Dr Ann Reader", "--dicom-out", str(tmp_path / "dicom")]
    assert main(command) == 1
    assert "changed since the run" in capsys.readouterr().err
    assert record_path(case_dir).read_bytes() == before and not (tmp_path / "dicom").exists()
    assert not (case_dir / "report" / "report_v1.html").exists()  # not signed, nothing exported
