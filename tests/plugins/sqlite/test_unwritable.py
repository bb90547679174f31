"""A SQLite store that cannot be written: the run whose record cannot be written fails
with the store's typed error, and the store goes on once it can be written again."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from murmur import Agent, AgentRuntime
from murmur.core.errors import RegistryError
from murmur.events import EventType, NullEventEmitter, RuntimeEvent
from murmur.runs import EventQuery, RunStatus


async def test_a_run_whose_record_cannot_be_written_fails_with_store_busy(tmp_path: Path) -> None:
    """While another process holds the write lock past busy_timeout, a run fails with
    RegistryError(store_busy) instead of succeeding unrecorded; an event buffered then is
    kept and written once the lock is released, and the next run is recorded."""
    path = tmp_path / "runs.db"
    runtime = AgentRuntime(
        store=f"sqlite:///{path}?busy_timeout=0.2", event_emitter=NullEventEmitter()
    )
    agent = Agent(name="echo", model="test")
    assert (await runtime.run(agent, "first")).is_ok()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        marker = RuntimeEvent(event_type=EventType.AGENT_SPAWNED, trace_id="during-the-lock")
        await runtime.emit(marker)
        blocked = await runtime.run(agent, "blocked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert isinstance(blocked.error, RegistryError)
    assert blocked.error.code == "store_busy"
    after = await runtime.run(agent, "after")
    assert after.is_ok()
    assert runtime.stores is not None
    record = await runtime.stores.runs.get(after.trace_id)
    assert record is not None
    assert record.status is RunStatus.COMPLETED
    assert await runtime.stores.events.query(EventQuery(trace_id="during-the-lock")) == [marker]
    await runtime.aclose()


def _immutable(paths: list[Path], on: bool) -> bool:
    flag = "+i" if on else "-i"
    done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, check=False)
    return done.returncode == 0


async def test_a_run_on_a_read_only_file_fails_with_a_typed_store_error(tmp_path: Path) -> None:
    """A store file (and directory) that cannot be written, even by root: the run fails
    with a store RegistryError, nothing is reported as success."""
    directory = tmp_path / "ro"
    directory.mkdir()
    path = directory / "runs.db"
    first = AgentRuntime(store=f"sqlite:///{path}", event_emitter=NullEventEmitter())
    assert (await first.run(Agent(name="echo", model="test"), "first")).is_ok()
    await first.aclose()
    if not _immutable([path, directory], on=True):
        pytest.skip("chattr +i is not available here (needs root on ext4)")
    try:
        runtime = AgentRuntime(store=f"sqlite:///{path}", event_emitter=NullEventEmitter())
        result = await runtime.run(Agent(name="echo", model="test"), "second")
        assert isinstance(result.error, RegistryError)
        assert result.error.code in ("store_unavailable", "store_error"), result.error
        await runtime.aclose()
    finally:
        _immutable([path, directory], on=False)
