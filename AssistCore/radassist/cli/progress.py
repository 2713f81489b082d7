"""Progress bars for long work on the command line (stderr, only on a terminal)."""

from __future__ import annotations

from typing import Any


class TerminalProgress:
    """A progress callback (``callback(event)`` with ``stage``, ``fraction`` in 0..1, ``message``) drawing a bar.

    Draws nothing when stderr is not a terminal (tqdm's ``disable=None``), so logs and pipes stay clean.
    """

    def __init__(self, description: str = "radassist") -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=1000,
            desc=description,
            disable=None,
            leave=False,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
        )
        self._done = 0

    def __call__(self, event: Any) -> None:
        position = round(max(0.0, min(1.0, event.fraction)) * 1000)
        if position > self._done:
            self._bar.update(position - self._done)
            self._done = position
        self._bar.set_postfix_str(f"{event.stage}: {event.message}"[:60], refresh=True)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
