"""The default event log goes to stderr, never into the program's own stdout (unless the
application configured structlog to put it there)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

RUN = """
import asyncio
from murmur import Agent, AgentRuntime, EventType, RuntimeEvent, TaskSpec
from murmur.events import LogEventEmitter

async def main():
    {setup}
    async with AgentRuntime() as runtime:  # the default emitter: LogEventEmitter
        result = await runtime.run(Agent(name="echo", model="test"), TaskSpec(input="hi"))
    await LogEventEmitter().emit(
        RuntimeEvent(event_type=EventType.AGENT_FAILED, agent_name="echo", task_id="t",
                     trace_id="0" * 32, payload={{"error": "boom"}})
    )
    print("program output:", result.is_ok())

asyncio.run(main())
"""


def run(tmp_path: Path, setup: str = "pass") -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(RUN.format(setup=setup)))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_default_event_log_goes_to_stderr_and_stdout_is_the_programs(tmp_path: Path) -> None:
    """A run with the default emitter prints nothing of its own on stdout; its events are on
    stderr, INFO for progress and ERROR for failures."""
    done = run(tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "program output: True\n"
    lines = done.stderr.splitlines()
    assert any("[info" in line and "agent_spawned" in line for line in lines), lines
    assert any("[info" in line and "agent_completed" in line for line in lines), lines
    assert any("[error" in line and "agent_failed" in line for line in lines), lines


def test_structlog_configured_by_the_application_still_wins(tmp_path: Path) -> None:
    """An application that configures structlog (here: JSON lines on stdout) gets the
    events where it said, rendered as it said."""
    setup = (
        "import structlog, sys; structlog.configure("
        "processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()], "
        "logger_factory=structlog.PrintLoggerFactory(sys.stdout))"
    )
    done = run(tmp_path, setup)

    assert done.returncode == 0, done.stderr
    assert "agent_completed" not in done.stderr
    assert '"event": "agent_completed"' in done.stdout
    assert '"level": "error"' in done.stdout
    assert done.stdout.endswith("program output: True\n")
