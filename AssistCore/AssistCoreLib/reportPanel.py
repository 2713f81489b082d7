"""The Report section every module panel mounts: open or draft a case's report, edit sentences, values and the
impression, sign, amend, and export (HTML, PDF, JSON, DICOM SR and SEG). Imports Qt: only inside the Slicer app.

A module adds it with one line in its widget's ``setup``::

    self.reportPanel = mountReportPanel(self.layout)

Everything a button does is one call into :mod:`assistcore.reports` / :mod:`assistcore.dicom_export` with plain
inputs (the same calls as ``radassist report``); the panel only moves text between the tables and those calls.
"""

from __future__ import annotations

from pathlib import Path

import qt
import slicer
from slicer.i18n import tr as _

UI_PATH = Path(__file__).resolve().parents[1] / "Resources" / "UI" / "ReportPanel.ui"

#: application setting: the folder where runs made in the module panels keep their result folders
RESULTS_ROOT_SETTING = "RadAssist/ResultsDirectory"


def resultsRoot() -> Path:
    """Where a run made in a module panel writes its result folder: the ``RadAssist/ResultsDirectory`` setting,
    else "RadAssist results" in Slicer's default scene folder (Application settings, General)."""
    value = qt.QSettings().value(RESULTS_ROOT_SETTING)
    return Path(value) if value else Path(slicer.app.defaultScenePath) / "RadAssist results"


def mountReportPanel(parentLayout, caseDirectory: str = "") -> ReportPanel:
    """Load the Report section into ``parentLayout`` (a module widget's ``self.layout``) and return it."""
    panel = ReportPanel(caseDirectory)
    parentLayout.addWidget(panel.widget)
    return panel


class ReportPanel:
    """The Report section: widgets from ``Resources/UI/ReportPanel.ui``, slots that call the report API."""

    def __init__(self, caseDirectory: str = "") -> None:
        self.widget = slicer.util.loadUI(str(UI_PATH))
        self.ui = slicer.util.childWidgetVariables(self.widget)
        self.record = None
        self._shownFinding = ""
        self._typedValues: dict[str, dict[str, str]] = {}
        self.runFolder: Path | None = None  # the result folder of the last run made in the module panel
        self.runReviewWriter = None  # writes the module's reviews of that run into its folder (takeRun)
        if caseDirectory:
            self.ui.caseDirectoryButton.directory = caseDirectory
        self.ui.findingsTable.horizontalHeader().setStretchLastSection(True)
        self.ui.openButton.connect("clicked(bool)", self.onOpen)
        self.ui.saveButton.connect("clicked(bool)", lambda: self.onSave(sign=False))
        self.ui.signButton.connect("clicked(bool)", lambda: self.onSave(sign=True))
        self.ui.amendButton.connect("clicked(bool)", self.onAmend)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)
        self.ui.findingsTable.connect("itemSelectionChanged()", self.onFindingSelected)
        self.ui.findingsTable.connect("cellDoubleClicked(int,int)", self.onFindingDoubleClicked)
        self.updateButtons()

    # ----- state ---------------------------------------------------------------------------------------------
    @property
    def caseDirectory(self) -> Path:
        return Path(self.ui.caseDirectoryButton.directory)

    def updateButtons(self) -> None:
        isOpen = self.record is not None
        signed = isOpen and self.record.signed
        for name in ("saveButton", "signButton"):
            getattr(self.ui, name).enabled = isOpen and not signed
        self.ui.amendButton.enabled = signed
        self.ui.exportButton.enabled = isOpen
        self.ui.findingsTable.enabled = self.ui.valuesTable.enabled = self.ui.impressionEdit.enabled = isOpen
        self.ui.impressionEdit.readOnly = signed

    def show(self) -> None:
        """Fill the tables and the impression from the record's current version."""
        from assistcore.reports.form import finding_rows

        content = self.record.content
        version = self.record.current
        signature = version.get("signature") or {}
        status = _("signed by {name} at {time_utc}").format(**signature) if self.record.signed else _("draft")
        self.ui.statusLabel.text = f"{content.title}, {content.case_id}: v{version['version']} ({status})"
        rows = finding_rows(content)
        table = self.ui.findingsTable
        table.clearContents()
        table.rowCount = len(rows)
        for index, row in enumerate(rows):
            for column, key in enumerate(("finding_id", "text", "flags")):
                item = qt.QTableWidgetItem(row[key])
                if column != 1 or self.record.signed:
                    item.setFlags(item.flags() & ~qt.Qt.ItemIsEditable)
                if row["flags"]:
                    item.setForeground(qt.QBrush(qt.QColor("#b00000")))
                item.setToolTip(row["link"])
                table.setItem(index, column, item)
        self.ui.impressionEdit.plainText = content.impression
        self._typedValues = {}
        self._shownFinding = ""
        self.ui.valuesTable.rowCount = 0
        self.updateButtons()

    def takeRun(self, assistant: str, handle, result, reviewWriter=None) -> Path:
        """Write the result folder of a run made in the module panel and make it this section's case (Open then
        drafts its report). ``handle`` is the run's RunHandle (its inputs and case ID); ``reviewWriter(folder)``,
        when given, writes the reviews made since in the module's own tables into that folder, just before its
        report is first drafted. Returns the folder."""
        from assistcore.result_folders import new_run_folder, write_result_folder

        folder = new_run_folder(resultsRoot(), handle.case_id, assistant)
        write_result_folder(assistant, result, folder, handle.case_id, handle.inputs)
        self.runFolder, self.runReviewWriter = folder, reviewWriter
        self.record = None
        self.ui.caseDirectoryButton.directory = str(folder)
        self.ui.statusLabel.text = _("This run's results are in {folder}: Open drafts its report.").format(
            folder=folder
        )
        self.updateButtons()
        return folder

    # ----- slots ---------------------------------------------------------------------------------------------
    def onOpen(self) -> None:
        from assistcore.reports import open_record
        from assistcore.reports.record import record_path

        with slicer.util.tryWithErrorDisplay(_("Could not open or draft the report."), waitCursor=True):
            firstDraft = not record_path(self.caseDirectory).is_file()
            if firstDraft and self.runReviewWriter is not None and self.caseDirectory == self.runFolder:
                self.runReviewWriter(self.runFolder)  # the draft says what the reader decided in the panel
            self.record = open_record(self.caseDirectory)
            self.record.save()
            self.show()

    def onFindingSelected(self) -> None:
        from assistcore.reports.form import value_rows

        self._keepTypedValues()
        row = self.ui.findingsTable.currentRow()
        if self.record is None or row < 0:
            return
        findingId = self.ui.findingsTable.item(row, 0).text()
        rows = value_rows(self.record.content, findingId)
        table = self.ui.valuesTable
        table.rowCount = len(rows)
        typed = self._typedValues.get(findingId, {})
        for index, value in enumerate(rows):
            texts = (
                value["label"],
                typed.get(value["name"], value["value"]),
                value["unit"],
                value["normal"],
                value["flag"],
            )
            for column, text in enumerate(texts):
                item = qt.QTableWidgetItem(text)
                item.setData(qt.Qt.UserRole, value["name"])
                if column != 1 or self.record.signed:
                    item.setFlags(item.flags() & ~qt.Qt.ItemIsEditable)
                table.setItem(index, column, item)
        self._shownFinding = findingId

    def onFindingDoubleClicked(self, row: int, column: int) -> None:
        """Go to the finding's point (LPS in the report, RAS in Slicer) in the slice views."""
        finding = self.record.content.finding(self.ui.findingsTable.item(row, 0).text()) if self.record else None
        if finding is None or finding.link.point_lps is None:
            return
        x, y, z = finding.link.point_lps
        slicer.modules.markups.logic().JumpSlicesToLocation(-x, -y, z, True)

    def onSave(self, sign: bool) -> None:
        from assistcore.reports import update_report

        message = _("Could not sign the report.") if sign else _("Could not save the edits.")
        with slicer.util.tryWithErrorDisplay(message, waitCursor=True):
            name = self.ui.signerLineEdit.text.strip()
            if sign and not name:
                raise ValueError(_("Type the reader's name before signing."))
            self.record = update_report(
                self.caseDirectory, edits=self.typedEdits(), sign=name if sign else None, by=name
            )
            self.show()

    def onAmend(self) -> None:
        from assistcore.reports import update_report

        with slicer.util.tryWithErrorDisplay(_("Could not amend the report."), waitCursor=True):
            reason = qt.QInputDialog.getText(self.widget, _("Amend report"), _("Reason for the amendment:"))
            if reason:
                self.record = update_report(self.caseDirectory, amend=reason, by=self.ui.signerLineEdit.text.strip())
                self.show()

    def onExport(self) -> None:
        from assistcore.reports import export_report

        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            folder = Path(self.ui.exportDirectoryButton.directory)
            files = export_report(self.record, folder)
            if self.ui.dicomCheckBox.checked:
                from assistcore.dicom_export import export_case_dicom

                observer = (self.record.current.get("signature") or {}).get("name", "") or self.ui.signerLineEdit.text
                derive = self.ui.deriveSourceCheckBox.checked
                files += export_case_dicom(self.record, folder, observer=observer, derive_source=derive)
            slicer.util.infoDisplay(_("Exported:") + "\n" + "\n".join(str(path) for path in files))

    # ----- what the reader typed -----------------------------------------------------------------------------
    def _keepTypedValues(self) -> None:
        if not self._shownFinding:
            return
        table = self.ui.valuesTable
        typed = self._typedValues.setdefault(self._shownFinding, {})
        for row in range(table.rowCount):
            item = table.item(row, 1)
            typed[item.data(qt.Qt.UserRole)] = item.text()

    def typedEdits(self) -> dict[str, str]:
        """Edit keys for the sentences, values and impression the reader changed in the panel."""
        from assistcore.reports.form import edits_from_form

        self._keepTypedValues()
        table = self.ui.findingsTable
        texts = {table.item(row, 0).text(): table.item(row, 1).text() for row in range(table.rowCount)}
        return edits_from_form(self.record.content, texts, self._typedValues, self.ui.impressionEdit.plainText)
