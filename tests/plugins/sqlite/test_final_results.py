"""A finished gather or group becomes visible exactly once, with its final result: pollers
of the SQLite store and of `LocalClient.result` racing the runs never see an interim
answer."""

from __future__ import annotations

import asyncio
import builtins
from pathlib import Path
from typing import Any

from murmur_client import LocalClient
from murmur_sqlite import sqlite_store_factory
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentGroup, AgentRuntime, Edge
from murmur.core.errors import MurmurError
from murmur.events import NullEventEmitter
from murmur.runs import RunRecord, RunStatus, RunStore, Stores

RUNS_PER_KIND = 12
POLLERS = 4


def _failing() -> FunctionModel:
    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(0)
        raise RuntimeError("this model always fails")

    return FunctionModel(respond)


class FinishedWrites(RunStore):
    """The SQLite run store, logging every write of a finished record."""

    def __init__(self, inner: RunStore) -> None:
        self.inner = inner
        self.finished: dict[str, list[RunRecord]] = {}

    async def put(self, record: RunRecord) -> None:
        if record.status.finished:
            self.finished.setdefault(record.run_id, []).append(record.model_copy(deep=True))
        await self.inner.put(record)

    async def get(self, run_id: str) -> RunRecord | None:
        return await self.inner.get(run_id)

    async def list(
        self,
        *,
        status: RunStatus | None = None,
        agent_name: str | None = None,
        parent_trace_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[RunRecord]:
        return await self.inner.list(
            status=status,
            agent_name=agent_name,
            parent_trace_id=parent_trace_id,
            kind=kind,
            limit=limit,
            offset=offset,
        )

    async def put_checkpoint(self, run_id: str, key: str, value: Any) -> None:
        await self.inner.put_checkpoint(run_id, key, value)

    async def checkpoints(self, run_id: str) -> dict[str, Any]:
        return await self.inner.checkpoints(run_id)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _poll_store(runs: RunStore, run_ids: list[str], seen: dict[str, set[str]]) -> None:
    """Read every run's record until all are finished; keep each finished record's answer."""
    pending = set(run_ids)
    while pending:
        for run_id in list(pending):
            record = await runs.get(run_id)
            if record is not None and record.status.finished:
                answer = (record.status.value, record.error, record.output)
                seen.setdefault(run_id, set()).add(repr(answer))
                pending.discard(run_id)
        await asyncio.sleep(0)


async def _poll_client(client: LocalClient, run_ids: list[str], seen: dict[str, set[str]]) -> None:
    """Ask the client for every run's result until all are finished; keep each answer."""
    pending = set(run_ids)
    while pending:
        for run_id in list(pending):
            try:
                result = await client.result(run_id)
            except MurmurError as exc:
                if exc.code != "run_not_finished":
                    raise
                continue
            seen.setdefault(run_id, set()).add(result.model_dump_json(exclude={"metadata"}))
            pending.discard(run_id)
        await asyncio.sleep(0)


async def test_pollers_see_each_gather_and_group_finish_once_with_its_final_result(
    tmp_path: Path,
) -> None:
    """12 all-failed gathers, 12 good gathers and 12 two-node groups on a SQLite store,
    4 pollers of the store and 4 of `LocalClient.result`: each run's record is written
    finished exactly once, every finished answer a poller gets is that final one (an
    all-failed gather is `AllAgentsFailedError`/`all_failed`, a group answers its terminal
    node's output)."""
    sqlite = sqlite_store_factory(f"sqlite:///{tmp_path}/runs.db")
    writes = FinishedWrites(sqlite.runs)
    stores = Stores(runs=writes, events=sqlite.events)
    runtime = AgentRuntime(store=stores, event_emitter=NullEventEmitter())
    runtime.register(Agent(name="ok", model="test"))
    runtime.register(Agent(name="bad", model=_failing()))
    writer, editor = Agent(name="writer", model="test"), Agent(name="editor", model="test")
    pair = AgentGroup(name="pair", topology={writer: Edge(to=(editor,)), editor: Edge.terminal()})
    client = LocalClient(runtime, groups=[pair])
    async with client:
        failing = [
            (await client.start_gather("bad", ["a", "b"])).run_id for _ in range(RUNS_PER_KIND)
        ]
        good = [(await client.start_gather("ok", ["a", "b"])).run_id for _ in range(RUNS_PER_KIND)]
        groups = [(await client.start_group("pair", "q")).run_id for _ in range(RUNS_PER_KIND)]
        run_ids = failing + good + groups
        from_store: dict[str, set[str]] = {}
        from_client: dict[str, set[str]] = {}
        assert runtime.stores is not None
        await asyncio.gather(
            *(_poll_store(runtime.stores.runs, run_ids, from_store) for _ in range(POLLERS)),
            *(_poll_client(client, run_ids, from_client) for _ in range(POLLERS)),
        )
        finals: dict[str, Any] = {run_id: await client.result(run_id) for run_id in run_ids}
    await client.shutdown()
    await runtime.aclose()

    assert {r: len(writes.finished[r]) for r in run_ids} == dict.fromkeys(run_ids, 1)
    assert {r: len(a) for r, a in from_store.items()} == dict.fromkeys(run_ids, 1)
    assert {r: len(a) for r, a in from_client.items()} == dict.fromkeys(run_ids, 1)
    for run_id in run_ids:
        assert from_client[run_id] == {finals[run_id].model_dump_json(exclude={"metadata"})}
    assert {(finals[r].error.type, finals[r].error.code) for r in failing} == {
        ("AllAgentsFailedError", "all_failed")
    }
    assert all(finals[r].ok and len(finals[r].items) == 2 for r in good)
    editor_output = finals[groups[0]].output
    assert isinstance(editor_output, str)
    assert {finals[r].output for r in groups} == {editor_output}
