"""The Station app's assistant runs: started in the helper process (:mod:`radassist.station.compute`), their
progress and result brought back onto the app's event loop. A base class of
:class:`radassist.station.app.StationApp`, which owns the state, the session and ``_guarded``."""

from __future__ import annotations

import asyncio


class AssistantRuns:
    """Run, cancel and finish the open case's assistant, for :class:`~radassist.station.app.StationApp`."""

    def run_assistant(self) -> None:
        """Start the case's assistant in the helper process; progress and the result come back through the loop."""
        if self.session is None or self.session.current is None or self._running is not None:
            return
        loop = asyncio.get_event_loop()

        def start() -> None:
            kind, inputs, case_id = self.session.assistant_inputs()
            future = self._assistant().run(
                kind, inputs, case_id, None, lambda event: loop.call_soon_threadsafe(self._show_progress, event)
            )
            self._running = future
            future.add_done_callback(lambda done: loop.call_soon_threadsafe(self._assistant_finished, done, case_id))
            self.state.ra_busy = True
            self.state.ra_progress = 0
            self.state.ra_progress_text = "starting"
            self._say(f"{self.session.current.title} is running.", "info")

        self._guarded(start)

    def _assistant(self):
        from .compute import AssistantProcess

        if self._assistant_process is None:
            self._assistant_process = AssistantProcess()
        return self._assistant_process

    def cancel_assistant(self) -> None:
        if self._running is not None:
            self._assistant_process.cancel()
            with self.state:
                self.state.ra_progress_text = "cancelling at the next step"

    def _show_progress(self, event) -> None:
        if self._running is None:
            return
        with self.state:
            self.state.ra_progress = round(100 * float(event.fraction), 1)
            self.state.ra_progress_text = f"{event.stage}: {event.message}".strip(": ")

    def _assistant_finished(self, future, case_id: str) -> None:
        from assistcore.errors import CancelledError

        self._running = None
        with self.state:
            self.state.ra_busy = False
        error = future.exception()
        if isinstance(error, CancelledError):
            with self.state:
                self._say("Cancelled; the labels were not changed.", "warning")
            return
        if error is not None:
            self._guarded(_raise, error)
            return

        def show() -> None:
            opened = self.session.current
            if opened is None or opened.case.case_id != case_id:  # the user moved on: never show it on another case
                self._say(f"The run on {case_id} finished after that case was closed; nothing was changed.", "warning")
                return
            summary = self.session.show_result(future.result())
            if opened.segmentation_node is not None:
                self._activate_segmentation(opened.segmentation_node, opened.reference_node)
            self.state.ra_summary = summary
            self.state.ra_progress = 100
            seconds = sum(summary["seconds_per_stage"].values())
            demo = (
                " Demo model trained on synthetic data: not for clinical use."
                if summary["synthetic_demo_model"]
                else " Research model: not approved for clinical use; check every label."
            )
            self._say(
                f"{opened.title} finished in {seconds:.1f} s: {summary['headline'].rstrip('.')}.{demo}", "success"
            )

        self._guarded(show)


def _raise(error: BaseException) -> None:
    raise error
