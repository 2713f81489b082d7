"""The Station's web app for one signed-in user: trame-slicer views and Segment Editor plus RadAssist panels.

One process per signed-in user (started by :mod:`radassist.station.gateway`, which alone talks to the
browser): its MRML scene, undo stack and open case belong to that user only. The gateway starts it
unbound and tells it who signed in through its standard input; until then it shows nothing. Every HTTP
and websocket request must carry the gateway's per-process key, so the loopback port is useless to
anyone who goes around the gateway.

Buttons call :class:`~radassist.station.cases.StationSession`; this file only wires state and layout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading
import traceback

from .app_assistant import AssistantRuns
from .app_reports import REPORT_PDF_TRIGGER, REPORT_STATE, ReportActions

WORKER_KEY_HEADER = "X-RadAssist-Worker-Key"
READY_LINE = "RADASSIST_STATION_WORKER_READY"
#: the largest websocket message wslink sends in one frame (it splits bigger ones into chunks; trame's
#: default, made explicit because the gateway limits frames to it)
WS_MAX_MESSAGE_BYTES = 10_000_000
#: wslink's reaper: the process exits this long after its last websocket closed (wslink's own default). The
#: gateway keeps one websocket open to each app process it holds, so this fires only once the gateway lets go.
DEFAULT_REAPER_TIMEOUT_S = 300
#: JPEG quality of the views, equal to trame-rca's still quality (see StationApp.__init__)
RCA_JPEG_QUALITY = 90
#: the most pixels a view is rendered at (about 630 x 400); frames are scaled up in the browser. It halved
#: the time a stroke takes to appear on this project's 2-core machine (llvmpipe renders by the pixel)
MAX_VIEW_PIXELS = 250_000
#: niceness of an app process until a user signs in to it
SPARE_NICENESS = 10
#: while the user works in one view, the others render once the mouse has rested this long (FocusedRendering)
BACKGROUND_VIEW_RENDER_DELAY_S = 0.25


def quiet_vtk_on_the_terminal() -> None:
    """VTK's warnings go to the log file of :func:`AssistCoreLib.headless.quietVTK`, not the `serve` terminal.

    An app process otherwise prints VTK's notes (the missing X display before it falls back to EGL, a
    deprecated resize event) into the terminal that runs `radassist serve`; errors still reach it.
    """
    import vtk

    from AssistCoreLib.headless import quietVTK

    quietVTK()
    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR)


def _views_logics(slicer_app):
    """trame-slicer's module logics as the AssistCoreLib adapters expect them (``HeadlessLogics``)."""
    from AssistCoreLib.headless import HeadlessLogics

    return HeadlessLogics(
        application=slicer_app.app_logic,
        volumes=slicer_app.volumes_logic,
        segmentations=slicer_app.segmentations_logic,
        subjectHierarchy=slicer_app.subject_hierarchy_logic,
        markups=None,
        tables=None,
    )


class StationApp(AssistantRuns, ReportActions):
    """The trame server, the Slicer core and the panels of one worker process."""

    def __init__(self, server, worklist_path: str, worker_key: str) -> None:
        from trame_server.utils.typed_state import TypedState
        from trame_slicer import module as trame_slicer_module
        from trame_slicer.app.logic.layout_button_logic import LayoutButtonLogic
        from trame_slicer.app.logic.segmentation import SegmentEditorLogic
        from trame_slicer.app.ui.segmentation.paint_effect_ui import PaintEffectState
        from trame_slicer.core import SlicerApp
        from trame_slicer.rca_view import register_rca_factories

        from assistcore.brain.worklist import Worklist

        from .rendering import FocusedRendering, cap_view_pixels
        from .ui import StationUI

        self.server = server
        self.state = server.state
        self.worker_key = worker_key
        self.worklist = Worklist(worklist_path)
        server.enable_module(trame_slicer_module)
        self.slicer_app = SlicerApp()
        quiet_vtk_on_the_terminal()  # SlicerApp sends VTK's messages to stderr again
        self.logics = _views_logics(self.slicer_app)
        # one render per change: with interactive quality below still quality, trame-rca renders every change
        # twice (a quick frame, then a sharp one), which on a CPU-only server doubles a stroke's cost
        register_rca_factories(self.slicer_app.view_manager, server, interactive_quality=RCA_JPEG_QUALITY)
        self.segment_editor_logic = SegmentEditorLogic(server, self.slicer_app)
        # a flat (in-plane) brush, Slicer's own Paint default: annotators paint slice by slice, and a stroke
        # then changes one slice only, which keeps it quick to show on a CPU-only server
        TypedState(self.state, PaintEffectState).data.use_sphere_brush = False
        self.layout_logic = LayoutButtonLogic(server, self.slicer_app)
        self.session = None
        self._running = None  # the Future of the assistant run in progress
        self._assistant_process = None  # started at the first case opened (see _open_case)
        self._case_model: dict = {}  # the model a run on the open case uses (name, demo flag)
        self._reset_state()
        self.ui = StationUI(server, self.layout_logic.layout_manager, self)
        self.segment_editor_logic.set_ui(self.ui.segment_editor)
        self.layout_logic.set_ui(self.ui.layout_button)
        cap_view_pixels(self.slicer_app.view_manager, MAX_VIEW_PIXELS)
        self.focused_rendering = FocusedRendering(BACKGROUND_VIEW_RENDER_DELAY_S)
        for view in self.slicer_app.view_manager.get_views():
            self.focused_rendering.attach(view)
        server.controller.trigger(REPORT_PDF_TRIGGER)(self.report_pdf_bytes)
        server.controller.on_server_bind.add(self._guard_requests)
        server.controller.on_server_ready.add(self._announce_ready)

    # ----- process plumbing --------------------------------------------------------------------
    def _guard_requests(self, wslink_server) -> None:
        """Refuse every request that does not come through the gateway (which adds the worker key)."""
        from aiohttp import web

        @web.middleware
        async def require_worker_key(request, handler):
            if request.headers.get(WORKER_KEY_HEADER) != self.worker_key:
                return web.Response(status=403, text="Sign in through the RadAssist Station address.")
            return await handler(request)

        wslink_server.app.middlewares.append(require_worker_key)

    def _announce_ready(self, **_kwargs) -> None:
        print(f"{READY_LINE} {self.server.port}", flush=True)
        loop = asyncio.get_event_loop()
        threading.Thread(target=self._read_identity, args=(loop,), daemon=True).start()

    def _read_identity(self, loop) -> None:
        """Wait for the gateway's one line naming the signed-in user; exit when the gateway goes away."""
        line = sys.stdin.readline()
        if not line:
            os._exit(0)
        identity = json.loads(line)
        loop.call_soon_threadsafe(self.sign_in, identity["username"], identity["role"])
        sys.stdin.read()  # blocks until the gateway closes our stdin (sign-out, gateway stopped)
        if self._assistant_process is not None:
            self._assistant_process.close()
        os._exit(0)  # saves are atomic, so there is nothing to flush; stopping the loop cleanly is not needed

    def _reset_state(self) -> None:
        defaults = {
            "ra_signed_in": False,
            "ra_user": "",
            "ra_role": "",
            "ra_cases": [],
            "ra_case": None,
            "ra_busy": False,
            "ra_progress": 0,
            "ra_progress_text": "",
            "ra_summary": None,
            "ra_qa": None,
            "ra_message": "",
            "ra_message_type": "info",
            "ra_conflict": False,
            "ra_comment": "",
            "ra_can_edit": False,
            "ra_can_paint": False,
            "ra_can_review": False,
            "ra_can_submit": False,
            "ra_panel": "worklist",
        }
        self.state.update({**defaults, **REPORT_STATE})

    # ----- actions (each one a StationSession call) --------------------------------------------
    def sign_in(self, username: str, role: str) -> None:
        from assistcore.station.accounts import Account, Role

        with contextlib.suppress(OSError):  # back to normal priority; without the right to, all stay equal
            os.setpriority(os.PRIO_PROCESS, 0, 0)

        from .cases import StationSession

        self.session = StationSession(self.slicer_app.scene, self.logics, self.worklist, Account(username, Role(role)))
        with self.state:
            self.state.ra_signed_in = True
            self.state.ra_user = username
            self.state.ra_role = role
            self._refresh_cases()

    def _say(self, text: str, kind: str = "info") -> None:
        self.state.ra_message = text
        self.state.ra_message_type = kind

    def _guarded(self, action, *args) -> None:
        """Run one action; a RadAssist error becomes the panel's message, anything else too (and stderr)."""
        from assistcore.brain.worklist import ConflictError
        from assistcore.errors import RadAssistError

        if self.session is None:
            return
        with self.state:
            try:
                self.state.ra_conflict = False
                action(*args)
            except ConflictError as error:
                self.state.ra_conflict = True
                self._say(str(error), "error")
            except RadAssistError as error:
                self._say(str(error), "error")
            except Exception as error:  # keep the app alive; the traceback goes to the worker's log
                traceback.print_exc()
                self._say(f"Internal error: {type(error).__name__}: {error}", "error")

    def _refresh_cases(self) -> None:
        self.state.ra_cases = self.session.visible_cases()

    def _publish_case(self) -> None:
        from assistcore.brain.worklist import CaseStatus
        from assistcore.station.accounts import can_edit, can_review

        opened = self.session.current
        if opened is None:
            self.state.ra_case = None
            return
        case = self.worklist.get(opened.case.case_id)
        self.state.ra_case = {
            "case_id": case.case_id,
            "status": case.status.value,
            "revision": opened.base_revision,
            "annotator": case.annotator or "",
            "sequences": sorted(opened.volume_nodes),
            "kind": opened.kind,
            "assistant": opened.title,
            "model": self._case_model,
        }
        self.state.ra_can_edit = can_edit(self.session.account, case)
        self.state.ra_can_paint = self.state.ra_can_edit and opened.kind == "brain"
        self.state.ra_can_review = can_review(self.session.account, case)
        self.state.ra_can_submit = (
            case.status == CaseStatus.IN_ANNOTATION and case.annotator == self.session.account.username
        )
        self._refresh_cases()

    def open_case(self, case_id: str) -> None:
        self._guarded(self._open_case, case_id)

    def _open_case(self, case_id: str) -> None:
        from .assistants import default_model

        opened = self.session.open_case(case_id)
        self._case_model = default_model(opened.kind)  # read once per case: the registry scans model folders
        segmentation = self.session.ensure_segmentation()  # None for CRM and spine cases
        reference = opened.reference_node
        self.slicer_app.display_manager.show_volume_in_slice_background(reference)
        self.slicer_app.display_manager.show_volume_in_slice_foreground(None)
        for view in self.slicer_app.view_manager.get_slice_views():
            view.set_visible_in_3d(True)  # slice planes in 3D; no volume rendering on a CPU-only server
        self.slicer_app.display_manager.reset_views()
        if segmentation is not None:
            self._activate_segmentation(segmentation, reference)
        else:
            self.slicer_app.segmentation_editor.deactivate_effect()
        self._assistant().warm_up(opened.kind)  # torch and the model load while the user looks at the case
        self.state.ra_summary = opened.summary or None
        self.state.ra_qa = None
        self.state.ra_panel = "case"
        self._publish_case()
        self._load_report()
        self._say(f"Opened {case_id} ({', '.join(sorted(opened.volume_nodes))}).", "info")

    def _activate_segmentation(self, segmentation, reference) -> None:
        from trame_slicer.segmentation import SegmentationOverwriteMode

        editor = self.slicer_app.segmentation_editor
        editor.deactivate_effect()
        editor.set_active_segmentation(segmentation, reference)
        # the regions nest (whole tumour around tumour body around enhancing): painting one must not erase
        # the others, which the editor's default "overwrite all" would do
        editor.set_overwrite_mode(SegmentationOverwriteMode.ALLOW_OVERLAP)
        # no 3D surfaces while editing: rebuilding them after every stroke is costly on a CPU-only server;
        # the user can switch them on under "Rendering"
        self.segment_editor_logic.data.segment_display.show_3d = False
        self.segment_editor_logic._on_segment_display_changed(self.segment_editor_logic.data.segment_display)
        self.segment_editor_logic._on_segment_editor_changed()
        if editor.get_segment_ids():
            editor.set_active_segment_id(editor.get_segment_ids()[0])

    def run_qa(self) -> None:
        def qa() -> None:
            report = self.session.run_qa()
            self.state.ra_qa = report
            self._say(
                "QA passed." if report["passed"] else f"QA raised {len(report['flags'])} flag(s).",
                "success" if report["passed"] else "warning",
            )

        self._guarded(qa)

    def save(self) -> None:
        def save() -> None:
            from .reports import keep_report_before_save

            if self.session.current is not None and self.session.current.kind != "brain":
                keep_report_before_save(self.session.current.case)  # the save replaces results/ as a whole
            saved = self.session.save()
            self._publish_case()
            self._load_report()  # CRM and spine: new results, so a new draft
            self._say(
                f"Saved revision {saved['revision']} to {saved['folder']}: {', '.join(saved['files'])}.", "success"
            )

        self._guarded(save)

    def save_copy(self) -> None:
        def save_copy() -> None:
            saved = self.session.save_copy()
            self._say(
                f"Your edit was saved as a copy in {saved['folder']}; the case's labels are unchanged.", "success"
            )

        self._guarded(save_copy)

    def submit(self) -> None:
        def submit() -> None:
            self.session.submit()
            self._publish_case()
            self._say("Submitted for review.", "success")

        self._guarded(submit)

    def review(self, accept: bool) -> None:
        def review() -> None:
            self.session.review(bool(accept), self.state.ra_comment or "")
            self._publish_case()
            self._say("Accepted." if accept else "Sent back to the annotator.", "success")

        self._guarded(review)

    def refresh(self) -> None:
        self._guarded(self._refresh_cases)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One RadAssist Station worker (started by `radassist serve`).")
    parser.add_argument("--worklist", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--worker-key-stdin", action="store_true", help="read the worker key as stdin's first line")
    parser.add_argument(
        "--reaper-timeout-s",
        type=int,
        default=DEFAULT_REAPER_TIMEOUT_S,
        help="exit this many seconds after the last websocket closed (0: never; tests shorten it)",
    )
    args = parser.parse_args(argv)
    worker_key = sys.stdin.readline().strip() if args.worker_key_stdin else ""
    if not worker_key:
        print("radassist station worker: no worker key given", file=sys.stderr)
        return 2
    # a spare process starts while other users work: at low priority until someone signs in (see sign_in)
    os.nice(SPARE_NICENESS)
    os.environ["TRAME_WS_MAX_MSG_SIZE"] = str(WS_MAX_MESSAGE_BYTES)  # read when the trame server is made
    from trame.app import get_server

    quiet_vtk_on_the_terminal()
    server = get_server(None, client_type="vue3")
    StationApp(server, args.worklist, worker_key)
    server.start(
        host="127.0.0.1",
        port=args.port,
        open_browser=False,
        show_connection_info=False,
        disable_logging=True,
        timeout=max(0, args.reaper_timeout_s),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
