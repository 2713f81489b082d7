"""The Station's page: trame-slicer's viewer layout with worklist, case and Segment Editor panels.

Element ids (``station-...``) are what the browser tests click; keep them stable.
"""

from __future__ import annotations

from trame.widgets import html
from trame.widgets.vuetify3 import (
    VAlert,
    VBtn,
    VCard,
    VCardText,
    VCardTitle,
    VChip,
    VDivider,
    VProgressLinear,
    VSpacer,
    VTable,
    VTextField,
)
from trame_slicer.app.ui import (
    ControlButton,
    LayoutButton,
    SegmentEditorToolbarUI,
    SegmentEditorUI,
    SegmentEditorUndoRedoUI,
    ViewerLayout,
)

from .ui_reports import report_panel

DEMO_NOTICE = "Demo model trained on synthetic phantoms: it proves the pipeline, not clinical accuracy."


class StationUI:
    """Builds the page once; ``app`` supplies the actions (see :class:`radassist.station.app.StationApp`)."""

    def __init__(self, server, layout_manager, app) -> None:
        with ViewerLayout(server, title="RadAssist Station", is_drawer_visible=True) as self.layout:
            self.layout.state.trame__title = "RadAssist Station"
            with self.layout.appbar:
                VChip(
                    "{{ ra_user }} ({{ ra_role }})",
                    v_if=("ra_signed_in",),
                    id="station-user",
                    prepend_icon="mdi-account",
                    classes="mr-2",
                )
                VBtn("Sign out", href="/signout", id="station-signout", variant="outlined", size="small")

            with self.layout.toolbar:
                for icon, name, panel, disabled in (
                    ("mdi-format-list-bulleted", "Worklist", "worklist", "false"),
                    ("mdi-robot-outline", "Case, assistant, QA, save, review", "case", "!ra_case"),
                    ("mdi-brush", "Segment Editor", "editor", "!ra_case || !ra_can_paint"),
                    ("mdi-file-document-edit-outline", "Report: edit, sign, amend", "report", "!ra_case"),
                ):
                    ControlButton(
                        icon=icon,
                        name=name,
                        click=f"ra_panel = '{panel}'",
                        id=f"station-tab-{panel}",
                        active=(f"ra_panel === '{panel}'",),
                        disabled=(disabled,),
                        classes="mt-1",
                    )
                self.layout_button = LayoutButton(classes="mt-1", disabled=("!ra_case",))

            with self.layout.drawer:
                with html.Div(v_if=("ra_signed_in",), classes="pa-2", style="overflow-y: auto;"):
                    self._message()
                    self._worklist(app)
                    self._case(app)
                    report_panel(app)
                self.segment_editor = SegmentEditorUI(v_if=("ra_signed_in && ra_panel === 'editor'",))

            with self.layout.toolbar, html.Div(v_if=("ra_panel === 'editor'",)):
                SegmentEditorToolbarUI(editor_ui=self.segment_editor)
            with self.layout.undo_redo:
                SegmentEditorUndoRedoUI(editor_ui=self.segment_editor, v_if=("ra_panel === 'editor'",))

            with self.layout.content:
                layout_manager.initialize_layout_grid(self.layout)

    @staticmethod
    def _message() -> None:
        VAlert(
            v_if=("ra_message",),
            text=("ra_message",),
            type=("ra_message_type",),
            id="station-message",
            density="compact",
            closable=True,
            classes="mb-2",
            click_close="ra_message = ''",
        )

    @staticmethod
    def _worklist(app) -> None:
        with VCard(v_if=("ra_panel === 'worklist'",), id="station-worklist"):
            with VCardTitle(classes="d-flex align-center"):
                html.Span("Worklist")
                VSpacer()
                VBtn(icon="mdi-refresh", size="small", variant="text", click=app.refresh, id="station-refresh")
            with VTable(density="compact"):
                with html.Thead(), html.Tr():
                    for title in ("Case", "Status", "Uncertainty", "Assignee", ""):
                        html.Th(title)
                with html.Tbody():
                    with html.Tr(v_for="row in ra_cases", key="row.case_id"):
                        html.Td("{{ row.case_id }}")
                        html.Td("{{ row.status }}")
                        html.Td("{{ row.uncertainty === null ? '–' : row.uncertainty }}")
                        html.Td("{{ row.annotator || '–' }}")
                        with html.Td():
                            VBtn(
                                "Open",
                                size="small",
                                click=(app.open_case, "[row.case_id]"),
                                id=("`station-open-${row.case_id}`",),
                                disabled=("ra_busy",),
                            )
                    with html.Tr(v_if=("ra_cases.length === 0",)):
                        html.Td("No cases for you.", colspan=5)

    @staticmethod
    def _case(app) -> None:
        with VCard(v_if=("ra_panel === 'case' && ra_case",), id="station-case"):
            VCardTitle("{{ ra_case.case_id }}")
            with VCardText():
                VChip("{{ ra_case.status }}", id="station-case-status", size="small", classes="mr-2")
                html.Span("revision {{ ra_case.revision }} · {{ ra_case.sequences.join(', ') }}")
                VDivider(classes="my-2")
                html.Div("{{ ra_case.assistant }} · {{ ra_case.model.name }}", classes="text-subtitle-2")
                html.Div(
                    DEMO_NOTICE,
                    v_if=("ra_case.model.synthetic_demo_model",),
                    id="station-demo-notice",
                    classes="text-caption text-warning mb-1",
                )
                StationUI._run_controls(app)
                StationUI._results()
                StationUI._case_actions(app)
                StationUI._review(app)

    @staticmethod
    def _run_controls(app) -> None:
        """Run and Cancel of the case's assistant, with its progress while it runs."""
        with html.Div(classes="d-flex align-center"):
            VBtn(
                "Run {{ ra_case.assistant }}",
                click=app.run_assistant,
                id="station-run",
                disabled=("ra_busy || !ra_can_edit",),
                color="primary",
                size="small",
            )
            VBtn(
                "Cancel",
                click=app.cancel_assistant,
                id="station-cancel",
                disabled=("!ra_busy",),
                size="small",
                variant="outlined",
                classes="ml-2",
            )
        VProgressLinear(
            model_value=("ra_progress",),
            v_if=("ra_busy",),
            id="station-progress",
            height=8,
            color="primary",
            classes="my-2",
        )
        html.Div("{{ ra_progress_text }}", v_if=("ra_busy",), classes="text-caption")

    @staticmethod
    def _results() -> None:
        """The last run's headline and its table: lesions (brain), slices (CRM) or findings (spine)."""
        with html.Div(v_if=("ra_summary",), id="station-results", classes="mt-2"):
            html.Div("{{ ra_summary.headline }}", id="station-headline", classes="text-body-2")
            html.Div("(saved results)", v_if=("ra_summary.saved",), classes="text-caption")
            _results_table(
                "ra_case.kind === 'brain'",
                "lesion in ra_summary.lesions",
                "lesion.index",
                {
                    "Lesion": "{{ lesion.index }}",
                    "Volume (ml)": "{{ lesion.volume_ml.toFixed(2) }}",
                    "Axial slices": "{{ lesion.first_axial_slice }}–{{ lesion.last_axial_slice }}",
                },
            )
            _results_table(
                "ra_case.kind === 'crm'",
                "row in ra_summary.slices",
                "row.slice_index",
                {
                    "Slice": "{{ row.slice_index }}",
                    "Max probability": "{{ row.max_probability.toFixed(2) }}",
                    "Boxes at threshold": "{{ row.boxes_at_threshold }}",
                    "Positive": "{{ row.positive === true || row.positive === 'True' ? 'yes' : 'no' }}",
                },
            )
            _results_table(
                "ra_case.kind === 'spine'",
                "row in ra_summary.findings",
                "row.level",
                {"Level": "{{ row.level }}", "Kind": "{{ row.kind }}", "Findings": "{{ row.findings }}"},
            )

    @staticmethod
    def _case_actions(app) -> None:
        """QA, Save, Save as copy (after a conflict) and Submit, then the QA report."""
        VDivider(classes="my-2")
        with html.Div(classes="d-flex flex-wrap ga-2"):
            VBtn(
                "QA checks",
                click=app.run_qa,
                id="station-qa",
                size="small",
                disabled=("ra_busy",),
                v_if=("ra_case.kind === 'brain'",),
            )
            VBtn(
                "Save",
                click=app.save,
                id="station-save",
                size="small",
                color="success",
                disabled=("ra_busy || !ra_can_edit",),
            )
            VBtn(
                "Save as copy",
                click=app.save_copy,
                id="station-save-copy",
                size="small",
                v_if=("ra_conflict",),
                color="warning",
            )
            VBtn(
                "Submit for review",
                click=app.submit,
                id="station-submit",
                size="small",
                v_if=("ra_can_submit",),
                disabled=("ra_busy",),
            )
        with html.Div(v_if=("ra_qa",), id="station-qa-report", classes="mt-2 text-caption"):
            html.Div("QA {{ ra_qa.passed ? 'passed' : 'raised flags' }}")
            html.Div("{{ flag.severity }}: {{ flag.message }}", v_for="flag in ra_qa.flags")

    @staticmethod
    def _review(app) -> None:
        """The reviewer's comment, Accept and Send back."""
        with html.Div(v_if=("ra_role === 'reviewer'",), id="station-review", classes="mt-2"):
            VDivider(classes="my-2")
            VTextField(
                v_model=("ra_comment",),
                label="Comment to the annotator",
                density="compact",
                id="station-comment",
                disabled=("!ra_can_review",),
            )
            with html.Div(classes="d-flex ga-2"):
                VBtn(
                    "Accept",
                    click=(app.review, "[true]"),
                    id="station-accept",
                    color="success",
                    size="small",
                    disabled=("!ra_can_review",),
                )
                VBtn(
                    "Send back",
                    click=(app.review, "[false]"),
                    id="station-send-back",
                    color="error",
                    size="small",
                    disabled=("!ra_can_review",),
                )


def _results_table(condition: str, loop: str, key: str, columns: dict[str, str]) -> None:
    """A compact table shown when ``condition`` holds: one row per item of ``loop``, cells as templates."""
    with VTable(density="compact", v_if=(condition,)):
        with html.Thead(), html.Tr():
            for title in columns:
                html.Th(title)
        with html.Tbody(), html.Tr(v_for=loop, key=key):
            for template in columns.values():
                html.Td(template)
