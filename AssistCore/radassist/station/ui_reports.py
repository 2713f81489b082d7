"""The Station's Report panel: the open case's draft (sentences, values, impression) to edit, Sign, Amend, the
HTML download, Export and the PDF download. Layout only; the buttons call
:class:`radassist.station.app_reports.ReportActions`.

Element ids (``station-report-...``) are what the browser tests click; keep them stable. The editable fields
change ``ra_report_form`` in the browser only; Save and Sign send it back whole.
"""

from __future__ import annotations

from trame.widgets import html
from trame.widgets.vuetify3 import VBtn, VCard, VCardText, VCardTitle, VChip, VDivider, VTable, VTextarea, VTextField

from .app_reports import REPORT_PDF_TRIGGER
from .reports import SIGNING_NOTE

READ_ONLY = "ra_report.signed"


def report_panel(app) -> None:
    """The Report card, shown when the Report tab is active and a case is open."""
    with VCard(v_if=("ra_panel === 'report' && ra_case",), id="station-report"):
        VCardTitle("Report")
        with VCardText():
            html.Div(
                "{{ ra_report_problem }}", v_if=("!ra_report",), id="station-report-problem", classes="text-caption"
            )
            with html.Div(v_if=("ra_report",)):
                _header()
                _findings()
                VTextarea(
                    v_model=("ra_report_form.impression",),
                    label="Impression",
                    readonly=(READ_ONLY,),
                    auto_grow=True,
                    rows=2,
                    density="compact",
                    id="station-report-impression",
                    classes="mt-2",
                )
                _actions(app)


def _header() -> None:
    """Title, version and status, the signature or the amendment, the drafting model, the versions so far."""
    with html.Div(classes="d-flex align-center"):
        html.Span("{{ ra_report.title }} · {{ ra_report.case_id }} · v{{ ra_report.version }}", classes="mr-2")
        VChip(
            "{{ ra_report.status }}",
            id="station-report-status",
            size="small",
            color=("ra_report.signed ? 'success' : 'warning'",),
        )
    html.Div(
        "Signed by {{ ra_report.signature.name }} at {{ ra_report.signature.time_utc }}: read-only; "
        "amend it to change it.",
        v_if=("ra_report.signed",),
        id="station-report-signature",
        classes="text-caption",
    )
    html.Div(
        "Amends v{{ ra_report.amends }}: {{ ra_report.amendment_reason }}",
        v_if=("ra_report.amends",),
        classes="text-caption",
    )
    html.Div("Drafted by {{ ra_report.model }}", classes="text-caption")
    html.Div("{{ line }}", v_for="line in ra_report.versions", key="line", classes="text-caption")
    html.Div(SIGNING_NOTE, id="station-report-roles", classes="text-caption text-medium-emphasis mb-1")


def _findings() -> None:
    """One block per finding: its sentence (editable), flags, where it is, and its values (editable)."""
    with html.Div(v_for="item in ra_report.findings", key="item.finding_id", classes="mt-2"):
        VDivider(classes="mb-1")
        with html.Div(classes="d-flex align-center"):
            html.Span("{{ item.title }}", classes="text-subtitle-2 mr-2")
            VChip("{{ item.flags }}", v_if=("item.flags",), color="error", size="x-small")
        VTextarea(
            v_model=("ra_report_form.texts[item.finding_id]",),
            readonly=(READ_ONLY,),
            auto_grow=True,
            rows=1,
            density="compact",
            hide_details=True,
            id=("`station-report-text-${item.finding_id}`",),
        )
        html.Div("{{ item.link }}", v_if=("item.link",), classes="text-caption")
        with VTable(density="compact", v_if=("item.values.length",)):
            with html.Thead(), html.Tr():
                for title in ("Value", "", "Unit", "Normal", "Flag"):
                    html.Th(title)
            with html.Tbody(), html.Tr(v_for="row in item.values", key="row.name"):
                html.Td("{{ row.label }}")
                with html.Td():
                    VTextField(
                        v_model=("ra_report_form.values[item.finding_id][row.name]",),
                        readonly=(READ_ONLY,),
                        density="compact",
                        hide_details=True,
                        id=("`station-report-value-${item.finding_id}-${row.name}`",),
                    )
                html.Td("{{ row.unit }}")
                html.Td("{{ row.normal }}")
                html.Td("{{ row.flag }}", classes="text-error")


def _actions(app) -> None:
    """Save edits and Sign on a draft; Amend with a reason on a signed report; the HTML download, Export (HTML, PDF,
    JSON, DICOM SR/SEG on the server) and the exported PDF's download."""
    with html.Div(classes="d-flex flex-wrap ga-2 mt-2", v_if=("!ra_report.signed",)):
        VBtn(
            "Save edits",
            click=(app.report_save, "[ra_report_form]"),
            id="station-report-save",
            size="small",
            disabled=("ra_busy",),
        )
        VBtn(
            "Sign as {{ ra_user }}",
            click=(app.report_sign, "[ra_report_form]"),
            id="station-report-sign",
            size="small",
            color="primary",
            disabled=("ra_busy || !ra_can_sign",),
        )
    with html.Div(v_if=("ra_report.signed",), classes="mt-2"):
        VTextField(
            v_model=("ra_report_reason",),
            label="Reason for the amendment",
            density="compact",
            id="station-report-reason",
            disabled=("!ra_can_sign",),
        )
        VBtn(
            "Amend",
            click=(app.report_amend, "[ra_report_reason]"),
            id="station-report-amend",
            size="small",
            color="warning",
            disabled=("ra_busy || !ra_can_sign || !ra_report_reason",),
        )
    with html.Div(classes="d-flex flex-wrap ga-2 mt-2"):
        VBtn(
            "Download HTML",
            click="utils.download(ra_report.html_name, ra_report.html, 'text/html')",
            id="station-report-html",
            size="small",
            variant="outlined",
            prepend_icon="mdi-download",
        )
        VBtn(
            "Export PDF, JSON, DICOM SR",
            click=app.report_export,
            id="station-report-export",
            size="small",
            variant="outlined",
            prepend_icon="mdi-export",
            disabled=("ra_busy",),
        )
        VBtn(
            "Download PDF",
            v_if=("ra_report_pdf",),
            # the bytes come in the trigger's reply (binary over the websocket), not through the shared state
            click=f"utils.download(ra_report_pdf.name, trigger('{REPORT_PDF_TRIGGER}'), 'application/pdf')",
            id="station-report-pdf",
            size="small",
            variant="outlined",
            prepend_icon="mdi-file-pdf-box",
        )
