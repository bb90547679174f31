"""Several processes on one SQLite file, and the README snippet exactly as written (no
`aclose()`), each in fresh interpreters."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

README_SNIPPET = """
import asyncio, sys
from murmur import Agent, AgentRuntime
from murmur.events import NullEventEmitter

async def main() -> None:
    runtime = AgentRuntime(store=f"sqlite:///{sys.argv[1]}", event_emitter=NullEventEmitter())
    result = await runtime.run(Agent(name="echo", model="test"), "hello")
    print(result.trace_id)

asyncio.run(main())
"""

APPENDER = """
import asyncio, sys
from murmur import Agent, AgentRuntime
from murmur.events import NullEventEmitter

async def main(path: str, name: str, close: bool) -> None:
    runtime = AgentRuntime(store=f"sqlite:///{path}", event_emitter=NullEventEmitter())
    agent = Agent(name="echo", model="test")
    results = await runtime.gather(agent, [f"{name}-{i}" for i in range(300)], run_id=name)
    assert all(r.is_ok() for r in results), [r.error for r in results if r.error][:3]
    if close:
        await runtime.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] == "close"))
"""


async def _python(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _count(path: Path, sql: str, *params: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


@pytest.mark.timeout(600)
async def test_the_readme_snippet_without_aclose_records_its_run(tmp_path: Path) -> None:
    """The README's store snippet, which never closes the runtime, run as 6 programs at
    once (one file each): every run and both its events are in the file, nothing is
    printed about unwritten data, and no program waits out a lock."""
    outcomes = await asyncio.gather(
        *(_python("-c", README_SNIPPET, str(tmp_path / f"runs-{i}.db")) for i in range(6))
    )
    for i, (code, out, err) in enumerate(outcomes):
        assert code == 0, err[-2000:]
        assert "murmur-sqlite" not in err
        assert "Traceback" not in err
        path = tmp_path / f"runs-{i}.db"
        trace_id = out.strip().splitlines()[-1]
        assert _count(path, "SELECT count(*) FROM runs WHERE run_id = ?", trace_id) == 1
        assert _count(path, "SELECT count(*) FROM events WHERE trace_id = ?", trace_id) == 2


@pytest.mark.timeout(600)
async def test_two_processes_appending_300_runs_each_to_one_file_lose_nothing(
    tmp_path: Path,
) -> None:
    """Two programs gather 300 runs each into one new SQLite file at the same time (one
    closes its runtime, one does not): all 600 runs, both batches and every event are
    there."""
    path = tmp_path / "shared.db"
    outcomes = await asyncio.gather(
        _python("-c", APPENDER, str(path), "first", "close"),
        _python("-c", APPENDER, str(path), "second", "no-close"),
    )
    assert [code for code, _, _ in outcomes] == [0, 0], [err[-2000:] for _, _, err in outcomes]
    assert not any("Traceback" in err or "murmur-sqlite" in err for _, _, err in outcomes)
    assert _count(path, "SELECT count(*) FROM runs WHERE kind = 'agent'") == 600
    assert (
        _count(path, "SELECT count(*) FROM runs WHERE kind = 'gather' AND status = 'completed'")
        == 2
    )
    assert _count(path, "SELECT count(*) FROM events") == 1200
