"""Structured reports: drafts in the reader's terms per assistant, flags and links, edit/sign/amend with the audit,
read-only signed versions, HTML/PDF/JSON exports and `radassist report`."""

from __future__ import annotations

import json

import pytest
from report_fixtures import oblique_image, write_brain_case, write_breast_case, write_crm_case, write_spine_case

from assistcore.errors import InputError
from assistcore.reports import ReportStateError, draft_report, export_report, open_record, update_report
from assistcore.reports.brain import side_and_lobe
from assistcore.reports.crm import clock_face_hour
from assistcore.reports.record import record_path


# ----- drafts ----------------------------------------------------------------------------------------------
def test_spine_draft_has_one_line_per_cervical_level_with_values_flags_and_links(tmp_path):
    content = draft_report(write_spine_case(tmp_path / "spine"))
    assert [f.finding_id for f in content.findings] == ["C2/3", "C3/4", "C4/5", "C5/6", "C6/7", "C7/T1"]
    c34 = content.finding("C3/4")
    assert c34.text == (
        "C3/4: paracentral disc herniation (left); grade 1 anterior spondylolisthesis (2.5 mm); osteophyte; "
        "PLL 2.4 mm (thickened, over 2 mm); LF 1.9 mm."
    )
    assert c34.flags == {
        "disc": "abnormal",
        "listhesis_grade": "high",
        "osteophyte": "abnormal",
        "pll_thickness_mm": "high",
    }
    assert (c34.link.series, c34.link.slice_index) == ("ax_t2", 9)
    assert content.finding("C2/3").flags == {}  # PLL 1.2 mm and LF 1.5 mm are under the 2 mm threshold
    assert content.finding("C6/7").text == "C6/7: not in the field of view; not assessed."
    assert "PLL thickening at C3/4" in content.impression and "Spondylolisthesis at C3/4" in content.impression
    assert content.model["model_id"] == "spine-test"


def test_crm_draft_gives_the_verdict_at_the_threshold_and_only_involved_regions(tmp_path):
    content = draft_report(write_crm_case(tmp_path / "crm"))
    assert [f.finding_id for f in content.findings] == ["verdict", "region-1"]
    assert content.findings[0].text.startswith("CRM-positive risk at threshold 0.7: maximum probability 0.9")
    region = content.finding("region-1")
    assert "slices 5-7" in region.text and "on slice 6" in region.text
    assert region.link.slice_index == 6 and region.link.point_lps == [15.0, -15.0, 0.0]
    assert any("rectum's centre" in note for note in content.notes)  # no centre: no clock face, and it says so


def test_crm_clock_face_follows_the_surgical_convention(tmp_path):
    centre = [0.0, 0.0, 0.0]
    assert clock_face_hour([0.0, -10.0, 0.0], centre) == 12  # anterior (LPS -y)
    assert clock_face_hour([10.0, 0.0, 0.0], centre) == 3  # patient's left (LPS +x)
    assert clock_face_hour([0.0, 10.0, 0.0], centre) == 6
    assert clock_face_hour([-10.0, 0.0, 0.0], centre) == 9
    content = draft_report(write_crm_case(tmp_path / "crm", rectum_center_lps=[0.0, 0.0, 0.0]))
    assert "at 2 o'clock around the rectum" in content.finding("region-1").text  # (15, -15): anterior-left


def test_brain_draft_gives_volumes_side_lobe_and_qa_flags(tmp_path):
    import numpy as np

    image = oblique_image()
    from assistcore.image_io import write_image

    write_image(image, tmp_path / "flair.nii.gz")
    labels = np.zeros(image.shape_kji, dtype=np.uint8)
    content = draft_report(write_brain_case(tmp_path / "brain", image, str(tmp_path / "flair.nii.gz"), labels))
    lesion = content.finding("lesion-1")
    assert lesion.values["whole_tumor"].value == 1.2 and lesion.values["whole_tumor"].unit == "mL"
    assert lesion.values["side"].value == "left"
    assert "whole tumour 1.2 mL" in lesion.text and "axial slices 1-4" in lesion.text
    qa = content.finding("qa")
    assert qa.flags == {"qa_flags": "high"} and "island of 3 voxels (slice 2)" in qa.text and qa.link.slice_index == 2


def test_side_and_lobe_come_from_the_image_axes():
    import numpy as np

    box_min, box_max = np.array([0.0, 0.0, 0.0]), np.array([100.0, 100.0, 100.0])
    assert side_and_lobe([80.0, 20.0, 70.0], box_min, box_max) == ("left", "frontal")  # LPS: +x left, -y front
    assert side_and_lobe([20.0, 90.0, 60.0], box_min, box_max) == ("right", "occipital")
    assert side_and_lobe([30.0, 55.0, 30.0], box_min, box_max) == ("right", "temporal")
    assert side_and_lobe([50.0, 60.0, 80.0], box_min, box_max) == ("midline", "parietal")


def test_breast_draft_gives_size_frames_score_and_the_readers_descriptors(tmp_path):
    content = draft_report(write_breast_case(tmp_path / "breast"))
    assert [f.finding_id for f in content.findings] == ["lesion-1"]  # lesion 2 was rejected by the reviewer
    text = content.finding("lesion-1").text
    assert "12 mm x 8 mm" in text and "frames 3-9 (best 5)" in text and "score 0.8" in text
    assert "shape irregular, margin spiculated" in text and "orientation" not in text
    assert any("rejected" in note for note in content.notes)


# ----- edit, sign, amend -----------------------------------------------------------------------------------
def test_value_edit_rewrites_sentence_flag_and_impression_and_sign_records_the_diff(tmp_path):
    case_dir = write_spine_case(tmp_path / "spine")
    record = update_report(case_dir, edits={"C3/4.pll_thickness_mm": "1.8"}, sign="Dr Ann Reader")
    content = record.content
    assert "PLL 1.8 mm; " in content.finding("C3/4").text and "pll_thickness_mm" not in content.finding("C3/4").flags
    assert "PLL thickening" not in content.impression
    signature = record.current["signature"]
    assert signature["name"] == "Dr Ann Reader" and signature["model"]["model_id"] == "spine-test"
    paths = [change["path"] for change in signature["changes"]]
    assert paths == ["impression", "C3/4.text", "C3/4.pll_thickness_mm"]
    assert record.current["base"]["findings"][1]["values"]["pll_thickness_mm"]["value"] == 2.4  # draft kept
    assert [event["action"] for event in record.audit] == ["draft", "edit", "sign"]


def test_typed_sentence_survives_later_value_edits(tmp_path):
    case_dir = write_spine_case(tmp_path / "spine")
    update_report(case_dir, edits={"C3/4.text": "C3/4: as discussed."})
    record = update_report(case_dir, edits={"C3/4.lf_thickness_mm": 2.6})
    assert record.content.finding("C3/4").text == "C3/4: as discussed."
    assert record.content.finding("C3/4").flags["lf_thickness_mm"] == "high"


@pytest.mark.parametrize("action", [{"edits": {"impression": "changed"}}, {"sign": "Dr Other"}])
def test_signed_report_is_read_only_and_a_refusal_writes_nothing(tmp_path, action):
    case_dir = write_spine_case(tmp_path / "spine")
    update_report(case_dir, sign="Dr Ann Reader")
    before = record_path(case_dir).read_bytes()
    with pytest.raises(ReportStateError, match="signed by Dr Ann Reader .* read-only"):
        update_report(case_dir, **action)
    assert record_path(case_dir).read_bytes() == before


def test_amendment_makes_a_new_version_and_keeps_the_signed_one(tmp_path):
    case_dir = write_spine_case(tmp_path / "spine")
    update_report(case_dir, sign="Dr Ann Reader")
    record = update_report(case_dir, amend="C3/4 LF remeasured", edits={"C3/4.lf_thickness_mm": 2.2}, sign="Dr B")
    first, second = record.versions
    assert first["status"] == second["status"] == "signed" and second["amends"] == 1
    assert first["content"]["findings"][1]["values"]["lf_thickness_mm"]["value"] == 1.9
    changes = [c["path"] for c in second["signature"]["changes"]]
    assert changes == ["impression", "C3/4.text", "C3/4.lf_thickness_mm"]  # against v1 as signed
    assert "Ligamentum flavum thickening at C3/4" in second["content"]["impression"]
    with pytest.raises(ReportStateError, match="not signed yet"):
        update_report(write_spine_case(tmp_path / "other"), amend="too early")


def test_edit_of_an_unknown_finding_names_the_findings(tmp_path):
    case_dir = write_spine_case(tmp_path / "spine")
    with pytest.raises(InputError, match="no finding 'C9/10'.*C2/3, C3/4"):
        update_report(case_dir, edits={"C9/10.disc": "normal"})
    assert not record_path(case_dir).exists()


# ----- exports and the command line -----------------------------------------------------------------------
def test_exports_mark_flags_drafts_and_signature(tmp_path):
    case_dir = write_crm_case(tmp_path / "crm")
    draft_files = export_report(open_record(case_dir), tmp_path / "out")
    assert [path.name for path in draft_files] == [
        "report_v1_draft.json",
        "report_v1_draft.html",
        "report_v1_draft.pdf",
    ]
    assert "DRAFT - not signed" in (tmp_path / "out" / "report_v1_draft.html").read_text()
    record = update_report(case_dir, edits={"impression": "CRM threatened at 2 o'clock <check>"}, sign="Dr Ann Reader")
    html_path, pdf_path = export_report(record, tmp_path / "out", ("html", "pdf"))
    html = html_path.read_text()
    assert "Signed by <b>Dr Ann Reader</b>" in html and "&lt;check&gt;" in html and 'class="flag">HIGH' in html
    assert 'id="region-1"' in html and "see t2 slice 6" in html
    assert pdf_path.read_bytes().startswith(b"%PDF") and pdf_path.stat().st_size > 2000


def test_report_command_drafts_signs_and_refuses_a_second_signature(tmp_path, capsys):
    from radassist.cli.main import main

    case_dir = write_breast_case(tmp_path / "breast")
    assert main(["report", str(case_dir), "--json", "--formats", "json,html"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["status"] == "draft" and payload["flagged_findings"] == ["lesion-1"]
    assert main(["report", str(case_dir), "--edit", "lesion-1.margin=angular", "--sign", "Dr Ann Reader"]) == 0
    assert "margin angular" in capsys.readouterr().out
    assert (case_dir / "report" / "report_v1.html").is_file()
    assert main(["report", str(case_dir), "--sign", "Dr Ann Reader"]) == 1
    assert "read-only" in capsys.readouterr().err


def test_a_new_run_into_the_case_folder_is_not_described_by_the_old_record(tmp_path):
    case_dir = write_crm_case(tmp_path / "crm")
    update_report(case_dir, sign="Dr Ann Reader")
    before = record_path(case_dir).read_bytes()
    write_crm_case(case_dir, rectum_center_lps=[0.0, 0.0, 0.0])  # the assistant ran again: report.json changed
    with pytest.raises(InputError, match="changed since its report was drafted"):
        update_report(case_dir, amend="new run")
    assert record_path(case_dir).read_bytes() == before


# ----- the panel's form ---------------------------------------------------------------------------------------
def test_form_turns_only_what_the_reader_changed_into_edits(tmp_path):
    from assistcore.reports.form import edits_from_form, finding_rows, value_rows

    content = draft_report(write_spine_case(tmp_path / "spine"))
    rows = finding_rows(content)
    assert rows[1]["finding_id"] == "C3/4" and "pll_thickness_mm: high" in rows[1]["flags"]
    values = {row["name"]: row for row in value_rows(content, "C3/4")}
    assert values["pll_thickness_mm"]["value"] == "2.4" and values["pll_thickness_mm"]["normal"] == "..2"
    texts = {row["finding_id"]: row["text"] for row in rows}
    texts["C2/3"] = "C2/3: normal."
    typed_values = {"C3/4": {name: row["value"] for name, row in values.items()} | {"lf_thickness_mm": "2.5"}}
    edits = edits_from_form(content, texts, typed_values, content.impression + "\n")
    assert edits == {"C2/3.text": "C2/3: normal.", "C3/4.lf_thickness_mm": "2.5"}


def test_report_panel_uses_only_widgets_its_ui_file_defines():
    import re
    import xml.etree.ElementTree as ElementTree
    from pathlib import Path

    core = Path(__file__).resolve().parents[1] / "AssistCore"
    names = {widget.get("name") for widget in ElementTree.parse(core / "Resources/UI/ReportPanel.ui").iter("widget")}
    used = set(re.findall(r"self\.ui\.(\w+)", (core / "AssistCoreLib/reportPanel.py").read_text()))
    assert used and used - names == set()


def test_spine_levels_that_were_not_named_are_not_reported_as_normal(tmp_path):
    case_dir = write_spine_case(tmp_path / "spine")
    (case_dir / "findings.json").write_text(json.dumps({"levels": {}, "reviews": {}, "rows": []}))
    record = update_report(case_dir, edits={"C3/4.text": "C3/4: see sagittal images."})
    content = record.content
    assert content.finding("C2/3").text == "C2/3: not assessed (the levels were not named)."
    assert content.impression.startswith("Levels could not be named") and "--anchor" in content.impression


def test_report_panel_drafts_edits_signs_amends_and_exports(report_panel_module, tmp_path):
    case_dir = write_spine_case(tmp_path / "spine")
    panel = report_panel_module.ReportPanel(str(case_dir))
    ui = panel.ui
    assert not ui.signButton.enabled and not ui.exportButton.enabled  # nothing open yet
    panel.onOpen()
    assert record_path(case_dir).is_file() and ui.findingsTable.rowCount == 6 and "draft" in ui.statusLabel.text
    ui.findingsTable.current = 1  # C3/4
    panel.onFindingSelected()
    row = next(r for r in range(ui.valuesTable.rowCount) if ui.valuesTable.item(r, 0).text() == "LF thickness")
    ui.valuesTable.item(row, 1).setText("2.6")
    ui.findingsTable.item(0, 1).setText("C2/3: normal.")
    ui.signerLineEdit.text = "Dr Ann Reader"
    panel.onSave(sign=True)
    changes = [c["path"] for c in panel.record.current["signature"]["changes"]]
    assert changes == ["impression", "C2/3.text", "C3/4.text", "C3/4.lf_thickness_mm"]
    assert not ui.signButton.enabled and ui.amendButton.enabled and ui.impressionEdit.readOnly
    panel.onAmend()
    assert panel.record.current["version"] == 2 and ui.signButton.enabled
    ui.exportDirectoryButton.directory = str(tmp_path / "out")
    panel.onExport()
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "report_v2_draft.html",
        "report_v2_draft.json",
        "report_v2_draft.pdf",
    ]


def test_reader_given_rectum_centre_puts_regions_on_the_clock_face(tmp_path):
    case_dir = write_crm_case(tmp_path / "crm")
    record = update_report(case_dir, edits={"rectum_center_lps": "5,-15,0"})
    region = record.content.finding("region-1")
    assert region.values["clock_face"].value == 3 and "at 3 o'clock around the rectum" in region.text  # to its left
    assert not any("rectum's centre" in note for note in record.content.notes)
    with pytest.raises(InputError, match="X,Y,Z"):
        update_report(case_dir, edits={"rectum_center_lps": "20,-20"})


def test_a_source_that_is_not_there_has_no_dicom_identity_and_its_folder_is_not_searched(tmp_path, monkeypatch):
    """An in-memory cine is recorded as "phantom", a moved file by its old path: neither may pick up whatever
    DICOM series lies in the working folder or beside the old path."""
    from report_fixtures import write_dicom_series

    from assistcore.reports.case_files import series_fingerprint

    write_dicom_series(tmp_path / "series", oblique_image())
    assert series_fingerprint(tmp_path / "series")["number_of_files"] == 6
    monkeypatch.chdir(tmp_path / "series")
    assert series_fingerprint("phantom") == {}
    assert series_fingerprint(tmp_path / "series" / "moved_away.dcm") == {}


def test_a_review_of_a_level_the_findings_do_not_have_is_refused_and_nothing_is_written(tmp_path):
    from assistcore.pipelines.spine_outputs import write_reviewed_findings

    case_dir = write_spine_case(tmp_path / "spine")
    before = (case_dir / "findings.json").read_bytes()
    with pytest.raises(InputError, match="T4/5"):
        write_reviewed_findings(case_dir, {"C3/4": {"disc": "central"}, "T4/5": {"disc": "central"}})
    with pytest.raises(InputError, match="canal_mm"):
        write_reviewed_findings(case_dir, {"C3/4": {"canal_mm": "9"}})
    assert (case_dir / "findings.json").read_bytes() == before


def test_slices_the_reviewer_rejected_are_not_reported_as_involved(tmp_path):
    from assistcore.pipelines.crm import write_slice_reviews

    case_dir = write_crm_case(tmp_path / "crm")
    (case_dir / "slices.csv").write_text("slice_index,max_probability,review\n5,0.8,\n6,0.9,\n7,0.75,\n")
    write_slice_reviews(case_dir, {6: "reject"})
    content = draft_report(case_dir)
    assert content.finding("verdict").values["slices_involved"].value == "5, 7" and content.finding("region-1")
    assert any("Slice(s) 6 rejected" in note for note in content.notes)
    write_slice_reviews(case_dir, {5: "reject", 6: "reject", 7: "reject"})
    content = draft_report(case_dir)
    assert content.finding("verdict").values["crm_positive_risk"].value is False
    assert content.finding("region-1") is None and content.impression.startswith("No CRM-positive region")
    assert (case_dir / "slices.csv").read_text().splitlines()[1] == "5,0.8,reject"
