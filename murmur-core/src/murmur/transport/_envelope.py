"""Envelopes, defined once: what a task and its result look like on every broker.

Wire form: one JSON object per message (UTF-8). Every frame carries a `kind`:

- `"task"` on an agent queue (`TaskEnvelope`),
- `"result"` and `"event"` on a caller's reply channel (`ResultEnvelope`, a worker-side
  `RuntimeEvent` of that caller's task),
- `"event"` and `"cancel"` on the fleet event channel.

With a signing key, every frame also carries `timestamp`, `nonce` and `signature` (see
`murmur.transport.EnvelopeSigner`).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from murmur.core.errors import SpawnError
from murmur.events._model import EventType, RuntimeEvent

__all__ = [
    "CALLER_LIFECYCLE_EVENTS",
    "ENVELOPE_VERSION",
    "CancelFrame",
    "EventFrame",
    "ResultEnvelope",
    "TaskEnvelope",
    "decode_frame",
    "encode_frame",
    "new_nonce",
    "traceparent_for",
]

ENVELOPE_VERSION = 1
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

CALLER_LIFECYCLE_EVENTS = frozenset(
    {
        EventType.AGENT_SPAWNED,
        EventType.AGENT_COMPLETED,
        EventType.AGENT_FAILED,
        EventType.AGENT_RETRIED,
        EventType.SPAWN_REFUSED,
        EventType.BUDGET_EXCEEDED,
    }
)
"""Events the caller's own pipeline emits for a task it sent to a fleet. The worker's copies
of these (for that task id) are not relayed, so a fleet run shows each event once, as a local
run does; every other worker event (tool calls, nested runs) is relayed."""


def new_nonce() -> str:
    """A fresh random nonce (128 bits, hex)."""
    return secrets.token_hex(16)


def traceparent_for(trace_id: str) -> str | None:
    """A W3C `traceparent` header for `trace_id` (a fresh span id).

    None when the trace id is not 32 lowercase hex digits.
    """
    if not _TRACE_ID.match(trace_id) or trace_id == "0" * 32:
        return None
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


class TaskEnvelope(BaseModel):
    """One task on its way to a worker.

    Attributes:
        task_id: The task id; the idempotency key of the whole distributed path.
        agent_name: The agent the worker must run (its own registered agent of that name).
        input: The task input as JSON (a pydantic input is sent as its JSON string).
        trace_id: The run's trace id.
        parent_trace_id: The run that spawned this one, if any.
        traceparent: The W3C trace context header for this hop.
        attempt: The caller's attempt number (retries re-publish with attempt + 1).
        deadline: Wall-clock epoch seconds after which nobody waits for the result; a
            worker drops the task unstarted, or cancels it running, once it passes.
        reply_to: The caller's reply channel.
        remaining_tokens: The token budget left for this run, enforced on the worker.
        depth: The run's spawn depth on the caller (0: a top-level run).
        ancestors: The agents on the chain above the run (cycle detection on the worker).
        max_depth: The caller's `max_spawn_depth`: runs the task spawns on the worker are
            held to it (None: no limit).
        remaining_spawns: How many more runs the caller's spawn cap allows; runs the task
            spawns on the worker are counted against it (None: no cap).
        metadata: The task's free-form metadata.
        timestamp: When the envelope was made (epoch seconds).
        nonce: Random; with `timestamp`, what makes a replay detectable.
        signature: HMAC over the canonical form of every other field (None: unsigned).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: str = "task"
    v: int = ENVELOPE_VERSION
    task_id: str
    agent_name: str
    input: Any = None
    trace_id: str
    parent_trace_id: str | None = None
    traceparent: str | None = None
    attempt: int = 1
    deadline: float | None = None
    reply_to: str
    remaining_tokens: int | None = None
    depth: int = 0
    ancestors: list[str] = Field(default_factory=list)
    max_depth: int | None = None
    remaining_spawns: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    timestamp: float = Field(default_factory=time.time)
    nonce: str = Field(default_factory=new_nonce)
    signature: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON-safe dict form (what is signed and sent)."""
        return self.model_dump(mode="json")

    def expired(self, now: float | None = None) -> bool:
        """True once the deadline has passed."""
        return (
            self.deadline is not None and (now if now is not None else time.time()) > self.deadline
        )


class ResultEnvelope(BaseModel):
    """One task's outcome on its way back to the caller.

    Exactly one of `output` (the agent's output as JSON) and `error` (a
    `MurmurError.to_dict()`) is meaningful; `error` wins when set.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: str = "result"
    v: int = ENVELOPE_VERSION
    task_id: str
    agent_name: str
    attempt: int = 1
    output: Any = None
    error: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    worker: str | None = None
    timestamp: float = Field(default_factory=time.time)
    nonce: str = Field(default_factory=new_nonce)
    signature: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON-safe dict form (what is signed and sent)."""
        return self.model_dump(mode="json")


class EventFrame(BaseModel):
    """A worker-side event on its way to a caller or to the fleet.

    To a caller it goes on its reply channel, with the `task_id` it belongs to; to the fleet on the
    fleet event channel, with no `task_id`.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: str = "event"
    v: int = ENVELOPE_VERSION
    event: RuntimeEvent
    task_id: str | None = None
    timestamp: float = Field(default_factory=time.time)
    nonce: str = Field(default_factory=new_nonce)
    signature: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON-safe dict form (what is signed and sent)."""
        return self.model_dump(mode="json", exclude_none=True)


class CancelFrame(BaseModel):
    """A caller's request, on the fleet event channel, to stop a task it no longer awaits."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: str = "cancel"
    v: int = ENVELOPE_VERSION
    task_id: str
    agent_name: str
    reply_to: str
    timestamp: float = Field(default_factory=time.time)
    nonce: str = Field(default_factory=new_nonce)
    signature: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON-safe dict form (what is signed and sent)."""
        return self.model_dump(mode="json", exclude_none=True)


def encode_frame(body: dict[str, Any]) -> bytes:
    """Serialize one frame."""
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise SpawnError(
            f"a {body.get('kind', 'broker')} frame is not JSON-serializable: {exc}; task inputs "
            "and outputs sent over a broker must be JSON (str, numbers, lists, dicts, or "
            "pydantic models)",
            code="not_serializable",
        ) from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def decode_frame(data: object) -> dict[str, Any] | None:
    r"""Parse one frame; None when it is not a JSON object made of valid Unicode.

    Total: whatever the bytes (invalid UTF-8, UTF-8-encoded surrogates, nesting deep enough
    to exhaust the parser's recursion, a lone surrogate escape such as `"\ud800"` that no
    encoder can write back, not bytes at all), the answer is a dict or None, never an
    exception, so every reader of a broker channel can treat garbage as one more rejected
    frame.
    """
    try:
        if isinstance(data, bytes | bytearray | memoryview):
            text = bytes(data).decode("utf-8")  # strict: json.loads would let surrogates in
        elif isinstance(data, str):
            text = data
            text.encode("utf-8")  # a str holding a lone surrogate is not valid Unicode
        else:
            return None
        body = json.loads(text)
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        return None
    if not isinstance(body, dict):
        return None
    if _SURROGATE_ESCAPE.search(text):  # a surrogate pair is fine, a lone half is not
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError):
            return None
    return body
