"""How the Station's views are rendered on a CPU-only server: the view in use first, the others when the mouse rests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

#: ``call_later(delay_s, callback)``: runs ``callback`` after ``delay_s`` seconds (the event loop's, by default)
CallLater = Callable[[float, Callable[[], None]], Any]


def _event_loop_call_later(delay_s: float, callback: Callable[[], None]) -> Any:
    return asyncio.get_event_loop().call_later(delay_s, callback)


class FocusedRendering:
    """Render the view under the mouse at once and gather the other views' renders into a few per second.

    Every mouse move over a view while painting changes MRML nodes that all views show (the brush, the
    segmentation), so trame-slicer re-renders all four views per move. On a CPU-only server (llvmpipe, about
    30-80 ms per view) the server then fell behind the mouse and a stroke took more than half a second to
    appear. Views the user is not working in render once the mouse has rested for ``background_delay_s``
    instead. The 3D view is never the one painted, so it always waits for that pause.

    ``clock`` (seconds, monotonic) and ``call_later`` are the event loop's by default; a test passes its own.
    """

    def __init__(
        self,
        background_delay_s: float,
        clock: Callable[[], float] = time.monotonic,
        call_later: CallLater = _event_loop_call_later,
    ) -> None:
        self.background_delay_s = background_delay_s
        self.clock = clock
        self.call_later = call_later
        self.active_view = None
        self.active_until = 0.0

    def attach(self, view) -> None:
        """Take over ``view``'s render scheduling and watch its mouse events."""
        view.set_scheduled_render(_FocusedRender(self, view, view._scheduled_render))
        interactor = view.interactor()
        for event in ("LeftButtonPressEvent", "MouseMoveEvent", "MouseWheelForwardEvent", "MouseWheelBackwardEvent"):
            interactor.AddObserver(event, lambda *_args, view=view: self._touched(view), 1.0)

    def _touched(self, view) -> None:
        self.active_view = view
        self.active_until = self.clock() + self.background_delay_s

    def renders_now(self, view) -> bool:
        return view is self.active_view or self.clock() > self.active_until


class _FocusedRender:
    """One view's render strategy under :class:`FocusedRendering` (wraps trame-slicer's own strategy)."""

    def __init__(self, focus: FocusedRendering, view, inner) -> None:
        self._focus = focus
        self._view = view
        self._inner = inner
        self._waiting = False

    def __getattr__(self, name):  # did_render, set_abstract_view, abstract_view: the wrapped strategy's
        return getattr(self._inner, name)

    def schedule_render(self) -> None:
        if self._focus.renders_now(self._view):
            self._inner.schedule_render()
        elif not self._waiting:
            self._waiting = True
            self._focus.call_later(self._focus.background_delay_s, self._render)

    def _render(self) -> None:
        if not self._focus.renders_now(self._view):  # the user is still at work in another view: wait more
            self._focus.call_later(self._focus.background_delay_s, self._render)
            return
        self._waiting = False
        self._inner.schedule_render()


def cap_view_pixels(view_manager, max_pixels: int) -> None:
    """Render each view at most ``max_pixels`` (trame-rca scales the frame down; the browser scales it up).

    Rendering time on llvmpipe grows with the pixel count, and a large or HiDPI screen would otherwise make
    every stroke slower. trame-slicer has no public accessor for its RCA adapters, hence the guarded walk.
    """
    for factory in getattr(view_manager, "_factories", []):
        for rca_view in getattr(factory, "_views", {}).values():
            adapter = getattr(rca_view, "view_adapter", None)
            if adapter is not None:
                adapter.max_pixel_count = max_pixels
