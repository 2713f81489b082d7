"""The Station's render focus: the view under the mouse renders at once, the others when the mouse rests."""

from __future__ import annotations

import asyncio

from radassist.station.rendering import FocusedRendering


class FakeStrategy:
    def __init__(self) -> None:
        self.renders = 0
        self.abstract_view = None

    def schedule_render(self) -> None:
        self.renders += 1

    def set_abstract_view(self, view) -> None:
        self.abstract_view = view


class FakeInteractor:
    def __init__(self) -> None:
        self.observers = {}

    def AddObserver(self, event, callback, priority):
        self.observers[event] = callback

    def fire(self, event: str) -> None:
        self.observers[event]()


class FakeView:
    def __init__(self) -> None:
        self._scheduled_render = FakeStrategy()
        self._interactor = FakeInteractor()

    def set_scheduled_render(self, strategy) -> None:
        self._scheduled_render = strategy
        strategy.set_abstract_view(self)

    def interactor(self):
        return self._interactor


def _attached(delay_s: float):
    focus = FocusedRendering(delay_s)
    painted, other = FakeView(), FakeView()
    inner = {view: view._scheduled_render for view in (painted, other)}
    for view in (painted, other):
        focus.attach(view)
    return focus, painted, other, inner


def test_views_render_at_once_while_nobody_interacts():
    async def scenario():
        _focus, painted, other, inner = _attached(0.05)
        painted._scheduled_render.schedule_render()
        other._scheduled_render.schedule_render()
        return inner[painted].renders, inner[other].renders

    assert asyncio.run(scenario()) == (1, 1)


def test_other_views_wait_until_the_mouse_rests_then_render_once():
    async def scenario():
        _focus, painted, other, inner = _attached(0.05)
        for _ in range(5):  # a stroke: mouse events in one view, every change asks every view to render
            painted.interactor().fire("MouseMoveEvent")
            painted._scheduled_render.schedule_render()
            other._scheduled_render.schedule_render()
            await asyncio.sleep(0.02)
        during = (inner[painted].renders, inner[other].renders)
        await asyncio.sleep(0.2)  # the mouse rests
        return during, inner[other].renders

    (painted_during, other_during), other_after = asyncio.run(scenario())
    assert painted_during == 5, "the view under the mouse must render every change at once"
    assert other_during == 0, "other views must not render in the middle of a stroke"
    assert other_after == 1, "other views catch up once, when the mouse rests"


def test_wrapped_strategy_keeps_the_view_reference():
    _focus, painted, _other, inner = _attached(0.05)
    assert inner[painted].abstract_view is painted
    assert painted._scheduled_render.abstract_view is painted


def test_every_remote_view_is_capped_to_the_pixel_budget():
    from types import SimpleNamespace

    from radassist.station.rendering import cap_view_pixels

    adapters = [SimpleNamespace(max_pixel_count=0) for _ in range(3)]
    factories = [
        SimpleNamespace(_views={"Red": SimpleNamespace(view_adapter=adapters[0])}),
        SimpleNamespace(
            _views={"Yellow": SimpleNamespace(view_adapter=adapters[1]), "1": SimpleNamespace(view_adapter=adapters[2])}
        ),
    ]
    cap_view_pixels(SimpleNamespace(_factories=factories), 250_000)
    assert [adapter.max_pixel_count for adapter in adapters] == [250_000] * 3
