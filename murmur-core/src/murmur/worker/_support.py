"""Worker support: stats, agent maps, and the admission checks every delivery passes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from murmur.agent import Agent
from murmur.backends._async import AsyncBackend
from murmur.core.budget import TokenBudget
from murmur.core.errors import MurmurError, RegistryError, SpawnError
from murmur.core.logs import get_logger
from murmur.execution._context import ExecutionContext
from murmur.execution._spawns import SpawnCounter
from murmur.runtime import AgentRuntime
from murmur.transport._envelope import ResultEnvelope, TaskEnvelope, decode_frame, encode_frame
from murmur.transport._signing import EnvelopeSigner, check_freshness
from murmur.types import TaskSpec

if TYPE_CHECKING:
    from murmur.transport._base import Delivery, TaskConsumer, Transport

__all__ = [
    "Held",
    "InFlight",
    "Verdict",
    "WorkerStats",
    "agent_map",
    "check",
    "claim_nonce",
    "default_consumer_id",
    "delivered_context",
    "result_frame",
]

log = get_logger("murmur.worker")

_OP_TIMEOUT = 10.0
_MAX_ID = 256
_MAX_ANCESTORS = 1024


def default_consumer_id() -> str:
    """`<hostname>-<pid>`: stable for the life of the process, distinct per process."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class WorkerStats:
    """Counters of one worker (read them any time; they only grow)."""

    received: int = 0
    completed: int = 0
    failed: int = 0
    rejected: int = 0
    expired: int = 0
    cancelled: int = 0
    reclaimed: int = 0
    redelivered: int = 0
    duplicates: int = 0
    """Deliveries of a message this worker was handling already (not run again)."""
    rejected_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe copy."""
        return {**self.__dict__, "rejected_reasons": dict(self.rejected_reasons)}


@dataclass(slots=True)
class Held:
    """A delivery a worker handles: the newest delivery of its message, touched until settled."""

    consumer: TaskConsumer
    delivery: Delivery


@dataclass(slots=True)
class InFlight:
    delivery: Delivery
    consumer: TaskConsumer
    task: asyncio.Task[Any]
    reply_to: str
    cancel_requested: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the admission checks made of one delivery.

    Its envelope when it may run, else the rejection reason (and the task id the frame claims, for
    the `TASK_REJECTED` event).
    """

    envelope: TaskEnvelope | None
    reason: str | None = None
    task_id: str | None = None


def check(
    delivery: Delivery,
    *,
    signer: EnvelopeSigner,
    agents: Mapping[str, Agent[Any]],
    max_envelope_age_s: float,
) -> Verdict:
    """Every admission check that needs no broker round trip, in order.

    The checks: decode, signature, shape, freshness, queue. Total: whatever the delivery's bytes, a
    `Verdict`, never an exception (a raising check would leave the delivery un-acked, redelivered
    forever).

    Reasons: `malformed`, `unsigned`, `bad_signature`, `stale`, `from_future`,
    `no_timestamp`, `wrong_queue`.
    """
    try:
        return _check(delivery, signer, agents, max_envelope_age_s)
    except Exception:  # a frame no check foresaw is still garbage, not a worker crash
        return Verdict(None, "malformed")


def _check(
    delivery: Delivery,
    signer: EnvelopeSigner,
    agents: Mapping[str, Agent[Any]],
    max_envelope_age_s: float,
) -> Verdict:
    body = decode_frame(delivery.data)
    if body is None or body.get("kind", "task") != "task":
        return Verdict(None, "malformed")
    claimed = body.get("task_id")
    task_id = claimed if isinstance(claimed, str) and 0 < len(claimed) <= _MAX_ID else None
    reason = signer.verify(body)
    if reason is not None:
        return Verdict(None, reason, task_id)
    try:
        envelope = TaskEnvelope.model_validate(body, strict=True)
    except ValueError:
        return Verdict(None, "malformed", task_id)
    if not _sane(envelope):
        return Verdict(None, "malformed", task_id)
    if signer.enabled:
        reason = check_freshness(body, max_age_s=max_envelope_age_s)
        if reason is not None:
            return Verdict(None, reason, task_id)
    if envelope.agent_name != delivery.agent_name or envelope.agent_name not in agents:
        return Verdict(None, "wrong_queue", task_id)
    return Verdict(envelope, None, task_id)


def _sane(envelope: TaskEnvelope) -> bool:
    """The values no caller sends: well typed (strict validation saw to that) but unusable."""
    return (
        bool(envelope.task_id)
        and bool(envelope.reply_to)
        and 0 < len(envelope.nonce) <= _MAX_ID
        and envelope.attempt >= 1
        and (envelope.remaining_tokens is None or envelope.remaining_tokens >= 0)
        and envelope.depth >= 0
        and (envelope.max_depth is None or envelope.max_depth >= 0)
        and (envelope.remaining_spawns is None or envelope.remaining_spawns >= 0)
        and len(envelope.ancestors) <= _MAX_ANCESTORS
        and math.isfinite(envelope.timestamp)
        and (envelope.deadline is None or math.isfinite(envelope.deadline))
    )


async def claim_nonce(
    transport: Transport,
    envelope: TaskEnvelope,
    message_id: str,
    *,
    ttl_s: float,
    stopping: asyncio.Event,
) -> bool | None:
    """Record the envelope's nonce fleet-wide.

    False when another message already used it (a replay), True when it is fresh.

    A broker error here says nothing about the task, so it is retried with backoff (the
    caller holds the delivery and keeps touching it) until the broker answers, the task
    expires (True: the expiry check drops it), or `stopping` is set (None: hand it back).
    """
    delay = 0.1
    warned = False
    while True:
        try:
            return await asyncio.wait_for(
                transport.claim_nonce(envelope.nonce, message_id, ttl_s=ttl_s), _OP_TIMEOUT
            )
        except Exception as exc:
            if not warned:  # one line per delivery, not one per retry
                log.warning(
                    "admission deferred: the broker could not record the task's nonce; "
                    "retrying while the worker holds the task",
                    broker=transport.safe_url,
                    task_id=envelope.task_id,
                    message_id=message_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                warned = True
        if envelope.expired():
            return True
        if stopping.is_set():
            return None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stopping.wait()
        delay = min(delay * 2, 5.0)


def result_frame(
    envelope: TaskEnvelope,
    output: Any,
    error: MurmurError | None,
    metadata: dict[str, Any],
    *,
    signer: EnvelopeSigner,
    worker: str,
) -> bytes:
    """The signed result frame of a task.

    An output that cannot travel (not JSON, not valid Unicode) becomes a typed `not_serializable`
    error for the caller instead of an exception that would leave the task un-acked.
    """
    try:
        result = ResultEnvelope(
            task_id=envelope.task_id,
            agent_name=envelope.agent_name,
            attempt=envelope.attempt,
            output=output,
            error=error.to_dict() if error is not None else None,
            metadata=metadata,
            worker=worker,
        )
        return encode_frame(signer.sign(result.body()))
    except (MurmurError, ValueError, TypeError, RecursionError) as exc:
        failure = SpawnError(
            f"the result of task {envelope.task_id} of agent {envelope.agent_name!r} cannot "
            f"be sent back: {exc}; make the agent's output JSON-serializable",
            code="not_serializable",
        )
        result = ResultEnvelope(
            task_id=envelope.task_id,
            agent_name=envelope.agent_name,
            attempt=envelope.attempt,
            error=failure.to_dict(),
            worker=worker,
        )
        return encode_frame(signer.sign(result.body()))


def agent_map(agents: Mapping[str, Agent[Any]] | Iterable[Agent[Any]]) -> dict[str, Agent[Any]]:
    if isinstance(agents, Mapping):
        out: dict[str, Any] = {str(name): agent for name, agent in agents.items()}
    else:
        out = {agent.name: agent for agent in agents}
    for name, agent in out.items():
        if not isinstance(agent, Agent):
            raise RegistryError(f"worker agent {name!r} is a {type(agent).__name__}, not an Agent")
        if agent.name != name:
            raise RegistryError(
                f"worker agent registered as {name!r} is named {agent.name!r}; tasks are routed "
                "by agent name, so register it under its own name"
            )
    return out


def delivered_context(
    runtime: AgentRuntime, agent: Agent[Any], envelope: TaskEnvelope
) -> ExecutionContext:
    """The execution context of a task a worker received: the caller's run, continued.

    Its depth, ancestors, spawn-depth limit, remaining spawns and remaining tokens come
    from the envelope, so the runs it spawns here are held to the caller's limits.
    """
    budgets: tuple[TokenBudget, ...] = ()
    if envelope.remaining_tokens is not None:
        budgets = (TokenBudget(limit=envelope.remaining_tokens, name="caller"),)
    counters: tuple[SpawnCounter, ...] = ()
    if envelope.remaining_spawns is not None:
        counters = (SpawnCounter(envelope.remaining_spawns),)
    task = TaskSpec(
        input=envelope.input,
        id=envelope.task_id,
        trace_id=envelope.trace_id,
        parent_trace_id=envelope.parent_trace_id,
        metadata={**envelope.metadata, "attempt": envelope.attempt},
    )
    return ExecutionContext(
        agent=agent,
        task=task,
        trace_id=envelope.trace_id,
        parent_trace_id=envelope.parent_trace_id,
        depth=envelope.depth,
        ancestors=tuple(envelope.ancestors),
        budgets=budgets,
        attempt=envelope.attempt,
        backend=AsyncBackend.name,
        input=envelope.input,
        runtime=runtime,
        traceparent=envelope.traceparent,  # the caller's span: one trace
        max_depth=envelope.max_depth,
        spawn_counters=counters,
        deadline=envelope.deadline,
        remaining_tokens=envelope.remaining_tokens,
    )
