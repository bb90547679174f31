"""The progress bar `murmur run` draws on a terminal for the gathers a script runs.

Plain text on stderr, no dependency: one line for every gather in flight, redrawn in place
(at most ten times a second), and a summary line when a gather ends. The script's own
output to the same terminal clears the bar first and redraws it after each line, so the two
never run into each other.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from murmur.execution._progress import observe_gathers
from murmur.types import GatherProgress

__all__ = ["TerminalProgress", "progress_bar"]

_REDRAW_S = 0.1
_BAR_WIDTH = 24


@dataclass
class _Gather:
    label: str
    total: int
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)


def _line(gather: _Gather, columns: int) -> str:
    filled = _BAR_WIDTH * gather.done // gather.total if gather.total else _BAR_WIDTH
    bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
    failed = f", {gather.failed} failed" if gather.failed else ""
    elapsed = time.monotonic() - gather.started
    text = f"{gather.label} [{bar}] {gather.done}/{gather.total}{failed} {elapsed:.1f}s"
    return text[: max(columns - 1, 1)]


class TerminalProgress:
    """A `GatherObserver` drawing a text progress bar for each top-level gather on `stream`.

    Args:
        stream: the terminal to draw on (the real stderr).
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._gathers: dict[int, _Gather] = {}
        self._shown = 0  # lines of bar currently on screen
        self._last_draw = 0.0

    # -- GatherObserver --------------------------------------------------------------

    def started(self, key: object, agent_name: str, total: int) -> None:
        """Add a line for the new gather."""
        self._gathers[id(key)] = _Gather(agent_name, total)
        self.redraw()

    def progressed(self, key: object, progress: GatherProgress[Any]) -> None:
        """Move the gather's bar (redrawn at most ten times a second, and at the end)."""
        gather = self._gathers.get(id(key))
        if gather is None:
            return
        gather.done, gather.failed = progress.done, progress.failed
        if progress.done == progress.total or time.monotonic() - self._last_draw >= _REDRAW_S:
            self.redraw()

    def finished(self, key: object) -> None:
        """Replace the gather's bar with a summary line that stays on screen."""
        gather = self._gathers.pop(id(key), None)
        if gather is None:
            return
        self.clear()
        columns = shutil.get_terminal_size().columns
        self.stream.write(_line(gather, columns) + "\n")
        self.redraw()

    # -- drawing ---------------------------------------------------------------------

    def clear(self) -> None:
        """Erase the bar lines, leaving the cursor where they started."""
        if self._shown:
            # Up to the first bar line, then erase to the end of the screen.
            up = f"\x1b[{self._shown - 1}A" if self._shown > 1 else ""
            self.stream.write(f"\r{up}\x1b[J")
            self._shown = 0

    def redraw(self) -> None:
        """Draw every gather in flight (the cursor stays at the start of the first line)."""
        self.clear()
        self._last_draw = time.monotonic()
        if self._gathers:
            columns = shutil.get_terminal_size().columns
            lines = [_line(g, columns) for g in self._gathers.values()]
            up = f"\x1b[{len(lines) - 1}A" if len(lines) > 1 else ""
            self.stream.write("\n".join(lines) + "\r" + up)
            self._shown = len(lines)
        self.stream.flush()


class _AroundBar:
    """A text stream on the bar's terminal that erases the bar before the script writes."""

    def __init__(self, wrapped: TextIO, bar: TerminalProgress) -> None:
        self._wrapped = wrapped
        self._bar = bar

    def write(self, text: str) -> int:
        self._bar.clear()
        written = self._wrapped.write(text)
        if text.endswith("\n"):
            self._wrapped.flush()
            self._bar.redraw()
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


@contextmanager
def progress_bar(stream: TextIO | None = None) -> Generator[TerminalProgress]:
    """Draw a progress bar on `stream` (default stderr) for every gather run inside.

    The script's writes to stdout and stderr clear the bar first (stdout only when it is
    the same kind of stream: a terminal); both are restored afterwards.
    """
    terminal = stream or sys.stderr
    bar = TerminalProgress(terminal)
    saved = sys.stdout, sys.stderr
    if sys.stdout.isatty():
        sys.stdout = _AroundBar(sys.stdout, bar)  # type: ignore[assignment]
    sys.stderr = _AroundBar(sys.stderr, bar)  # type: ignore[assignment]
    try:
        with observe_gathers(bar):
            yield bar
    finally:
        sys.stdout, sys.stderr = saved
        bar.clear()
        terminal.flush()
