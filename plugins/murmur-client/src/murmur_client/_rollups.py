"""Rollups over events: usage by agent / trace / model, tool latency percentiles, workers."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from murmur.events import EventType, RuntimeEvent
from murmur_client._models import (
    ToolStat,
    UsageGroupBy,
    UsageRow,
    WorkerInfo,
)

__all__ = ["WorkerTable", "percentile", "tool_stats", "usage_rows"]


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The `q`-quantile (0..1) of sorted values, linearly interpolated; None when empty."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 3)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0


def _roots(events: Sequence[RuntimeEvent]) -> dict[str, str]:
    """Each trace id mapped to the top-most ancestor known from the events' parent links."""
    parent = {e.trace_id: e.parent_trace_id for e in events if e.trace_id and e.parent_trace_id}

    def root(trace_id: str) -> str:
        seen = {trace_id}
        while trace_id in parent and parent[trace_id] not in seen:
            trace_id = parent[trace_id]  # type: ignore[assignment]
            seen.add(trace_id)
        return trace_id

    return {e.trace_id: root(e.trace_id) for e in events if e.trace_id}


def usage_rows(
    events: Sequence[RuntimeEvent], group_by: UsageGroupBy
) -> tuple[list[UsageRow], UsageRow]:
    """Sum the spend of AGENT_COMPLETED events; `trace` groups by each run tree's root."""
    roots = _roots(events) if group_by is UsageGroupBy.TRACE else {}
    rows: dict[str | None, UsageRow] = {}
    total = UsageRow()
    for event in events:
        if event.event_type is not EventType.AGENT_COMPLETED:
            continue
        if group_by is UsageGroupBy.AGENT:
            key = event.agent_name
        elif group_by is UsageGroupBy.MODEL:
            model = event.payload.get("model")
            key = str(model) if model is not None else None
        elif group_by is UsageGroupBy.TRACE:
            key = roots.get(event.trace_id or "", event.trace_id)
        else:
            key = None
        for row in (rows.setdefault(key, UsageRow(key=key)), total):
            _add(row, event.payload)
    ordered = sorted(rows.values(), key=lambda r: (-r.total_tokens, -r.cost_usd, str(r.key)))
    return ordered, total


def _add(row: UsageRow, payload: dict[str, Any]) -> None:
    input_tokens = int(_number(payload.get("input_tokens")))
    output_tokens = int(_number(payload.get("output_tokens")))
    row.runs += 1
    row.requests += int(_number(payload.get("requests")))
    row.input_tokens += input_tokens
    row.output_tokens += output_tokens
    row.total_tokens += input_tokens + output_tokens
    row.cost_usd = round(row.cost_usd + _number(payload.get("cost_usd")), 10)


def tool_stats(events: Iterable[RuntimeEvent]) -> list[ToolStat]:
    """Per-tool finished-call counts and latency percentiles from TOOL_CALL_* events."""
    durations: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    for event in events:
        if event.event_type not in (EventType.TOOL_CALL_COMPLETED, EventType.TOOL_CALL_FAILED):
            continue
        name = str(event.payload.get("tool") or "unknown")
        durations.setdefault(name, []).append(_number(event.payload.get("duration_ms")))
        if event.event_type is EventType.TOOL_CALL_FAILED:
            failures[name] = failures.get(name, 0) + 1
    stats = []
    for name in sorted(durations):
        ordered = sorted(durations[name])
        stats.append(
            ToolStat(
                name=name,
                calls=len(ordered),
                failed=failures.get(name, 0),
                p50_ms=percentile(ordered, 0.50),
                p95_ms=percentile(ordered, 0.95),
                p99_ms=percentile(ordered, 0.99),
                mean_ms=round(sum(ordered) / len(ordered), 3),
                max_ms=ordered[-1],
            )
        )
    return stats


_WORKER_EVENTS = frozenset(
    {EventType.WORKER_STARTED, EventType.WORKER_HEARTBEAT, EventType.WORKER_STOPPED}
)


@dataclass(slots=True)
class _Worker:
    worker_id: str
    started_at: float | None = None
    last_seen: float | None = None
    last_heartbeat: float | None = None
    stopped: bool = False
    interval: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


class WorkerTable:
    """Workers and their heartbeats, from WORKER_STARTED / _HEARTBEAT / _STOPPED events.

    A worker whose last sign of life is older than three heartbeat intervals (the
    `interval` payload field when present, else `stale_after` seconds) is reported stale.
    """

    def __init__(self, *, stale_after: float = 60.0) -> None:
        self.stale_after = stale_after
        self._workers: dict[str, _Worker] = {}

    @staticmethod
    def worker_id(event: RuntimeEvent) -> str:
        """The worker an event is about."""
        payload = event.payload
        for key in ("worker_id", "consumer_id", "worker", "name"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                return value
        return event.agent_name or event.task_id or "unknown"

    def observe(self, event: RuntimeEvent) -> None:
        """Update the table from one event (other event types are ignored)."""
        if event.event_type not in _WORKER_EVENTS:
            return
        worker_id = self.worker_id(event)
        worker = self._workers.get(worker_id)
        if worker is None:
            worker = self._workers[worker_id] = _Worker(worker_id)
        worker.last_seen = event.timestamp
        worker.details = dict(event.payload)
        interval = event.payload.get("interval") or event.payload.get("heartbeat_interval")
        if isinstance(interval, int | float) and interval > 0:
            worker.interval = float(interval)
        if event.event_type is EventType.WORKER_STARTED:
            worker.started_at = event.timestamp
            worker.stopped = False
        elif event.event_type is EventType.WORKER_HEARTBEAT:
            worker.last_heartbeat = event.timestamp
            worker.stopped = False
        else:
            worker.stopped = True

    def snapshot(self, now: float | None = None) -> list[WorkerInfo]:
        """Every known worker, sorted by id."""
        now = time.time() if now is None else now
        out = []
        for worker in sorted(self._workers.values(), key=lambda w: w.worker_id):
            limit = 3 * worker.interval if worker.interval else self.stale_after
            age = None if worker.last_seen is None else max(0.0, now - worker.last_seen)
            if worker.stopped:
                status = "stopped"
            elif age is not None and age > limit:
                status = "stale"
            else:
                status = "alive"
            since_beat = None
            if worker.last_heartbeat is not None:
                since_beat = round(max(0.0, now - worker.last_heartbeat), 3)
            out.append(
                WorkerInfo(
                    worker_id=worker.worker_id,
                    status=status,
                    started_at=worker.started_at,
                    last_heartbeat=worker.last_heartbeat,
                    seconds_since_heartbeat=since_beat,
                    details=worker.details,
                )
            )
        return out
