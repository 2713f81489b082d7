"""The Station's render focus: the view under the mouse renders at once, the others when the mouse rests."""

from __future__ import annotations

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


class FakeClock:
    """A monotonic clock the test moves by hand, with the event loop's ``call_later`` on the same time line."""

    def __init__(self) -> None:
        self.now_s = 100.0
        self.pending: list[tuple[float, object]] = []

    def __call__(self) -> float:
        return self.now_s

    def call_later(self, delay_s: float, callback) -> None:
        self.pending.append((self.now_s + delay_s, callback))

    def advance(self, seconds: float) -> None:
        """Move time on, running every callback that falls due (and those they schedule) in time order."""
        until = self.now_s + seconds
        while self.pending and min(due for due, _ in self.pending) <= until:
            self.pending.sort(key=lambda item: item[0])
            due, callback = self.pending.pop(0)
            self.now_s = due
            callback()
        self.now_s = until


def _attached(delay_s: float, clock: FakeClock | None = None):
    clock = clock or FakeClock()
    focus = FocusedRendering(delay_s, clock=clock, call_later=clock.call_later)
    painted, other = FakeView(), FakeView()
    inner = {view: view._scheduled_render for view in (painted, other)}
    for view in (painted, other):
        focus.attach(view)
    return focus, painted, other, inner


def test_views_render_at_once_while_nobody_interacts():
    _focus, painted, other, inner = _attached(0.05)
    painted._scheduled_render.schedule_render()
    other._scheduled_render.schedule_render()
    assert (inner[painted].renders, inner[other].renders) == (1, 1)


def _stroke(clock: FakeClock, painted: FakeView, other: FakeView, moves: int, step_s: float) -> None:
    """Mouse moves over ``painted``, ``step_s`` apart; every change asks every view to render."""
    for _ in range(moves):
        painted.interactor().fire("MouseMoveEvent")
        painted._scheduled_render.schedule_render()
        other._scheduled_render.schedule_render()
        clock.advance(step_s)


def test_other_views_wait_until_the_mouse_rests_then_render_once():
    clock = FakeClock()
    _focus, painted, other, inner = _attached(0.05, clock)
    _stroke(clock, painted, other, moves=5, step_s=0.02)  # faster than the delay: the mouse never rests
    assert inner[painted].renders == 5, "the view under the mouse must render every change at once"
    assert inner[other].renders == 0, "other views must not render in the middle of a stroke"
    clock.advance(0.2)  # the mouse rests
    assert inner[other].renders == 1, "other views catch up once, when the mouse rests"
    assert clock.pending == [], "nothing is left waiting once they have"


def test_a_long_stroke_keeps_postponing_the_other_views_until_it_ends():
    clock = FakeClock()
    _focus, painted, other, inner = _attached(0.05, clock)
    _stroke(clock, painted, other, moves=50, step_s=0.04)  # two seconds of painting, each move inside the delay
    assert inner[other].renders == 0
    assert len(clock.pending) == 1, "one waiting render per view, however many changes asked for one"
    clock.advance(0.05)
    assert inner[other].renders == 1


def test_other_views_render_at_once_again_after_the_pause():
    clock = FakeClock()
    _focus, painted, other, inner = _attached(0.05, clock)
    _stroke(clock, painted, other, moves=3, step_s=0.01)
    clock.advance(1.0)
    other._scheduled_render.schedule_render()  # a change long after the stroke (e.g. a window/level drag)
    assert inner[other].renders == 2 and clock.pending == []


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
