"""Resuming durable group runs recorded in a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from murmur import AgentRuntime
from murmur.events import NullEventEmitter

from ...core.test_durable import check_invalid_checkpoint_fails_its_node


async def test_an_invalid_checkpoint_in_sqlite_fails_its_node_on_resume(tmp_path: Path) -> None:
    """A node checkpoint in SQLite that no longer matches its output_type fails that node
    with SpawnError(checkpoint_invalid) on resume, listed in failed_nodes."""
    runtime = AgentRuntime(store=f"sqlite:///{tmp_path}/runs.db", event_emitter=NullEventEmitter())
    try:
        await check_invalid_checkpoint_fails_its_node(runtime)
    finally:
        await runtime.aclose()
