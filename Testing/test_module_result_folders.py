"""A run made in a Slicer module panel writes the same result folder as the command line (minus the scene bundle),
so its Report section drafts, signs and exports it (issue 20); Slicer's DICOM-loaded volumes keep their source's
identity for the report's checks."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from report_fixtures import write_crm_case

pytestmark = [pytest.mark.models, pytest.mark.realdata]

#: report.json entries that differ between two runs of the same case for reasons other than the result
RUN_SPECIFIC = {"seconds_per_stage", "seconds_per_slice", "seconds_per_frame", "scene_note", "files"}


def _without_run_times(value):
    """``value`` (parsed JSON) without the run's clock readings: ``time_utc`` and ``seconds*`` entries."""
    if isinstance(value, dict):
        return {
            key: _without_run_times(item)
            for key, item in value.items()
            if key != "time_utc" and not key.startswith("seconds")
        }
    if isinstance(value, list):
        return [_without_run_times(item) for item in value]
    return value


def _comparable(folder: Path) -> dict:
    report = _without_run_times(json.loads((folder / "report.json").read_text()))
    return {key: value for key, value in report.items() if key not in RUN_SPECIFIC}


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def _crm(data: Path, cli_out: Path):
    from assistcore.image_io import read_image
    from assistcore.pipelines.crm import run
    from radassist.crm_app import detect_case_to_folder

    series = sorted(data.glob("pelvis_prostatex_dicom/ProstateX-0000/*/*t2tsetra*"))[0]
    options = {"model_id": "crm-demo", "device": "cpu"}
    detect_case_to_folder(series, cli_out, options, case_id="PX0")
    image = read_image(series, as_scan=True)
    return run({"t2": image}, options), {"t2": image}, "PX0"


def _breast_us(data: Path, cli_out: Path):
    from assistcore.breastus.cine import read_cine
    from assistcore.pipelines.breast_us import run
    from radassist.breast_us_app import detect_cine_to_folder

    cine_path = sorted((data / "us_cine_dicom").glob("*.dcm"))[0]
    options = {"model_id": "breastus-demo", "device": "cpu"}
    detect_cine_to_folder(cine_path, cli_out, options, case_id="US0")
    return run(read_cine(cine_path), options), {}, "US0"


def _spine(data: Path, cli_out: Path):
    from assistcore.image_io import read_image
    from assistcore.pipelines.spine import run
    from radassist.spine_app import run_case_to_folder

    sagittal = data / "spine_sct_cervical" / "t2" / "t2.nii.gz"
    axial = data / "spine_sct_axial" / "t2_axial_cervical.nii.gz"
    options = {"model_id": "spine-demo", "device": "cpu", "anchor": ((6.2, -18.9, 23.5), "C3")}
    run_case_to_folder(sagittal, cli_out, options, ax_t2=[axial], case_id="SP0")
    images = {"sag_t2": read_image(sagittal, as_scan=True), "ax_t2": [read_image(axial, as_scan=True)]}
    return run(images, options), images, "SP0"


def _brain(data: Path, cli_out: Path):
    from assistcore.brain.inputs import load_case
    from assistcore.brain.model import REQUIRED
    from assistcore.phantoms.brain import generate_brain_phantom, write_phantom_case
    from assistcore.pipelines.brain_tumor import run
    from radassist.brain_app import label_case_to_folder

    paths = write_phantom_case(generate_brain_phantom(7, spacing_mm=3.0), cli_out.parent / "case", "PH007")
    options = {"model_id": "brain-random", "device": "cpu"}
    label_case_to_folder(paths, cli_out, options, case_id="PH007")
    case = load_case(paths, required_roles=REQUIRED, case_id="PH007")
    return run(case.images, options), case.images, "PH007"


@pytest.fixture(scope="module")
def random_brain_models(tmp_path_factory):
    from model_fixtures import make_random_brain_model

    folder = tmp_path_factory.mktemp("models")
    make_random_brain_model(folder / "brain-random")
    return folder


@pytest.mark.parametrize(
    ("assistant", "make"),
    [("crm", _crm), ("breast_us", _breast_us), ("spine", _spine), ("brain_tumor", _brain)],
    ids=["crm-prostatex", "breast-us-real-cine", "spine-real-cervical", "brain-phantom"],
)
def test_a_module_run_writes_the_command_lines_result_folder_and_drafts_the_same_report(
    assistant, make, real_data_dir, random_brain_models, monkeypatch, tmp_path
):
    from assistcore.reports import open_record
    from assistcore.result_folders import MODULE_SCENE_NOTE, write_result_folder

    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(random_brain_models))
    cli_out, module_out = tmp_path / "cli", tmp_path / "module"
    result, images, case_id = make(real_data_dir, cli_out)
    report = write_result_folder(assistant, result, module_out, case_id, images)

    assert report["scene_note"] == MODULE_SCENE_NOTE
    assert _files(module_out) == _files(cli_out) - {"scene.mrb"}  # every file but the scene bundle
    assert sorted(report["files"]) == sorted(
        set(json.loads((cli_out / "report.json").read_text())["files"]) - {"scene.mrb"}
    )
    module_report, cli_report = _comparable(module_out), _comparable(cli_out)
    if assistant == "brain_tumor":  # the module runs on the sequences as Slicer shows them: no registration
        assert {entry["action"] for entry in module_report.pop("alignment").values()} == {"as_given"}
        cli_report.pop("alignment")
    assert module_report == cli_report
    for name in _files(module_out) - {"report.json", ".radassist-result.json"}:
        if name.endswith(".json"):  # the same findings
            module_json, cli_json = (json.loads((out / name).read_text()) for out in (module_out, cli_out))
            assert _without_run_times(module_json) == _without_run_times(cli_json), name
        elif name.endswith((".csv", ".png")):  # the same tables and pictures
            assert (module_out / name).read_bytes() == (cli_out / name).read_bytes(), name
    drafted, reference = open_record(module_out).content, open_record(cli_out).content
    assert [f.text for f in drafted.findings] == [f.text for f in reference.findings]
    assert drafted.impression == reference.impression and drafted.impression


def test_two_module_runs_of_one_case_in_the_same_second_get_their_own_folders(tmp_path):
    import datetime

    from assistcore.result_folders import new_run_folder

    when = datetime.datetime(2026, 12, 2, 16, 40, 5)
    first = new_run_folder(tmp_path, "Patient 7/a", "breast_us", when)
    assert first.name == "Patient_7_a_breast-us_20261202-164005"
    first.mkdir()
    assert new_run_folder(tmp_path, "Patient 7/a", "breast_us", when).name == first.name + "-2"


# ----- Slicer's side: the DICOM database's volumes, and the panel taking a run (slicer-core scene) -------------
class _DicomDatabase:
    """The two ctkDICOMDatabase calls the adapter makes, answered from the files (slicer-core has no database)."""

    def __init__(self, files: list[Path]) -> None:
        import pydicom

        self.headers = {str(path): pydicom.dcmread(path, stop_before_pixels=True) for path in files}
        self.by_uid = {str(header.SOPInstanceUID): name for name, header in self.headers.items()}

    def fileForInstance(self, uid: str) -> str:
        return self.by_uid.get(uid, "")

    def fileValue(self, path: str, tag: str) -> str:
        group, element = (int(part, 16) for part in tag.split(","))
        return str(self.headers[path][group, element].value)


def test_a_volume_loaded_from_the_dicom_database_carries_the_identity_the_command_line_records(
    prostatex_t2_dir, monkeypatch
):
    slicer = pytest.importorskip("slicer")
    from assistcore.image_io import dicom_identity, read_image
    from AssistCoreLib.volumes import imageToVolumeNode, volumeNodeToImage

    image = read_image(prostatex_t2_dir, as_scan=True)
    files = sorted(prostatex_t2_dir.glob("*.dcm")) or sorted(p for p in prostatex_t2_dir.iterdir() if p.is_file())
    database = _DicomDatabase(files)
    scene = slicer.vtkMRMLScene()
    node = imageToVolumeNode(scene, image.with_array(image.array_kji), "t2")
    for name in list(node.GetAttributeNames()):  # as Slicer's DICOM module loads it: no RadAssist attributes
        node.RemoveAttribute(name)
    node.SetAttribute("DICOM.instanceUIDs", " ".join(database.by_uid))
    monkeypatch.setattr(slicer, "dicomDatabase", database, raising=False)

    loaded = volumeNodeToImage(node)
    assert dicom_identity(loaded) == dicom_identity(image)  # the run's record matches what the export checks
    assert Path(loaded.metadata.source_path) == prostatex_t2_dir and loaded.metadata.patient_id
    database.by_uid.popitem()  # a file gone from the database: no identity rather than a wrong one
    assert dicom_identity(volumeNodeToImage(node)) == {}


def test_the_report_panel_takes_a_module_run_and_drafts_its_report(report_panel_module, monkeypatch, tmp_path):
    from assistcore.image_io import read_image
    from assistcore.phantoms.rectum import generate_rectal_phantom, write_rectal_phantom_case
    from assistcore.pipelines.crm import run

    written = write_rectal_phantom_case(
        generate_rectal_phantom(3, crm_positive=True, matrix=96, n_slices=4), tmp_path, "R3"
    )
    image = read_image(next(Path(p) for p in written.values() if str(p).endswith("_t2.nii.gz")), as_scan=True)
    result = run({"t2": image}, {"model_id": "crm-demo", "device": "cpu"})
    settings = {report_panel_module.RESULTS_ROOT_SETTING: str(tmp_path / "results")}
    monkeypatch.setattr(
        report_panel_module.qt, "QSettings", lambda: types.SimpleNamespace(value=settings.get), raising=False
    )
    panel = report_panel_module.ReportPanel()
    handle = types.SimpleNamespace(inputs={"t2": image}, case_id="R3")
    reviewed = []  # the module's review writer: called once, for the run's own folder, before its first draft
    folder = panel.takeRun("crm", handle, result, reviewWriter=reviewed.append)
    assert folder.parent == tmp_path / "results" and folder.name.startswith("R3_crm_")
    assert panel.ui.caseDirectoryButton.directory == str(folder) and str(folder) in panel.ui.statusLabel.text
    assert not panel.ui.signButton.enabled  # nothing drafted until the reader opens it
    panel.onOpen()
    assert panel.ui.findingsTable.rowCount >= 1 and "draft" in panel.ui.statusLabel.text
    assert panel.record.content.finding("verdict") is not None
    assert reviewed == [folder]
    panel.onOpen()  # the draft exists: what the reader edits there is not overwritten by the panel's tables
    other = write_crm_case(tmp_path / "other")
    panel.ui.caseDirectoryButton.directory = str(other)
    panel.onOpen()  # another case folder: the module's reviews are not its reviews
    assert reviewed == [folder] and panel.record.content.case_id != "R3"
