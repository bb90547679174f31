"""The default event log's lines: structlog's console format, written without structlog.

`LogEventEmitter` writes here when the application configured no logging of its own. The line
is the one structlog's default `ConsoleRenderer` prints (local time, padded level and event,
the fields sorted as `key=value`; a string value bare unless it holds a space, a quote, `=` or
a line break, any other value repr'd), colored the same way on a terminal: two lines per run
through structlog's processor chain cost a no-work run 8-14% of its time, these about 2%.
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from murmur.events._model import RuntimeEvent

__all__ = ["ConsoleLines", "event_fields", "line_fields"]

_RESET = "\033[0m"
_BRIGHT = "\033[1m"
_DIM = "\033[2m"
_CYAN = "\033[36m"
_MAGENTA = "\033[35m"
_LEVEL_STYLES = {"info": "\033[32m" + _BRIGHT, "error": "\033[31m" + _BRIGHT}
_QUOTED = re.compile("[ \t=\r\n\"']").search  # a string structlog shows repr'd


def _colors(stream: TextIO) -> bool:
    """Color on a terminal, as structlog decides it: `NO_COLOR` wins, `FORCE_COLOR` forces."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # a closed or unusual stream
        return False


def event_fields(event: RuntimeEvent, include_payload: bool) -> dict[str, Any]:
    """The fields of an event's log line (see `line_fields`)."""
    return line_fields(
        event.agent_name,
        event.task_id,
        event.trace_id,
        event.parent_trace_id,
        event.payload,
        include_payload,
    )


def line_fields(
    agent: str | None,
    task_id: str | None,
    trace_id: str | None,
    parent_trace_id: str | None,
    payload: dict[str, Any],
    include_payload: bool,
) -> dict[str, Any]:
    """The fields of a log line.

    agent, task_id, trace_id, parent_trace_id when set, then the payload's
    (`include_payload`), which never replace those.
    """
    ids: dict[str, Any] = {"agent": agent, "task_id": task_id, "trace_id": trace_id}
    if parent_trace_id:
        ids["parent_trace_id"] = parent_trace_id
    if not include_payload or not payload:
        return ids
    # The ids first, then the payload's keys, the ids' values winning: one dict built in C
    # (no Python loop over the payload).
    return {**ids, **payload, **ids}


class ConsoleLines:
    """Writes `<time> [<level>] <event> key=value ...` lines to whatever `sys.stderr` is now.

    The stream is looked up at each line (a test's capture, a redirect) and whether it is a
    terminal is decided once per stream; the timestamp is formatted once per second.
    """

    __slots__ = ("_colors", "_flush", "_second", "_stamp", "_stream")

    def __init__(self) -> None:
        self._stream: Any = None
        self._colors = False
        self._flush = True
        self._second = -1
        self._stamp = ""

    def event(self, event: RuntimeEvent, include_payload: bool, failed: bool) -> None:
        """Write the line of `LogEventEmitter` for `event` (ERROR when `failed`, else INFO).

        Its fields: agent, task_id, trace_id, parent_trace_id when set, then the payload's.
        """
        fields = event_fields(event, include_payload)
        # `_value_`: the member's string as stored (`.value` is a Python-level property).
        self.write("error" if failed else "info", event.event_type._value_, fields)

    def write(self, level: str, event: str, fields: dict[str, Any]) -> None:
        """Write one line (`level` is `"info"` or `"error"`)."""
        stream = sys.stderr
        if stream is None:  # no stderr at all (pythonw, a daemon): nowhere to write
            return
        if stream is not self._stream:
            self._stream, self._colors = stream, _colors(stream)
            # stderr writes through (and a line-buffered stream writes each line as it ends):
            # no flush needed after a line.
            self._flush = not (
                getattr(stream, "write_through", False) or getattr(stream, "line_buffering", False)
            )
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        colors = self._colors
        keys = tuple(fields)
        plan = _PLANS.get((level, event, colors, keys))
        if plan is None:  # the same few key sets come back line after line
            plan = _plan(level, event, colors, keys)
            if len(_PLANS) < 512:
                _PLANS[level, event, colors, keys] = plan
        order, template = plan
        # One %-format of a template made once per level, event and key set: the values as
        # structlog shows them, a string bare unless it needs quoting, anything else repr'd.
        stream.write(
            template
            % (
                self._stamp,
                *[
                    value
                    if (value := fields[key]).__class__ is str and _QUOTED(value) is None
                    else repr(value)
                    for key in order
                ],
            )
        )
        if self._flush:
            stream.flush()


def _plan(
    level: str, event: str, colors: bool, keys: tuple[str, ...]
) -> tuple[tuple[str, ...], str]:
    """The sorted keys of a line and its `%`-template: the time, the head, each `key=value`."""
    order = tuple(sorted(keys))
    head = _head(level, event, colors).replace("%", "%%")
    if not order:  # structlog strips the event's padding at the end of a line
        return order, ("%s" if not colors else f"{_DIM}%s{_RESET}") + head.rstrip(" ") + "\n"
    fields = "".join(
        f" {_CYAN}{key.replace('%', '%%')}{_RESET}={_MAGENTA}%s{_RESET}"
        if colors
        else f" {key.replace('%', '%%')}=%s"
        for key in order
    )
    stamp = f"{_DIM}%s{_RESET}" if colors else "%s"
    return order, f"{stamp}{head}{fields}\n"


def _head(level: str, event: str, colors: bool) -> str:
    """The part of a line after the time: ` [level    ] event                         `."""
    if colors:
        style = _LEVEL_STYLES.get(level, _BRIGHT)
        return f" [{style}{level:<9}{_RESET}] {_BRIGHT}{event:<30}{_RESET}"
    return f" [{level:<9}] {event:<30}"


_PLANS: dict[tuple[str, str, bool, tuple[str, ...]], tuple[tuple[str, ...], str]] = {}
