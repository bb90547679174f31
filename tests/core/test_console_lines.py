"""The default event log's lines are the lines structlog's default console renderer prints.

`LogEventEmitter` writes them itself when the application configured no structlog (for speed);
these tests hold each line, plain and colored, to structlog's own rendering of the same event.
"""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
import structlog

from murmur.events import EventType, RuntimeEvent
from murmur.events._console import ConsoleLines

EVENTS = [
    (EventType.AGENT_SPAWNED, {"model": "openai:gpt-4o", "depth": 0, "backend": "async"}),
    (
        EventType.AGENT_COMPLETED,
        {"duration_ms": 1.25, "input_tokens": 51, "cost_usd": None, "tool_calls": 0},
    ),
    (EventType.AGENT_FAILED, {"error": "boom: it's 'quoted'", "code": "x=y", "n": [1, 2]}),
    (EventType.TOOL_CALL_STARTED, {"args": '{"city": "Oslo"}', "tool": "lookup"}),
    (EventType.WORKER_STARTED, {}),
    (EventType.BUDGET_EXCEEDED, {"details": {"a": 1}, "flag": True, "tab": "a\tb"}),
]


def _structlog_line(level: str, event: str, fields: dict[str, Any], colors: bool) -> str:
    renderer = structlog.dev.ConsoleRenderer(colors=colors)
    rendered = renderer(None, level, {"timestamp": "T", "level": level, "event": event, **fields})
    return str(rendered)


def _murmur_line(level: str, event: str, fields: dict[str, Any], colors: bool) -> str:
    lines = ConsoleLines()
    stream = io.StringIO()
    original = sys.stderr
    sys.stderr = stream
    try:
        lines._stream, lines._colors, lines._flush = stream, colors, True
        lines.write(level, event, fields)
    finally:
        sys.stderr = original
    # The time as structlog was given it.
    return stream.getvalue().removesuffix("\n").replace(lines._stamp, "T", 1)


@pytest.mark.parametrize("colors", [False, True], ids=["plain", "colored"])
@pytest.mark.parametrize(("event_type", "payload"), EVENTS, ids=[e.value for e, _ in EVENTS])
def test_a_line_is_structlogs_line(
    event_type: EventType, payload: dict[str, Any], colors: bool
) -> None:
    level = "error" if event_type in {EventType.AGENT_FAILED, EventType.BUDGET_EXCEEDED} else "info"
    fields = {"agent": "researcher", "task_id": "t" * 32, "trace_id": "0" * 32, **payload}
    assert _murmur_line(level, event_type.value, fields, colors) == _structlog_line(
        level, event_type.value, fields, colors
    )


def test_an_event_line_carries_the_ids_then_the_payload() -> None:
    lines = ConsoleLines()
    stream = io.StringIO()
    original = sys.stderr
    sys.stderr = stream
    try:
        event = RuntimeEvent(
            event_type=EventType.AGENT_COMPLETED,
            agent_name="a",
            task_id="t",
            trace_id="r",
            parent_trace_id="p",
            payload={"agent": "not this one", "duration_ms": 2.5},
        )
        lines.event(event, include_payload=True, failed=False)
        lines.event(event, include_payload=False, failed=True)
    finally:
        sys.stderr = original
    first, second = stream.getvalue().splitlines()
    assert first.endswith(
        "[info     ] agent_completed                "
        "agent=a duration_ms=2.5 parent_trace_id=p task_id=t trace_id=r"
    )
    assert second.endswith(
        "[error    ] agent_completed                agent=a parent_trace_id=p task_id=t trace_id=r"
    )


def test_a_lines_fields_are_the_ids_then_the_payload_the_ids_winning() -> None:
    from murmur.events._console import line_fields

    payload = {"agent": "not this one", "parent_trace_id": "from payload", "n": 1}
    assert list(line_fields("a", "t", "r", None, payload, True).items()) == [
        ("agent", "a"),
        ("task_id", "t"),
        ("trace_id", "r"),
        ("parent_trace_id", "from payload"),  # no parent of its own: the payload's shows
        ("n", 1),
    ]
    assert list(line_fields("a", "t", "r", "p", payload, True).items()) == [
        ("agent", "a"),
        ("task_id", "t"),
        ("trace_id", "r"),
        ("parent_trace_id", "p"),
        ("n", 1),
    ]
    assert line_fields("a", "t", "r", None, payload, False) == {
        "agent": "a",
        "task_id": "t",
        "trace_id": "r",
    }
