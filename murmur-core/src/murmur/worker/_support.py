"""Worker support: stats, agent maps, and the admission check every delivery passes."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from murmur.agent import Agent
from murmur.core.errors import RegistryError
from murmur.transport._envelope import TaskEnvelope, decode_frame
from murmur.transport._signing import EnvelopeSigner, check_freshness

if TYPE_CHECKING:
    from murmur.transport._base import Delivery, TaskConsumer, Transport

__all__ = [
    "InFlight",
    "WorkerStats",
    "admit",
    "agent_map",
    "default_consumer_id",
    "worker_copy",
]

_OP_TIMEOUT = 10.0


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
    rejected_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe copy."""
        return {**self.__dict__, "rejected_reasons": dict(self.rejected_reasons)}


@dataclass(slots=True)
class InFlight:
    delivery: Delivery
    consumer: TaskConsumer
    task: asyncio.Task[Any]
    reply_to: str
    cancel_requested: bool = False


async def admit(
    delivery: Delivery,
    *,
    signer: EnvelopeSigner,
    agents: Mapping[str, Agent[Any]],
    transport: Transport,
    max_envelope_age_s: float,
) -> tuple[TaskEnvelope | None, str | None]:
    """The delivery's envelope when it may run, else None and the rejection reason:
    `malformed`, `unsigned`, `bad_signature`, `stale`, `from_future`, `no_timestamp`,
    `wrong_queue` or `replayed`."""
    body = decode_frame(delivery.data)
    if body is None or body.get("kind", "task") != "task":
        return None, "malformed"
    reason = signer.verify(body)
    if reason is not None:
        return None, reason
    try:
        envelope = TaskEnvelope.model_validate(body)
    except ValueError:
        return None, "malformed"
    if signer.enabled:
        reason = check_freshness(body, max_age_s=max_envelope_age_s)
        if reason is not None:
            return None, reason
    if envelope.agent_name != delivery.agent_name or envelope.agent_name not in agents:
        return None, "wrong_queue"
    if not signer.enabled:
        return envelope, None  # unsigned envelopes can be forged at will: no replay check
    fresh = await asyncio.wait_for(
        transport.claim_nonce(envelope.nonce, delivery.message_id, ttl_s=max_envelope_age_s),
        _OP_TIMEOUT,
    )
    if not fresh:
        return None, "replayed"
    return envelope, None


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


def worker_copy(agent: Agent[Any]) -> Agent[Any]:
    """The agent as the worker runs it: input validation, pre_process and post_process run
    once, on the caller; the worker runs the model with its tools on the input it is given."""
    if agent.input_type is None and not agent.pre_process and not agent.post_process:
        return agent
    return agent.model_copy(update={"input_type": None, "pre_process": (), "post_process": ()})
