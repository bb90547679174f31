"""Durable group runs and gather batches: checkpoint as steps finish, resume after a crash.

With a store set (`AgentRuntime(store="sqlite:///runs.db")`):

- `run_group` records the group run (`RunRecord(kind="group")`, run id = the task's
  trace id) and checkpoints each finished node's typed output (`StoreCheckpoint`, key
  `node:<name>`). Under key `durable:task` it keeps what a resume needs: the group's name
  and spec, and the original task (input, ids, metadata).
- `gather` records a batch run (`RunRecord(kind="gather")`: the agent's name, every task's
  input and ids) and checkpoints each successful task's result under `task:<index>` as it
  completes. A fan-out node of a group gathers under the run id `<group run id>:<node>`,
  so a half-finished fan-out keeps its finished items too.

`runtime.resume(run_id)`, in any process with the same agents and groups registered and
the same store, runs the group or batch again under the same run id: checkpointed nodes
and tasks are restored instead of run (no model call, no tokens spent), the rest run.
Failed steps are not checkpointed, so a resume retries them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

from murmur.core.errors import AllAgentsFailedError, MurmurError, RegistryError, SpawnError
from murmur.core.fanout import bounded_iter
from murmur.core.ids import new_id
from murmur.core.json import dump_value
from murmur.execution._context import current_context
from murmur.groups._checkpoint import NodeCheckpoint, StoreCheckpoint
from murmur.groups._group import AgentGroup
from murmur.groups._runner import run_group
from murmur.registry._group import group_from_dict, group_to_dict
from murmur.runs._base import RunRecord, RunStatus, RunStore
from murmur.types import AgentResult, ResultMetadata, TaskSpec

if TYPE_CHECKING:
    from murmur.agent import Agent
    from murmur.execution._context import RuntimeProtocol
    from murmur.groups._checkpoint import GroupCheckpoint
    from murmur.groups._result import GroupResult

__all__ = [
    "BATCH_KEY",
    "GROUP_TASK_KEY",
    "DurableGroupCheckpoint",
    "batch_error",
    "gather_batch",
    "iter_batch",
    "resume",
    "run_group_durably",
    "task_key",
]

GROUP_TASK_KEY = "durable:task"
"""Checkpoint key of a group run's resume information (group name and spec, task)."""
BATCH_KEY = "durable:batch"
"""Checkpoint key of a gather batch's resume information (agent, size, concurrency)."""
_STORE_TIMEOUT = 30.0


def task_key(index: int) -> str:
    """The checkpoint key of a gather batch's task `index`."""
    return f"task:{index}"


async def _store_call(awaitable: Any, what: str) -> Any:
    try:
        return await asyncio.wait_for(awaitable, _STORE_TIMEOUT)
    except TimeoutError:
        raise RegistryError(
            f"the run store did not {what} within {_STORE_TIMEOUT}s; check that it is reachable",
            code="store_timeout",
        ) from None


def _log() -> Any:
    import structlog

    return structlog.get_logger("murmur.durable")


# -- groups ------------------------------------------------------------------------------


class DurableGroupCheckpoint(StoreCheckpoint):
    """A `StoreCheckpoint` that also records how to resume the group run.

    Used automatically by `run_group` when the runtime has a store. Before any node runs
    it saves, under `durable:task`, the group's name and spec and the task (so
    `runtime.resume(run_id)` can rebuild both in a new process), then loads the nodes
    already finished.

    Args:
        store: the runtime's run store.
        group: the group being run.
        task: the group's task (its `trace_id` is the run id).
        timeout_seconds: the group's wall-clock limit, reused on resume.
    """

    def __init__(
        self,
        store: RunStore,
        group: AgentGroup,
        task: TaskSpec,
        timeout_seconds: float | None = None,
    ) -> None:
        super().__init__(store, group)
        self.task = task
        self.timeout_seconds = timeout_seconds

    def resume_info(self) -> dict[str, Any]:
        """The JSON-safe document saved under `durable:task`."""
        try:
            spec: dict[str, Any] | None = group_to_dict(self.group)
        except MurmurError:  # an edge callable with no import path: resume by name only
            spec = None
        return {
            "version": 1,
            "group": self.group.name,
            "spec": spec,
            "input": dump_value(self.task.input),
            "task_id": self.task.id,
            "parent_trace_id": self.task.parent_trace_id,
            "metadata": dump_value(self.task.metadata),
            "timeout_seconds": self.timeout_seconds,
        }

    async def load(self, group_trace_id: str) -> Mapping[str, NodeCheckpoint]:
        """Record the resume information, then return the nodes already finished."""
        await self.store.put_checkpoint(group_trace_id, GROUP_TASK_KEY, self.resume_info())
        return await super().load(group_trace_id)


async def run_group_durably(
    runtime: RuntimeProtocol,
    group: AgentGroup | str,
    task: TaskSpec | Any = None,
    *,
    checkpoint: GroupCheckpoint | None = None,
    timeout_seconds: float | None = None,
) -> GroupResult:
    """`runtime.run_group`: with a store and no explicit checkpoint, checkpoint durably."""
    spec = task if isinstance(task, TaskSpec) else TaskSpec(input=task)
    if checkpoint is None and runtime.stores is not None:
        resolved = group if isinstance(group, AgentGroup) else runtime.get_group(group)
        checkpoint = DurableGroupCheckpoint(runtime.stores.runs, resolved, spec, timeout_seconds)
        group = resolved
    return await run_group(
        runtime, group, spec, checkpoint=checkpoint, timeout_seconds=timeout_seconds
    )


def _group_for(runtime: RuntimeProtocol, run_id: str, info: Mapping[str, Any]) -> AgentGroup:
    name = str(info.get("group"))
    registered = runtime.groups.get(name)
    if registered is not None:
        return registered
    spec = info.get("spec")
    if isinstance(spec, Mapping):
        try:
            return group_from_dict(spec, agents=runtime.agents)
        except MurmurError as exc:
            raise RegistryError(
                f"cannot resume group run {run_id!r}: group {name!r} is not registered and "
                f"its recorded spec does not rebuild here ({exc.message}); register the "
                "group (runtime.register_group(group) or runtime.load_specs(dir)) and its "
                "agents first",
                code="group_not_found",
            ) from None
    raise RegistryError(
        f"cannot resume group run {run_id!r}: no group named {name!r} is registered; call "
        "runtime.register_group(group) or runtime.load_specs(dir) first",
        code="group_not_found",
    )


async def _resume_group(
    runtime: RuntimeProtocol, record: RunRecord, saved: Mapping[str, Any]
) -> GroupResult:
    info = saved.get(GROUP_TASK_KEY)
    if not isinstance(info, Mapping):
        raise RegistryError(
            f"group run {record.run_id!r} has no resume information (it was not run with a "
            "store set, or ran with an explicit checkpoint=); run the group again instead",
            code="not_resumable",
        )
    group = _group_for(runtime, record.run_id, info)
    metadata = info.get("metadata")
    spec = TaskSpec(
        input=info.get("input"),
        id=str(info.get("task_id") or record.task_id or new_id()),
        trace_id=record.run_id,
        parent_trace_id=info.get("parent_trace_id"),
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
    )
    timeout = info.get("timeout_seconds")
    return await runtime.run_group(
        group, spec, timeout_seconds=float(timeout) if timeout is not None else None
    )


# -- gather batches ----------------------------------------------------------------------


def _output_validator(agent: Agent[Any]) -> Any:
    from pydantic import TypeAdapter

    output_type = agent.output_type
    try:
        adapter = TypeAdapter(output_type)
    except Exception:  # not a pydantic-compatible type: restore the JSON form as is
        return lambda value: value
    return adapter.validate_python


def _restore(
    agent: Agent[Any], previous: RunRecord, saved: Mapping[str, Any], inputs: list[Any]
) -> dict[int, AgentResult[Any]]:
    """Results of tasks finished under this run id whose input is unchanged."""
    validate = _output_validator(agent)
    old_inputs = previous.input if isinstance(previous.input, list) else []
    restored: dict[int, AgentResult[Any]] = {}
    for index, value in enumerate(inputs):
        entry = saved.get(task_key(index))
        if not isinstance(entry, Mapping) or index >= len(old_inputs):
            continue
        if old_inputs[index] != value:  # the batch changed: this slot is new work
            continue
        try:
            output = validate(entry.get("output"))
            metadata = ResultMetadata.from_dict(dict(entry.get("metadata") or {}))
        except Exception as exc:  # the output type changed since: run the task again
            _log().warning(
                "durable_checkpoint_invalid", run_id=previous.run_id, task=index, error=str(exc)
            )
            continue
        restored[index] = AgentResult.ok(output, metadata)
    return restored


def _tag(spec: TaskSpec, run_id: str, index: int) -> TaskSpec:
    metadata = {**spec.metadata, "gather_run_id": run_id, "item": index}
    return spec.model_copy(update={"metadata": metadata})


def _batch_parent(specs: list[TaskSpec], run_id: str) -> str | None:
    parent = current_context()
    if parent is not None:
        return parent.trace_id
    parents = {s.parent_trace_id for s in specs}
    # Tasks linked to the batch itself (a server gather) must not make it its own parent.
    parents.discard(run_id)
    return parents.pop() if len(parents) == 1 else None


async def gather_batch(
    runtime: RuntimeProtocol,
    agent: Agent[Any],
    specs: list[TaskSpec],
    *,
    limit: int,
    run_id: str | None,
) -> list[AgentResult[Any]]:
    """`runtime.gather` with a store: record the batch, checkpoint each finished task.

    When `run_id` names an earlier batch of the same agent, every task whose input is
    unchanged and whose result was checkpointed is restored instead of run.

    Raises:
        SpawnError: code `"run_conflict"` when `run_id` names another kind of run or a
            batch of another agent.
        RegistryError: the store failed or timed out.
    """
    results: list[AgentResult[Any] | None] = [None] * len(specs)
    async with aclosing(iter_batch(runtime, agent, specs, limit=limit, run_id=run_id)) as done:
        async for index, result in done:
            results[index] = result
    return cast("list[AgentResult[Any]]", results)  # every slot was filled


async def iter_batch(
    runtime: RuntimeProtocol,
    agent: Agent[Any],
    specs: list[TaskSpec],
    *,
    limit: int,
    run_id: str | None,
) -> AsyncGenerator[tuple[int, AgentResult[Any]], None]:
    """`gather_batch`, yielding `(index, result)` as each task finishes.

    The batch's final record is written after the last task; a consumer that stops early
    leaves the batch `running` with its finished tasks checkpointed, so `runtime.resume`
    runs only the rest.

    Raises:
        SpawnError: code `"run_conflict"` (see `gather_batch`).
        RegistryError: the store failed or timed out.
    """
    assert runtime.stores is not None
    store = runtime.stores.runs
    run_id = run_id or new_id()
    inputs = [dump_value(s.input) for s in specs]
    previous: RunRecord | None = await _store_call(store.get(run_id), "read the batch")
    restored: dict[int, AgentResult[Any]] = {}
    if previous is not None:
        if previous.kind != "gather" or previous.agent_name != agent.name:
            raise SpawnError(
                f"run id {run_id!r} already names a {previous.kind} run of "
                f"{previous.agent_name!r}; pick a new run id for a gather of {agent.name!r}",
                code="run_conflict",
            )
        saved = await _store_call(store.checkpoints(run_id), "read the batch's checkpoints")
        restored = _restore(agent, previous, saved, inputs)
    tagged = [_tag(s, run_id, i) for i, s in enumerate(specs)]
    record = RunRecord(
        run_id=run_id,
        kind="gather",
        agent_name=agent.name,
        trace_id=run_id,
        parent_trace_id=_batch_parent(specs, run_id),
        status=RunStatus.RUNNING,
        input=inputs,
        metadata={
            "max_concurrency": limit,
            "tasks": [
                {
                    "id": s.id,
                    "trace_id": s.trace_id,
                    "parent_trace_id": s.parent_trace_id,
                    "metadata": dump_value(s.metadata),
                }
                for s in specs
            ],
        },
        progress={"total": len(specs), "restored": len(restored)},
    )
    if previous is not None:
        record.created_at = previous.created_at
    await _store_call(store.put(record), "record the batch")
    # A checkpoint write is durable when it returns (and flushes the record before it).
    batch = {"version": 1, "agent": agent.name, "count": len(specs), "max_concurrency": limit}
    await _store_call(store.put_checkpoint(run_id, BATCH_KEY, batch), "record the batch")

    async def one(index: int, spec: TaskSpec) -> AgentResult[Any]:
        hit = restored.get(index)
        if hit is not None:
            return hit
        result = await runtime.run(agent, spec)
        if result.is_ok():
            await _save(store, run_id, index, result)
        return result

    results: list[AgentResult[Any] | None] = [None] * len(specs)
    async with aclosing(bounded_iter(tagged, one, limit)) as finished:
        async for index, result in finished:
            results[index] = result
            yield index, result
    await _finish(store, record, cast("list[AgentResult[Any]]", results))


async def _save(store: RunStore, run_id: str, index: int, result: AgentResult[Any]) -> None:
    entry = {"output": dump_value(result.value), "metadata": result.metadata.to_dict()}
    try:
        await asyncio.wait_for(store.put_checkpoint(run_id, task_key(index), entry), _STORE_TIMEOUT)
    except Exception as exc:  # the result stands; only a resume would run the task again
        _log().warning("durable_checkpoint_failed", run_id=run_id, task=index, error=repr(exc))


def batch_error(agent_name: str, results: list[AgentResult[Any]]) -> MurmurError | None:
    """The error a gather batch ends with, None when no task failed.

    `AllAgentsFailedError` (`all_failed`) when every task failed, `MurmurError` (`partial_failure`)
    when some did, None when none did.
    """
    failed = [r for r in results if not r.is_ok()]
    if not failed:
        return None
    first = failed[0].error
    kind = AllAgentsFailedError if len(failed) == len(results) else MurmurError
    return kind(
        f"{len(failed)} of {len(results)} runs of agent {agent_name!r} failed (see the "
        f"result's items; runtime.resume(run_id) runs them again); first error: "
        f"{first.message if first else 'unknown'}",
        code="all_failed" if len(failed) == len(results) else "partial_failure",
        details={"failed": len(failed), "first_error": first.to_dict() if first else None},
    )


async def _finish(store: RunStore, record: RunRecord, results: list[AgentResult[Any]]) -> None:
    """Write the batch's final record, once: status, every output and error, usage."""
    failed = sum(1 for r in results if not r.is_ok())
    error = batch_error(str(record.agent_name), results)
    record.status = RunStatus.FAILED if error is not None else RunStatus.COMPLETED
    record.error = error.to_dict() if error is not None else None
    record.output = [dump_value(r.value) if r.is_ok() else None for r in results]
    costs = [r.metadata.cost_usd for r in results if r.metadata.cost_usd is not None]
    record.metadata.update(
        errors=[r.error.to_dict() if r.error is not None else None for r in results],
        input_tokens=sum(r.metadata.input_tokens for r in results),
        output_tokens=sum(r.metadata.output_tokens for r in results),
        cost_usd=sum(costs) if costs else None,
    )
    record.progress.update(total=len(results), completed=len(results) - failed, failed=failed)
    record.updated_at = time.time()
    try:
        await _store_call(store.put(record), "record the finished batch")
    except MurmurError as exc:
        raise RegistryError(
            f"gather batch {record.run_id!r} finished but its record could not be written "
            f"({exc.message}); every successful task is checkpointed: "
            "runtime.resume(run_id) returns the results without running them again",
            code=exc.code,
            details={**exc.details, "run_id": record.run_id},
        ) from exc


def _agent_for(runtime: RuntimeProtocol, name: str) -> Agent[Any]:
    """A registered agent, or a node of a registered group (a fan-out node's batch)."""
    if name in runtime.agents:
        return runtime.get_agent(name)
    for group in runtime.groups.values():
        agent = group.agents.get(name)
        if agent is not None:
            return agent
    return runtime.get_agent(name)  # raises RegistryError naming what is registered


async def _resume_gather(
    runtime: RuntimeProtocol, record: RunRecord, saved: Mapping[str, Any]
) -> list[AgentResult[Any]]:
    batch = saved.get(BATCH_KEY)
    tasks = record.metadata.get("tasks")
    inputs = record.input
    if (
        not isinstance(batch, Mapping)
        or not isinstance(tasks, list)
        or not isinstance(inputs, list)
    ):
        raise RegistryError(
            f"gather run {record.run_id!r} has no resume information; run the batch again",
            code="not_resumable",
        )
    agent = _agent_for(runtime, str(record.agent_name))
    specs = [
        TaskSpec(
            input=value,
            id=str(task.get("id") or new_id()),
            trace_id=str(task.get("trace_id") or new_id()),
            parent_trace_id=task.get("parent_trace_id"),
            metadata=dict(task.get("metadata") or {}),
        )
        for value, task in zip(inputs, tasks, strict=False)
    ]
    limit = batch.get("max_concurrency")
    return await runtime.gather(
        agent, specs, max_concurrency=int(limit) if limit else None, run_id=record.run_id
    )


# -- resume ------------------------------------------------------------------------------


async def resume(runtime: RuntimeProtocol, run_id: str) -> GroupResult | list[AgentResult[Any]]:
    """`runtime.resume`: continue a recorded group run or gather batch.

    Raises:
        SpawnError: code `"no_store"` when the runtime has no store.
        RegistryError: code `"run_not_found"`, `"not_resumable"` (not a group run or gather
            batch), `"group_not_found"`, or an agent that is not registered.
    """
    if runtime.stores is None:
        raise SpawnError(
            "runtime.resume() needs the store the run was recorded in: "
            "AgentRuntime(store='sqlite:///runs.db')",
            code="no_store",
        )
    store = runtime.stores.runs
    record: RunRecord | None = await _store_call(store.get(run_id), "read the run")
    if record is None:
        raise RegistryError(
            f"no run {run_id!r} in the store; pass a group run's trace id or a gather batch's "
            "run id (list them with runtime.stores.runs.list(kind='group' or 'gather'))",
            code="run_not_found",
        )
    if record.kind not in ("group", "gather"):
        raise RegistryError(
            f"run {run_id!r} is a single {record.kind!r} run; only group runs and gather "
            "batches can be resumed (run the agent again with runtime.run)",
            code="not_resumable",
        )
    saved = await _store_call(store.checkpoints(run_id), "read the run's checkpoints")
    if record.kind == "group":
        return await _resume_group(runtime, record, saved)
    return await _resume_gather(runtime, record, saved)
