"""The Station app's Report panel actions: load the open case's report, save edits, sign, amend. A base class of
:class:`radassist.station.app.StationApp`, which owns the state, the session, ``_guarded`` and ``_say``; the
logic is in :mod:`radassist.station.reports`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: the trame trigger whose reply is the last exported PDF (ReportActions.report_pdf_bytes)
REPORT_PDF_TRIGGER = "ra_report_pdf"

#: the Report panel's state keys and their values before a case with results is open
REPORT_STATE = {
    "ra_report": None,  # reports.report_view of the open case's report, None when it has none
    "ra_report_form": None,  # reports.empty_form: what the reader edits; sent back by Save and Sign
    "ra_report_reason": "",
    "ra_report_problem": "",  # one line: why the open case has no report
    "ra_can_sign": False,
    "ra_report_pdf": None,  # {"name"}: the last Export's PDF, whose bytes the report_pdf_bytes trigger sends
}


class ReportActions:
    """The Report panel's buttons for :class:`~radassist.station.app.StationApp`."""

    _report_folder = None
    _exported_pdf = None  # the PDF the last Export wrote (the Download PDF button's file)

    def _load_report(self) -> None:
        """Show the open case's report (the record, or the model's draft); one line saying why when there is none."""
        from assistcore.errors import RadAssistError

        from .reports import can_sign, report_folder

        self.state.update(REPORT_STATE)
        opened = self.session.current if self.session is not None else None
        if opened is None:
            return
        self.state.ra_can_sign = can_sign(self.session.account)
        self._report_folder = report_folder(self.worklist.get(opened.case.case_id))
        if self._report_folder is None:
            self.state.ra_report_problem = "No saved results yet: run the assistant and save, then draft the report."
            return
        try:
            self._show_report(keep_form=False)
        except RadAssistError as error:
            self.state.ra_report_problem = str(error)

    def _show_report(self, keep_form: bool) -> None:
        from .reports import empty_form, open_report, report_view

        view = report_view(open_report(self._report_folder))
        self.state.ra_report = view
        if not keep_form or view["signed"]:
            self.state.ra_report_form = empty_form(view)

    def _report_action(self, change: Callable[[], str]) -> None:
        """Run one report change; on success show the saved record and ``change``'s message. A refused change
        (its one-line message shown by ``_guarded``) leaves the files as they were and the reader's form as typed."""

        def run() -> None:
            if self._report_folder is None:
                return
            self.state.ra_report_pdf = self._exported_pdf = None  # an earlier Export shows an earlier version
            try:
                message = change()
            except Exception:
                self._show_report(keep_form=True)
                raise
            self._show_report(keep_form=False)
            self._say(message, "success")

        self._guarded(run)

    def report_save(self, form: dict[str, Any] | None = None) -> None:
        """Save the reader's edits to the draft (any role that may open the case)."""
        from .reports import save_edits

        def save() -> str:
            record, count = save_edits(self._report_folder, form, self.session.account)
            return f"Saved {count} edit(s) to report v{record.current['version']} (draft)."

        self._report_action(save)

    def report_sign(self, form: dict[str, Any] | None = None) -> None:
        """Sign the report as the signed-in user (reviewer or admin), with the form's last edits."""
        from .reports import sign_report

        def sign() -> str:
            record = sign_report(self._report_folder, form, self.session.account)
            signature = record.current["signature"]
            return (
                f"Report v{record.current['version']} signed by {signature['name']} at {signature['time_utc']} "
                f"({len(signature['changes'])} change(s) from the draft); it is now read-only."
            )

        self._report_action(sign)

    def report_export(self) -> None:
        """Export the current version (HTML, PDF, JSON, DICOM SR/SEG) beside the record; offer the PDF download."""
        from .reports import export_for_referrer

        def export() -> str:
            exported = export_for_referrer(self._report_folder, self.session.account)
            self._exported_pdf = exported["pdf"]
            self.state.ra_report_pdf = {"name": exported["pdf"].name}
            folder = exported["files"][0].parent
            dicom = f" DICOM not written: {exported['dicom_note']}" if exported["dicom_note"] else ""
            return f"Exported {len(exported['files'])} file(s) to {folder}.{dicom}"

        self._report_action(export)

    def report_pdf_bytes(self) -> bytes:
        """The last Export's PDF, sent to the browser by the Download PDF button (a trame trigger: binary in the
        reply, not kept in the shared state); empty when nothing was exported since the last change."""
        return self._exported_pdf.read_bytes() if self._exported_pdf is not None else b""

    def report_amend(self, reason: str = "") -> None:
        """Start a new draft version from the signed report (reviewer or admin), for ``reason``."""
        from .reports import amend_report

        def amend() -> str:
            record = amend_report(self._report_folder, reason, self.session.account)
            self.state.ra_report_reason = ""
            return f"Report v{record.current['version']} started as an amendment of v{record.current['amends']}."

        self._report_action(amend)
