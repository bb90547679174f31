"""Conversions between store records and wire models, and the event filter of `events()`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from murmur.core.errors import MurmurError
from murmur.events import EventType, RuntimeEvent
from murmur.runs import RunRecord, RunStore
from murmur_client._json import MAX_JSON_DEPTH
from murmur_client._models import (
    ErrorInfo,
    RunInfo,
    RunKind,
    RunProgress,
    RunResult,
    RunStatus,
)

__all__ = [
    "EventFilter",
    "cancelled_error",
    "gather_children",
    "jsonable",
    "not_found",
    "result_of",
    "run_info",
]


_INTERNAL = frozenset({"children", "errors", "tasks"})
"""Record metadata kept for results, not shown in `RunInfo.metadata`."""


def gather_children(record: RunRecord) -> list[str]:
    """The run ids of a gather's tasks, in input order."""
    children = record.metadata.get("children")
    if isinstance(children, list):
        return [str(c) for c in children]
    tasks = record.metadata.get("tasks")  # the runtime's durable batch record
    if isinstance(tasks, list):
        return [str(t.get("trace_id")) for t in tasks if isinstance(t, dict)]
    return []


def jsonable(value: Any) -> Any:
    """A JSON-safe form of an input or output (models dumped, unknown objects as repr).

    Raises:
        MurmurError: code `input_invalid` when `value` cannot be converted (nested too
            deeply for the serializer, or a model that fails to dump).
    """
    try:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        return to_jsonable_python(value, fallback=repr)
    except (ValueError, RecursionError) as exc:  # PydanticSerializationError is a ValueError
        raise MurmurError(
            f"the value cannot be converted to JSON: {str(exc)[:200]}; send JSON nested at "
            f"most {MAX_JSON_DEPTH} levels deep",
            code="input_invalid",
        ) from None


def not_found(run_id: str) -> MurmurError:
    """The error for an unknown run id."""
    return MurmurError(
        f"no run {run_id!r}; list runs with GET /runs (client.runs())",
        code="run_not_found",
        details={"run_id": run_id},
    )


def cancelled_error(run_id: str) -> MurmurError:
    """The error a cancelled run ends with."""
    return MurmurError(
        f"run {run_id!r} was cancelled", code="cancelled", details={"run_id": run_id}
    )


def _kind(record: RunRecord) -> RunKind:
    try:
        return RunKind(record.kind)
    except ValueError:
        return RunKind.AGENT


def _error(record: RunRecord) -> ErrorInfo | None:
    if not record.error:
        return None
    data = record.error
    details = data.get("details")
    return ErrorInfo(
        type=str(data.get("type") or "MurmurError"),
        message=str(data.get("message") or ""),
        code=str(data.get("code") or "error"),
        details=details if isinstance(details, dict) else {},
    )


def run_info(
    record: RunRecord, live: tuple[int, int] | None = None, *, active: bool = False
) -> RunInfo:
    """The wire form of a run record (`live`: (completed, failed) children of a gather)."""
    kind = _kind(record)
    progress = RunProgress.model_validate(record.progress) if record.progress else None
    if progress is None:
        status = record.status
        progress = RunProgress(
            total=1,
            completed=int(status is RunStatus.COMPLETED),
            failed=int(status in (RunStatus.FAILED, RunStatus.CANCELLED)),
        )
    if live is not None and active:
        progress = RunProgress(total=progress.total, completed=live[0], failed=live[1])
    return RunInfo(
        run_id=record.run_id,
        kind=kind,
        status=record.status,
        agent_name=record.agent_name if kind is not RunKind.GROUP else None,
        group_name=record.agent_name if kind is RunKind.GROUP else None,
        task_id=record.task_id,
        trace_id=record.trace_id,
        parent_trace_id=record.parent_trace_id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        progress=progress,
        metadata={k: v for k, v in record.metadata.items() if k not in _INTERNAL},
        error=_error(record),
    )


def _usage(metadata: dict[str, Any]) -> dict[str, Any]:
    keys = ("input_tokens", "output_tokens", "cost_usd", "duration_ms", "nodes", "model")
    return {k: metadata[k] for k in keys if k in metadata}


async def result_of(
    record: RunRecord,
    runs: RunStore,
    guard: Callable[[Awaitable[Any]], Awaitable[Any]],
) -> RunResult[Any]:
    """The result of a finished run, built from its record (and its children's, for a gather)."""
    kind = _kind(record)
    error = _error(record)
    ok = record.status is RunStatus.COMPLETED and error is None
    output = record.output if ok else None
    items: list[RunResult[Any]] = []
    if kind is RunKind.GATHER:
        items = await _gather_items(record, runs, guard)
        output = None
    elif kind is RunKind.GROUP and ok and isinstance(output, dict):
        terminals = record.metadata.get("terminals")
        if isinstance(terminals, list) and len(terminals) == 1 and terminals[0] in output:
            output = output[terminals[0]]
    return RunResult[Any](
        run_id=record.run_id,
        kind=kind,
        status=record.status,
        ok=ok,
        output=output,
        error=error,
        items=items,
        metadata=_usage(record.metadata),
    )


async def _gather_items(
    record: RunRecord,
    runs: RunStore,
    guard: Callable[[Awaitable[Any]], Awaitable[Any]],
) -> list[RunResult[Any]]:
    children = gather_children(record)
    outputs = record.output if isinstance(record.output, list) else []
    errors = record.metadata.get("errors") or []
    items: list[RunResult[Any]] = []
    for index, child in enumerate(children):
        stored = errors[index] if index < len(errors) else None
        if index < len(outputs) or stored is not None:
            error = ErrorInfo.model_validate(stored) if stored else None
            status = RunStatus.COMPLETED if error is None else RunStatus.FAILED
            if error is not None and error.code == "cancelled":
                status = RunStatus.CANCELLED
            value = outputs[index] if error is None and index < len(outputs) else None
            items.append(
                RunResult[Any](
                    run_id=child,
                    kind=RunKind.AGENT,
                    status=status,
                    ok=error is None,
                    output=value,
                    error=error,
                )
            )
            continue
        child_record = await guard(runs.get(child))
        if child_record is None:  # never started (cancelled before its turn)
            error = ErrorInfo.from_error(cancelled_error(child))
            items.append(
                RunResult[Any](
                    run_id=child,
                    kind=RunKind.AGENT,
                    status=RunStatus.CANCELLED,
                    ok=False,
                    error=error,
                )
            )
        else:
            items.append(await result_of(child_record, runs, guard))
    return items


class EventFilter:
    """Which events a subscriber wants: by agent, by run tree, by type."""

    def __init__(
        self,
        agent: str | None = None,
        trace_id: str | None = None,
        types: Sequence[EventType | str] | None = None,
    ) -> None:
        self.agent = agent
        self.types = frozenset(EventType(t) for t in types) if types else None
        self.traces: set[str] | None = {trace_id} if trace_id is not None else None

    def add_traces(self, trace_ids: Iterable[str]) -> None:
        """Treat these runs as part of the followed tree."""
        if self.traces is not None:
            self.traces.update(trace_ids)

    def accept(self, event: RuntimeEvent) -> bool:
        """True when the subscriber wants `event` (also grows the followed tree)."""
        if self.traces is not None:
            if event.trace_id in self.traces:
                pass
            elif event.parent_trace_id is not None and event.parent_trace_id in self.traces:
                if event.trace_id is not None:
                    self.traces.add(event.trace_id)
            else:
                return False
        if self.agent is not None and event.agent_name != self.agent:
            return False
        return self.types is None or event.event_type in self.types


def now() -> float:
    """The current time (a seam for tests)."""
    return time.time()
