"""The Station's Report panel without a browser: the logic of ``radassist.station.reports`` on a spine result
folder (``report_fixtures.write_spine_case``) in a registered case, and the app's handlers that call it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from report_fixtures import write_spine_case

from assistcore.brain.worklist import WorkflowError, Worklist
from assistcore.errors import InputError
from assistcore.reports import ReportStateError
from assistcore.reports.record import record_path
from assistcore.station.accounts import Account, Role
from radassist.station import reports

ANNOTATOR = Account("ann", Role.ANNOTATOR)
REVIEWER = Account("rev", Role.REVIEWER)
ADMIN = Account("adm", Role.ADMIN)


@pytest.fixture
def case(tmp_path):
    """A registered spine case whose ``results`` folder holds what `radassist spine` wrote."""
    worklist = Worklist(tmp_path / "worklist.db")
    folder = tmp_path / "cases" / "S1"
    folder.mkdir(parents=True)
    registered = worklist.add_case("S1", folder, assistant="spine")
    return SimpleNamespace(worklist=worklist, case=registered, folder=folder, results=folder / "results")


def with_results(case) -> Path:
    write_spine_case(case.results)
    return case.results


def record_bytes(results: Path) -> bytes | None:
    path = record_path(results)
    return path.read_bytes() if path.is_file() else None


def typed(results: Path, **changes) -> dict:
    """The form as the page shows it, with ``changes`` ({"C3/4.pll_thickness_mm": "1.8"}) typed in."""
    form = reports.empty_form(reports.report_view(reports.open_report(results)))
    for key, text in changes.items():
        finding_id, name = key.rsplit(".", 1)
        form["values"][finding_id][name] = text
    return form


def test_a_case_has_a_report_only_once_an_assistant_wrote_results_into_its_folder(case):
    assert reports.report_folder(case.case) is None
    case.results.mkdir()
    assert reports.report_folder(case.case) is None, "an empty results folder has nothing to report"
    with_results(case)
    assert reports.report_folder(case.case) == case.results


def test_the_view_shows_the_models_draft_with_values_flags_and_the_html_without_writing_anything(case):
    results = with_results(case)
    view = reports.report_view(reports.open_report(results))
    assert (view["version"], view["status"], view["signed"]) == (1, "draft", False)
    c34 = next(item for item in view["findings"] if item["finding_id"] == "C3/4")
    pll = next(row for row in c34["values"] if row["name"] == "pll_thickness_mm")
    assert (pll["value"], pll["unit"], pll["flag"]) == ("2.4", "mm", "high")
    assert "pll_thickness_mm: high" in c34["flags"]
    assert view["html_name"] == "report_v1_draft.html" and "C3/4" in view["html"]
    assert view["model"] == "spine-test 0.0.1"
    assert reports.form_edits(reports.open_report(results), reports.empty_form(view)) == {}, "an untouched form"
    assert record_bytes(results) is None, "looking at a draft writes nothing"


def test_an_annotator_edits_the_draft_and_the_edit_rewrites_sentence_flag_and_audit(case):
    results = with_results(case)
    record, count = reports.save_edits(results, typed(results, **{"C3/4.pll_thickness_mm": "1.8"}), ANNOTATOR)
    assert count == 1
    finding = record.content.finding("C3/4")
    assert finding.values["pll_thickness_mm"].value == 1.8 and "pll_thickness_mm" not in finding.flags
    saved = json.loads(record_path(results).read_text())
    assert saved["audit"][-1]["action"] == "edit" and saved["audit"][-1]["by"] == "ann"
    assert saved["audit"][-1]["changes"] == [{"path": "C3/4.pll_thickness_mm", "before": 2.4, "after": 1.8}]
    assert saved["versions"][0]["base"]["findings"][1]["values"]["pll_thickness_mm"]["value"] == 2.4, "base kept"


def test_an_annotator_may_not_sign_or_amend_and_nothing_is_written(case):
    results = with_results(case)
    with pytest.raises(WorkflowError, match="only a reviewer or an admin may sign"):
        reports.sign_report(results, typed(results, **{"C3/4.pll_thickness_mm": "1.8"}), ANNOTATOR)
    assert record_bytes(results) is None, "the refused signature must not save the typed edit either"
    reports.sign_report(results, None, REVIEWER)
    before = record_bytes(results)
    with pytest.raises(WorkflowError, match="may amend"):
        reports.amend_report(results, "wrong level", ANNOTATOR)
    assert record_bytes(results) == before


def test_a_reviewer_signs_with_the_typed_edits_and_the_signed_report_is_written_and_read_only(case):
    results = with_results(case)
    record = reports.sign_report(results, typed(results, **{"C3/4.pll_thickness_mm": "1.8"}), REVIEWER)
    signature = record.current["signature"]
    assert record.signed and signature["name"] == "rev"
    assert signature["model"]["model_id"] == "spine-test" and signature["model"]["model_version"] == "0.0.1"
    assert {"path": "C3/4.pll_thickness_mm", "before": 2.4, "after": 1.8} in signature["changes"]
    assert sorted(p.name for p in (results / "report").iterdir()) == [
        "record.json",
        "report_v1.html",
        "report_v1.json",
    ]
    view = reports.report_view(reports.open_report(results))
    assert view["signed"] and view["html_name"] == "report_v1.html" and "DRAFT" not in view["html"]
    assert view["versions"] == [f"v1: signed by rev at {signature['time_utc']}"]
    signed = record_bytes(results)
    with pytest.raises(ReportStateError, match="second signature refused"):
        reports.sign_report(results, None, ADMIN)
    with pytest.raises(ReportStateError, match="editing refused"):
        reports.save_edits(results, typed(results, **{"C3/4.pll_thickness_mm": "3.0"}), REVIEWER)
    assert record_bytes(results) == signed, "a refused signature or edit changes nothing on disk"


def test_an_amendment_needs_a_reason_and_makes_a_new_draft_leaving_the_signed_version_unchanged(case):
    results = with_results(case)
    with pytest.raises(ReportStateError, match="not signed yet"):
        reports.amend_report(results, "too early", ADMIN)
    reports.sign_report(results, None, REVIEWER)
    signed_v1 = json.loads(record_path(results).read_text())["versions"][0]
    with pytest.raises(InputError, match="needs a reason"):
        reports.amend_report(results, "  ", ADMIN)
    record = reports.amend_report(results, "wrong level named", ADMIN)
    assert (record.current["version"], record.current["status"], record.current["amends"]) == (2, "draft", 1)
    saved = json.loads(record_path(results).read_text())
    assert saved["versions"][0] == signed_v1
    assert saved["audit"][-1] == {**saved["audit"][-1], "action": "amend", "by": "adm", "reason": "wrong level named"}
    record, _ = reports.save_edits(results, typed(results, **{"C2/3.pll_thickness_mm": "2.2"}), ANNOTATOR)
    record = reports.sign_report(results, None, ADMIN)
    changes = record.current["signature"]["changes"]
    assert {"path": "C2/3.pll_thickness_mm", "before": 1.2, "after": 2.2} in changes, "v2 is compared with v1"
    assert not any(change["path"].startswith("C3/4") for change in changes), "v1's own changes are not repeated"
    assert json.loads(record_path(results).read_text())["versions"][0] == signed_v1


# ----- the app's handlers (StationApp's own _guarded and _say; no browser, no Slicer views) ---------------
@pytest.fixture
def app(case):
    """The Report handlers of StationApp on a trame state, for a signed-in user with the case open."""
    from trame.app import get_server

    from radassist.station.app import StationApp
    from radassist.station.app_reports import REPORT_STATE, ReportActions

    class ReportHandlers(ReportActions):
        _guarded = StationApp._guarded
        _say = StationApp._say

        def sign_in(self, account: Account) -> None:
            self.session = SimpleNamespace(account=account, current=SimpleNamespace(case=case.case))
            self._load_report()

    handlers = ReportHandlers()
    handlers.state = get_server(f"station-reports-{id(handlers)}", client_type="vue3").state
    handlers.state.update({**REPORT_STATE, "ra_message": "", "ra_message_type": "info", "ra_conflict": False})
    handlers.worklist = case.worklist
    handlers.session = None
    return handlers


def test_the_panel_says_why_a_case_without_results_has_no_report(app):
    app.sign_in(REVIEWER)
    assert app.state.ra_report is None and "No saved results yet" in app.state.ra_report_problem


def test_the_apps_buttons_save_sign_refuse_and_amend_through_the_report_logic(app, case):
    results = with_results(case)
    app.sign_in(ANNOTATOR)
    assert app.state.ra_report["status"] == "draft" and not app.state.ra_can_sign
    form = app.state.ra_report_form
    form["values"]["C3/4"]["pll_thickness_mm"] = "1.8"
    app.report_sign(form)
    assert app.state.ra_message_type == "error" and "only a reviewer or an admin" in app.state.ra_message
    assert "\n" not in app.state.ra_message and record_bytes(results) is None
    assert app.state.ra_report_form["values"]["C3/4"]["pll_thickness_mm"] == "1.8", "the typed edit is kept"
    app.report_save(form)
    assert app.state.ra_message_type == "success" and record_bytes(results) is not None

    app.sign_in(REVIEWER)
    assert app.state.ra_can_sign and app.state.ra_report_form["values"]["C3/4"]["pll_thickness_mm"] == "1.8"
    app.report_sign(app.state.ra_report_form)
    assert app.state.ra_report["signed"] and app.state.ra_report["signature"]["name"] == "rev"
    signed = record_bytes(results)
    app.report_sign(app.state.ra_report_form)
    assert app.state.ra_message_type == "error" and "second signature refused" in app.state.ra_message
    assert record_bytes(results) == signed

    app.report_amend("level named one too high")
    assert app.state.ra_report["version"] == 2 and app.state.ra_report["status"] == "draft"
    assert app.state.ra_report["amendment_reason"] == "level named one too high"


def test_a_save_that_replaces_the_results_first_keeps_their_signed_report_and_audit(case):
    assert reports.keep_report_before_save(case.case) is None, "no record yet: nothing to keep"
    results = with_results(case)
    reports.sign_report(results, typed(results, **{"C3/4.pll_thickness_mm": "1.8"}), REVIEWER)
    signed = record_bytes(results)
    first = reports.keep_report_before_save(case.case)
    second = reports.keep_report_before_save(case.case)
    assert first != second and first.parent == second.parent == case.folder / reports.REPORT_HISTORY_FOLDER
    for copy in (first, second):
        assert (copy / "record.json").read_bytes() == signed
        assert sorted(p.name for p in copy.iterdir()) == ["record.json", "report_v1.html", "report_v1.json"]
    assert record_bytes(results) == signed, "keeping a copy leaves the record in place"


def test_export_writes_the_report_files_and_dicom_sr_and_seg_and_offers_the_pdf(app, case):
    """A signed report of a case run on a DICOM series: HTML, PDF, JSON and the DICOM SR and SEG beside the record,
    and the PDF's bytes for the browser; the next change withdraws that PDF (it shows the earlier version)."""
    import numpy as np
    import pydicom
    from report_fixtures import oblique_image, write_brain_case, write_dicom_series

    image = oblique_image()
    write_dicom_series(case.folder / "series", image)
    labels = np.zeros(image.shape_kji, dtype=np.uint8)
    labels[1:4, 5:12, 6:14] = 2
    write_brain_case(case.results, image, str(case.folder / "series"), labels)
    app.sign_in(REVIEWER)
    app.report_sign(app.state.ra_report_form)
    app.report_export()
    assert app.state.ra_message_type == "success" and "DICOM not written" not in app.state.ra_message
    export = reports.record_folder(case.results) / reports.EXPORT_FOLDER
    assert {path.name for path in export.iterdir()} >= {"report_v1.html", "report_v1.pdf", "report_v1.json", "dicom"}
    modalities = {str(pydicom.dcmread(path).Modality) for path in (export / "dicom").rglob("*.dcm")}
    assert modalities == {"SR", "SEG"}
    assert app.state.ra_report_pdf == {"name": "report_v1.pdf"}  # the state names it; the trigger sends it
    assert app.report_pdf_bytes() == (export / "report_v1.pdf").read_bytes()
    app.report_amend("volume remeasured")
    assert app.state.ra_report_pdf is None and app.report_pdf_bytes() == b""


def test_export_of_a_case_run_on_nifti_writes_the_report_files_and_says_why_there_is_no_dicom(app, case):
    with_results(case)
    app.sign_in(ANNOTATOR)  # anyone who may open the case exports; a draft is marked DRAFT
    app.report_export()
    assert app.state.ra_message_type == "success" and "DICOM not written" in app.state.ra_message
    assert "\n" not in app.state.ra_message
    assert app.state.ra_report_pdf["name"] == "report_v1_draft.pdf"
