"""The group runner: schedules each node once its upstream nodes are done.

Every node run goes through `runtime.run` / `runtime.gather` (the one pipeline: budgets,
timeouts, retries, spawn control, events). A group run has its own trace id; each node
run is its child (`parent_trace_id` = the group's trace id), so the run tree shows the
group above its nodes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from murmur.core.errors import (
    AllAgentsFailedError,
    BudgetExceededError,
    MurmurError,
    SpawnError,
)
from murmur.core.ids import new_id
from murmur.core.json import dump_value
from murmur.events._model import EventType, RuntimeEvent
from murmur.execution._context import current_context
from murmur.groups._checkpoint import GroupCheckpoint, NodeCheckpoint
from murmur.groups._edge import Edge, fanout_field
from murmur.groups._group import AgentGroup
from murmur.groups._result import GroupResult, NodeResult, NodeStatus
from murmur.runs._base import RunRecord, RunStatus
from murmur.types import AgentResult, TaskSpec

if TYPE_CHECKING:
    from murmur.execution._context import RuntimeProtocol

__all__ = ["run_group"]

_CHECKPOINT_TIMEOUT = 30.0


async def run_group(
    runtime: RuntimeProtocol,
    group: AgentGroup | str,
    task: TaskSpec | Any = None,
    *,
    checkpoint: GroupCheckpoint | None = None,
    timeout_seconds: float | None = None,
) -> GroupResult:
    """Run `group` on `task` through `runtime`. Never raises for a failed node.

    Args:
        runtime: the runtime whose pipeline runs every node.
        group: an `AgentGroup`, or the name of a group loaded with `runtime.load_specs`.
        task: a `TaskSpec` (its input goes to the root nodes); any other value is the input.
        checkpoint: records finished nodes and restores them on resume (see
            `GroupCheckpoint`).
        timeout_seconds: wall-clock limit for the whole group (None: no limit).
    """
    spec = task if isinstance(task, TaskSpec) else TaskSpec(input=task)
    if isinstance(group, str):
        group = runtime.get_group(group)
    parent = current_context()
    run = _GroupRun(runtime, group, spec, checkpoint)
    run.parent_trace_id = spec.parent_trace_id or (parent.trace_id if parent else None)
    return await run.execute(timeout_seconds)


class _GroupRun:
    def __init__(
        self,
        runtime: RuntimeProtocol,
        group: AgentGroup,
        spec: TaskSpec,
        checkpoint: GroupCheckpoint | None,
    ) -> None:
        self.runtime = runtime
        self.group = group
        self.spec = spec
        self.trace_id = spec.trace_id
        self.parent_trace_id: str | None = None
        self.checkpoint = checkpoint
        self.restored: Mapping[str, NodeCheckpoint] = {}
        self.nodes: dict[str, NodeResult] = {}
        self.done = {name: asyncio.Event() for name in group.order}
        self.trace_ids: set[str] = set()

    # -- framing ------------------------------------------------------------------------

    async def execute(self, limit: float | None) -> GroupResult:
        started = time.perf_counter()
        record = await self._record_start()
        await self._emit(
            EventType.GROUP_STARTED,
            {
                "nodes": list(self.group.order),
                "edges": [[e.source_name, e.target_names[0]] for e in self.group.edges],
                "roots": list(self.group.roots),
                "terminals": list(self.group.terminals),
            },
        )
        error: MurmurError | None = None
        stopped = "not reached"
        try:
            if self.checkpoint is not None:
                self.restored = await asyncio.wait_for(
                    self.checkpoint.load(self.trace_id), _CHECKPOINT_TIMEOUT
                )
            async with asyncio.timeout(limit):
                await asyncio.gather(*(self._node(name) for name in self.group.order))
        except TimeoutError:
            stopped = "the group timed out"
            error = BudgetExceededError(
                f"group {self.group.name!r} did not finish within {limit}s; raise "
                "run_group(timeout_seconds=...) or speed up its slowest branch",
                code="timeout",
                details={"timeout_seconds": limit},
            )
        except MurmurError as exc:  # a failing checkpoint.load
            stopped = f"the group's checkpoints could not be loaded ({exc.code})"
            error = exc
        for name in self.group.order:
            if name not in self.nodes:
                self.nodes[name] = NodeResult(name, NodeStatus.SKIPPED, reason=stopped)
        if error is None:
            failed = [self.nodes[n] for n in self.group.order if not self._ok(n)]
            error = failed[0].error if failed else None
        duration = (time.perf_counter() - started) * 1000
        result = GroupResult(
            group_name=self.group.name,
            trace_id=self.trace_id,
            task_id=self.spec.id,
            nodes={n: self.nodes[n] for n in self.group.order},
            terminals=self.group.terminals,
            error=error,
            duration_ms=duration,
            parent_trace_id=self.parent_trace_id,
        )
        await self._finish(result, record)
        return result

    def _ok(self, name: str) -> bool:
        return self.nodes[name].status is not NodeStatus.FAILED

    async def _finish(self, result: GroupResult, record: RunRecord | None) -> None:
        statuses = {n: r.status.value for n, r in result.nodes.items()}
        payload: dict[str, Any] = {
            "duration_ms": round(result.duration_ms, 3),
            "nodes": statuses,
            "total_tokens": result.total_tokens,
        }
        if result.error is None:
            await self._emit(EventType.GROUP_COMPLETED, payload)
        else:
            payload.update(
                error_type=type(result.error).__name__,
                error=result.error.message,
                code=result.error.code,
                failed_nodes=result.failed_nodes,
            )
            await self._emit(EventType.GROUP_FAILED, payload)
        if record is not None and self.runtime.stores is not None:
            if result.error is None:
                record.status = RunStatus.COMPLETED
                record.output = dump_value(result.outputs)
            else:
                record.status = RunStatus.FAILED
                record.error = result.error.to_dict()
            record.metadata.update(
                nodes=statuses,
                duration_ms=result.duration_ms,
                terminals=list(result.terminals),
                total_tokens=result.total_tokens,
            )
            record.updated_at = time.time()
            await self.runtime.stores.runs.put(record)

    async def _record_start(self) -> RunRecord | None:
        if self.runtime.stores is None:
            return None
        record = RunRecord(
            run_id=self.trace_id,
            kind="group",
            agent_name=self.group.name,
            task_id=self.spec.id,
            trace_id=self.trace_id,
            parent_trace_id=self.parent_trace_id,
            status=RunStatus.RUNNING,
            input=dump_value(self.spec.input),
            metadata={**self.spec.metadata, "nodes": list(self.group.order)},
        )
        await self.runtime.stores.runs.put(record)
        return record

    async def _emit(self, event_type: EventType, payload: dict[str, Any]) -> None:
        await self.runtime.emit(
            RuntimeEvent(
                event_type=event_type,
                agent_name=self.group.name,
                task_id=self.spec.id,
                trace_id=self.trace_id,
                parent_trace_id=self.parent_trace_id,
                payload={"group": self.group.name, **payload},
            )
        )

    # -- nodes --------------------------------------------------------------------------

    async def _node(self, name: str) -> None:
        for edge in self.group.inbound(name):
            await self.done[edge.source_name or ""].wait()
        try:
            result = await self._run_node(name)
        except MurmurError as exc:
            result = NodeResult(name, NodeStatus.FAILED, error=exc)
        except Exception as exc:  # a bug in user code around the node: still typed
            error = SpawnError(f"group node {name!r} failed unexpectedly: {exc!r}")
            result = NodeResult(name, NodeStatus.FAILED, error=error)
        if result.status is NodeStatus.COMPLETED and not result.restored:
            result = await self._save(result)
        self.nodes[name] = result
        self.done[name].set()

    async def _save(self, result: NodeResult) -> NodeResult:
        if self.checkpoint is None:
            return result
        entry = NodeCheckpoint(result.name, tuple(result.outputs), result.fanned_out)
        try:
            await asyncio.wait_for(self.checkpoint.save(self.trace_id, entry), _CHECKPOINT_TIMEOUT)
        except Exception as exc:
            result.status = NodeStatus.FAILED
            result.error = SpawnError(
                f"group {self.group.name!r}: node {result.name!r} finished but its checkpoint "
                f"could not be saved: {exc!r}",
                code="checkpoint_failed",
            )
        return result

    async def _run_node(self, name: str) -> NodeResult:
        saved = self.restored.get(name)
        if saved is not None and saved.error is not None:
            return NodeResult(name, NodeStatus.FAILED, error=saved.error)
        if saved is not None:
            return NodeResult(
                name,
                NodeStatus.COMPLETED,
                fanned_out=saved.fanned_out,
                restored=True,
                restored_outputs=tuple(saved.outputs),
            )
        inbound = self.group.inbound(name)
        if not inbound:
            return await self._dispatch(name, [self._root_spec()], fanned=False, limit=None)
        failed = [e.source_name for e in inbound if not self._ok(e.source_name or "")]
        if failed:
            return NodeResult(
                name, NodeStatus.SKIPPED, reason=f"upstream {', '.join(map(str, failed))} failed"
            )
        deliveries: list[tuple[Edge, list[TaskSpec], bool]] = []
        for edge in inbound:
            source = self.nodes[edge.source_name or ""]
            if source.status is NodeStatus.SKIPPED:
                continue
            value = source.output
            if edge.condition is not None and not await self._call(edge, "condition", value):
                continue
            specs, fanned = await self._specs_for(edge, source, value)
            deliveries.append((edge, specs, fanned))
        if not deliveries:
            return NodeResult(
                name,
                NodeStatus.SKIPPED,
                reason="no inbound edge delivered (a condition was false or upstream skipped)",
            )
        if len(inbound) == 1:
            edge, specs, fanned = deliveries[0]
            return await self._dispatch(name, specs, fanned=fanned, limit=edge.max_concurrency)
        return await self._dispatch(name, [self._join(name, deliveries)], fanned=False, limit=None)

    def _root_spec(self) -> TaskSpec:
        return TaskSpec(input=self.spec.input)

    def _join(self, name: str, deliveries: list[tuple[Edge, list[TaskSpec], bool]]) -> TaskSpec:
        joined: dict[str, Any] = {}
        for edge, specs, fanned in deliveries:
            if fanned or len(specs) != 1:
                raise SpawnError(
                    f"group {self.group.name!r}: join node {name!r} got {len(specs)} inputs "
                    f"from {edge.source_name!r}; a join takes one input per upstream",
                    code="join_fanout",
                )
            joined[edge.source_name or ""] = dump_value(specs[0].input)
        return TaskSpec(input=joined)

    async def _specs_for(
        self, edge: Edge, source: NodeResult, value: Any
    ) -> tuple[list[TaskSpec], bool]:
        if edge.mapper is not None:
            mapped = await self._call(edge, "mapper", value)
            if isinstance(mapped, TaskSpec):
                return [mapped], False
            if isinstance(mapped, list | tuple):
                return [m if isinstance(m, TaskSpec) else TaskSpec(input=m) for m in mapped], True
            return [TaskSpec(input=mapped)], False
        if source.fanned_out:  # fan-in: the list of item outputs, JSON-safe, in item order
            return [TaskSpec(input=[dump_value(v) for v in value])], False
        field = fanout_field(self.group.agents[source.name].output_type)
        if field is not None:
            items = getattr(value, field[0], None) or []
            return [TaskSpec(input=item) for item in items], True
        return [TaskSpec(input=value)], False

    async def _call(self, edge: Edge, kind: str, value: Any) -> Any:
        fn = edge.mapper if kind == "mapper" else edge.condition
        assert fn is not None
        try:
            out = fn(value)
            if inspect.isawaitable(out):
                out = await out
        except MurmurError:
            raise
        except Exception as exc:
            raise SpawnError(
                f"group {self.group.name!r}: the {kind} of edge {edge.source_name!r} -> "
                f"{edge.target_names[0]!r} raised {exc!r}",
                code=f"{kind}_failed",
                details={"source": edge.source_name, "target": edge.target_names[0]},
            ) from exc
        return out

    def _link(self, spec: TaskSpec, name: str, index: int | None) -> TaskSpec:
        metadata = {
            **self.spec.metadata,
            **spec.metadata,
            "group": self.group.name,
            "group_trace_id": self.trace_id,
            "node": name,
        }
        if index is not None:
            metadata["item"] = index
        update: dict[str, Any] = {
            "parent_trace_id": self.trace_id,
            "token_budget": spec.token_budget or self.spec.token_budget,
            "metadata": metadata,
        }
        if spec.trace_id in self.trace_ids or spec.trace_id == self.trace_id:
            update.update(id=new_id(), trace_id=new_id())
        linked = spec.model_copy(update=update)
        self.trace_ids.add(linked.trace_id)
        return linked

    async def _dispatch(
        self, name: str, specs: list[TaskSpec], *, fanned: bool, limit: int | None
    ) -> NodeResult:
        agent = self.group.agents[name]
        if not fanned:
            result = await self.runtime.run(agent, self._link(specs[0], name, None))
            status = NodeStatus.COMPLETED if result.is_ok() else NodeStatus.FAILED
            return NodeResult(name, status, results=[result], error=result.error)
        linked = [self._link(s, name, i) for i, s in enumerate(specs)]
        # With a store the fan-out is a durable batch under a run id derived from the
        # group run, so a resumed group restores the items that already finished.
        batch = f"{self.trace_id}:{name}" if self.runtime.stores is not None else None
        results: list[AgentResult[Any]] = (
            await self.runtime.gather(agent, linked, max_concurrency=limit, run_id=batch)
            if linked
            else []
        )
        if results and not any(r.is_ok() for r in results):
            first = results[0].error
            error = AllAgentsFailedError(
                f"group {self.group.name!r}: all {len(results)} runs of fan-out node {name!r} "
                f"failed (first error: {first.message if first else 'unknown'}); its "
                "downstream nodes were not run",
                details={
                    "node": name,
                    "errors": [r.error.to_dict() for r in results if r.error is not None],
                },
            )
            return NodeResult(name, NodeStatus.FAILED, results, fanned_out=True, error=error)
        return NodeResult(name, NodeStatus.COMPLETED, results, fanned_out=True)
