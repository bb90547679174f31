"""`RuntimeClient`: the interface `MurmurClient` (HTTP) and `LocalClient` (in-process) share.

Code written against `RuntimeClient` runs against a remote server or a runtime in the same
process; only the constructor changes.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Any, Self, TypeVar, overload

from murmur.core.errors import MurmurError
from murmur.events import EventType, RuntimeEvent
from murmur_client._models import (
    AgentInfo,
    GroupInfo,
    Health,
    Readiness,
    RunInfo,
    RunKind,
    RunPage,
    RunResult,
    RunStatus,
    RuntimeStats,
    RunTreeNode,
    ToolsReport,
    UsageGroupBy,
    UsageReport,
)

__all__ = ["RESULT_WAIT_MAX", "RuntimeClient", "TimeBound"]

OutputT = TypeVar("OutputT")

TimeBound = float | datetime | None
"""A time-range bound: a Unix timestamp in seconds, a `datetime` (naive is UTC), or None."""

RESULT_WAIT_MAX = 60.0
"""The longest a single `result(..., wait=...)` call waits on the server."""


class RuntimeClient(ABC):
    """Start runs, follow them, read results, stats and the live event stream.

    ```python
    async with MurmurClient("http://127.0.0.1:8420") as client:   # or LocalClient(runtime)
        run = await client.start_run("researcher", "What is NATS JetStream?")
        result = await client.wait(run.run_id, timeout=60, output_type=Finding)
        print(result.output)
    ```

    Failures come back as `MurmurError` subclasses with a `code`, the same in both clients:
    `RegistryError` (`not_found`) for an unknown agent or group, `MurmurError` with
    `run_not_found`, `run_not_finished`, `run_finished` or `wait_timeout`, `SpawnError`
    (`input_invalid`) for an input that does not match the agent's `input_type`.
    """

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections (the runtime behind a `LocalClient` stays open)."""

    # -- catalogue ------------------------------------------------------------------------

    @abstractmethod
    async def agents(self) -> list[AgentInfo]:
        """Registered agents with their input and output JSON schemas."""

    @abstractmethod
    async def groups(self) -> list[GroupInfo]:
        """Registered agent groups."""

    # -- starting runs --------------------------------------------------------------------

    @abstractmethod
    async def start_run(
        self,
        agent: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        token_budget: int | None = None,
    ) -> RunInfo:
        """Start `agent` on `input` in the background; returns at once with the run id."""

    @abstractmethod
    async def start_gather(
        self,
        agent: str,
        inputs: Sequence[Any],
        *,
        max_concurrency: int | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        token_budget: int | None = None,
    ) -> RunInfo:
        """Start `agent` once per input (at most `max_concurrency` at once) in the background."""

    @abstractmethod
    async def start_group(
        self,
        group: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        token_budget: int | None = None,
    ) -> RunInfo:
        """Start a registered group on `input` in the background."""

    # -- following runs -------------------------------------------------------------------

    @abstractmethod
    async def get_run(self, run_id: str) -> RunInfo:
        """A run's status and progress."""

    @abstractmethod
    async def runs(
        self,
        *,
        status: RunStatus | None = None,
        agent: str | None = None,
        kind: RunKind | None = None,
        parent_trace_id: str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        q: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> RunPage:
        """Runs matching every given filter, newest first, one page at a time.

        Args:
            status: only runs in this status.
            agent: only runs of this agent (or group).
            kind: only agent, gather or group runs.
            parent_trace_id: only runs spawned by this trace.
            since: only runs created at or after this time (Unix seconds or a datetime).
            until: only runs created at or before this time.
            q: only runs whose id, agent or group name, or error code or message contains
                this text (case-insensitive).
            limit: runs per page (1..1000).
            offset: runs to skip (follow `next_offset`).
        """

    @overload
    async def result(
        self, run_id: str, output_type: type[OutputT], *, wait: float = 0
    ) -> RunResult[OutputT]: ...

    @overload
    async def result(
        self, run_id: str, output_type: None = None, *, wait: float = 0
    ) -> RunResult[Any]: ...

    async def result(
        self, run_id: str, output_type: type[Any] | None = None, *, wait: float = 0
    ) -> RunResult[Any]:
        """A finished run's output (validated as `output_type` when given) or error.

        Args:
            run_id: the run.
            output_type: a pydantic model (or any type) to validate each output as.
            wait: seconds to wait for the run to finish first (at most `RESULT_WAIT_MAX`).

        Raises:
            MurmurError: code `run_not_finished` when the run is still going after `wait`.
        """
        raw = await self._result(run_id, min(max(wait, 0.0), RESULT_WAIT_MAX))
        return raw.typed(output_type)

    @abstractmethod
    async def _result(self, run_id: str, wait: float) -> RunResult[Any]:
        """The untyped result (implementations)."""

    @overload
    async def wait(
        self,
        run_id: str,
        *,
        timeout: float = ...,  # noqa: ASYNC109
        output_type: type[OutputT],
    ) -> RunResult[OutputT]: ...

    @overload
    async def wait(
        self,
        run_id: str,
        *,
        timeout: float = ...,  # noqa: ASYNC109
        output_type: None = None,
    ) -> RunResult[Any]: ...

    async def wait(
        self,
        run_id: str,
        *,
        timeout: float = 300.0,  # noqa: ASYNC109 - a deadline across many polls
        output_type: type[Any] | None = None,
    ) -> RunResult[Any]:
        """Wait until the run finishes and return its result.

        Raises:
            MurmurError: code `wait_timeout` when it has not finished after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                return await self.result(
                    run_id, output_type, wait=max(0.0, min(remaining, RESULT_WAIT_MAX))
                )
            except MurmurError as exc:
                if exc.code != "run_not_finished":
                    raise
            if deadline - time.monotonic() <= 0:
                raise MurmurError(
                    f"run {run_id!r} did not finish within {timeout:g} s; call wait() again "
                    "with a longer timeout, or cancel() it",
                    code="wait_timeout",
                    details={"run_id": run_id, "timeout": timeout},
                )
            await asyncio.sleep(0.05)

    @abstractmethod
    async def cancel(self, run_id: str) -> RunInfo:
        """Cancel a run this runtime is executing; returns it with status `cancelled`."""

    @abstractmethod
    async def tree(self, run_id: str) -> RunTreeNode:
        """The spawn tree under a run."""

    # -- the runtime ----------------------------------------------------------------------

    @abstractmethod
    async def stats(self) -> RuntimeStats:
        """In-flight and finished runs, workers and their heartbeats, budget used."""

    @abstractmethod
    async def usage(
        self,
        *,
        group_by: UsageGroupBy | str = UsageGroupBy.AGENT,
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> UsageReport:
        """Tokens and USD of completed runs, grouped by agent, trace (run tree), model or none."""

    @abstractmethod
    async def tools(self, *, since: TimeBound = None, until: TimeBound = None) -> ToolsReport:
        """Per-tool call counts and latency p50/p95/p99."""

    @abstractmethod
    async def health(self) -> Health:
        """Liveness."""

    @abstractmethod
    async def ready(self) -> Readiness:
        """Readiness: the runtime and its store answer."""

    @abstractmethod
    def events(
        self,
        *,
        agent: str | None = None,
        trace_id: str | None = None,
        types: Sequence[EventType | str] | None = None,
        last_event_id: str | None = None,
    ) -> AsyncGenerator[RuntimeEvent]:
        """Live events as an async iterator, optionally filtered.

        Args:
            agent: only events of this agent.
            trace_id: only events of this run and of the runs it spawned; the events it
                already emitted come first (from the store), then live ones.
            types: only these event types.
            last_event_id: first replay the stored events after this one (resume).
        """


def timestamp(bound: TimeBound) -> float | None:
    """A time-range bound as a Unix timestamp."""
    if bound is None or isinstance(bound, float | int):
        return None if bound is None else float(bound)
    if bound.tzinfo is None:
        from datetime import UTC

        bound = bound.replace(tzinfo=UTC)
    return bound.timestamp()
