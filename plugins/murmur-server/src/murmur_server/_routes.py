"""`create_router`: the murmur HTTP API as a FastAPI router, each route one `LocalClient` call."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from murmur_client import (
    AgentInfo,
    ErrorResponse,
    GroupInfo,
    Health,
    LocalClient,
    Readiness,
    RunInfo,
    RunKind,
    RunPage,
    RunResult,
    RunStatus,
    RuntimeStats,
    RunTreeNode,
    StartGatherRequest,
    StartGroupRequest,
    StartRunRequest,
    ToolsReport,
    UsageGroupBy,
    UsageReport,
)
from pydantic import BeforeValidator
from sse_starlette import EventSourceResponse, ServerSentEvent

from murmur.events import EventType
from murmur_server._errors import MurmurRoute
from murmur_server._security import AuthGuard

if TYPE_CHECKING:
    from murmur.runtime import AgentRuntime

__all__ = ["create_router"]

RunId = Annotated[str, Path(min_length=1, max_length=128, description="The run id.")]
Name = Annotated[str | None, Query(min_length=1, max_length=200)]
TraceId = Annotated[str | None, Query(min_length=1, max_length=128)]
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso8601(value: Any) -> Any:
    """Only ISO 8601 text: pydantic would also read a bare number as Unix seconds."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError(
            "expected an ISO 8601 date-time such as 2026-01-01T00:00:00Z, not a number"
        )
    return value


Since = Annotated[
    datetime | None,
    BeforeValidator(_iso8601),
    Query(description="Start of the time range (ISO 8601 date-time; naive is UTC)."),
]
Until = Annotated[
    datetime | None,
    BeforeValidator(_iso8601),
    Query(description="End of the time range (ISO 8601 date-time; naive is UTC)."),
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."},
    422: {"model": ErrorResponse, "description": "Invalid request."},
    429: {
        "model": ErrorResponse,
        "description": "Too many wrong tokens from this client lately "
        "(`too_many_auth_failures`; see `Retry-After`).",
    },
    503: {
        "model": ErrorResponse,
        "description": "The run/event store or the broker is failing (`store_*`, `broker_*`; "
        "`Retry-After` when retrying may help).",
    },
    504: {
        "model": ErrorResponse,
        "description": "The store did not answer in time (`store_timeout`).",
    },
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such run, agent or group."}
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "The run is in the wrong state for this."}
}


_bearer = HTTPBearer(auto_error=False, description="The server's token (--token).")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _auth(token: str | None) -> list[Any]:
    if not token:
        return []
    guard = AuthGuard(token)

    async def check(request: Request, credentials: Credentials) -> None:
        header = request.headers.get("authorization")
        error = guard.check(header, request.client.host if request.client else "unknown")
        if error is not None:
            raise error

    return [Depends(check)]


def create_router(
    runtime: AgentRuntime,
    *,
    token: str | None = None,
    groups: Mapping[str, Any] | Sequence[Any] | None = None,
    client: LocalClient | None = None,
    ping_interval: float = 10.0,
    max_background_runs: int = 1000,
) -> APIRouter:
    """The murmur API as an `APIRouter`, to mount on your own FastAPI app.

    ```python
    app = FastAPI()
    app.include_router(create_router(runtime, token=os.environ["MURMUR_SERVER_TOKEN"]),
                       prefix="/murmur")
    ```

    Args:
        runtime: the runtime to expose (a store and an event broadcaster are attached to it
            if it has none; see `LocalClient`).
        token: a bearer token every route but `/healthz` requires (None: no check).
        groups: agent groups startable by name.
        client: the `LocalClient` to serve (default: a new one over `runtime`).
        ping_interval: seconds between keep-alive comments on `/events/stream`.
        max_background_runs: runs that may execute at once; more get 429.
    """
    local = client or LocalClient(runtime, max_background_runs=max_background_runs)
    local.register_groups(groups or ())
    open_router = APIRouter(route_class=MurmurRoute, tags=["health"])
    router = APIRouter(route_class=MurmurRoute, dependencies=_auth(token), responses=_ERRORS)

    @open_router.get("/healthz", response_model=Health, summary="Liveness")
    async def healthz() -> Health:
        """Answers while the process runs; needs no token."""
        return await local.health()

    @router.get(
        "/readyz",
        response_model=Readiness,
        summary="Readiness",
        tags=["health"],
        responses={503: {"model": Readiness, "description": "Not ready."}},
    )
    async def readyz() -> Any:
        """Ready when the runtime is open and its store answers (503 otherwise)."""
        readiness = await local.ready()
        if not readiness.ready:
            return JSONResponse(readiness.model_dump(), status_code=503)
        return readiness

    @router.get(
        "/agents", response_model=list[AgentInfo], tags=["catalogue"], summary="List agents"
    )
    async def list_agents() -> list[AgentInfo]:
        """Registered agents with their input and output JSON schemas."""
        return await local.agents()

    @router.get(
        "/groups", response_model=list[GroupInfo], tags=["catalogue"], summary="List groups"
    )
    async def list_groups() -> list[GroupInfo]:
        """Registered agent groups with their entry / terminal schemas."""
        return await local.groups()

    started = {
        **_NOT_FOUND,
        **_CONFLICT,
        429: {
            "model": ErrorResponse,
            "description": "Too many runs executing (`too_many_runs`), or too many wrong tokens "
            "(`too_many_auth_failures`); see `Retry-After`.",
        },
    }

    @router.post(
        "/runs",
        response_model=RunInfo,
        status_code=202,
        tags=["runs"],
        summary="Start an agent run",
        responses=started,
    )
    async def start_run(body: StartRunRequest) -> RunInfo:
        """Start one agent on one input; returns at once with the run id (poll it)."""
        return await local.start_run(
            body.agent,
            body.input,
            run_id=body.run_id,
            metadata=body.metadata,
            token_budget=body.token_budget,
        )

    @router.post(
        "/runs/gather",
        response_model=RunInfo,
        status_code=202,
        tags=["runs"],
        summary="Start a gather",
        responses=started,
    )
    async def start_gather(body: StartGatherRequest) -> RunInfo:
        """Start one agent once per input, at most `max_concurrency` at once."""
        return await local.start_gather(
            body.agent,
            body.inputs,
            max_concurrency=body.max_concurrency,
            run_id=body.run_id,
            metadata=body.metadata,
            token_budget=body.token_budget,
        )

    @router.post(
        "/runs/group",
        response_model=RunInfo,
        status_code=202,
        tags=["runs"],
        summary="Start a group run",
        responses=started,
    )
    async def start_group(body: StartGroupRequest) -> RunInfo:
        """Start a registered agent group on one input."""
        return await local.start_group(
            body.group,
            body.input,
            run_id=body.run_id,
            metadata=body.metadata,
            token_budget=body.token_budget,
        )

    @router.get("/runs", response_model=RunPage, tags=["runs"], summary="List runs")
    async def list_runs(
        status: RunStatus | None = None,
        agent: Name = None,
        kind: RunKind | None = None,
        parent_trace_id: TraceId = None,
        since: Annotated[
            datetime | None,
            BeforeValidator(_iso8601),
            Query(description="Only runs created at or after this time (ISO 8601; naive is UTC)."),
        ] = None,
        until: Annotated[
            datetime | None,
            BeforeValidator(_iso8601),
            Query(description="Only runs created at or before this time."),
        ] = None,
        q: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=200,
                description="Text in the run id, agent or group name, or error code or message "
                "(case-insensitive).",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    ) -> RunPage:
        """Runs matching every filter, newest first; follow `next_offset` for more.

        `since`, `until` and `q` look at the newest 10,000 runs that match the other filters.
        """
        return await local.runs(
            status=status,
            agent=agent,
            kind=kind,
            parent_trace_id=parent_trace_id,
            since=since,
            until=until,
            q=q,
            limit=limit,
            offset=offset,
        )

    @router.get(
        "/runs/{run_id}",
        response_model=RunInfo,
        tags=["runs"],
        summary="Run status",
        responses=_NOT_FOUND,
    )
    async def get_run(run_id: RunId) -> RunInfo:
        """A run's status and progress."""
        return await local.get_run(run_id)

    @router.get(
        "/runs/{run_id}/result",
        response_model=RunResult[Any],
        tags=["runs"],
        summary="Run result",
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def get_result(
        run_id: RunId,
        wait: Annotated[
            float, Query(ge=0, le=60, description="Seconds to wait for the run to finish.")
        ] = 0,
    ) -> RunResult[Any]:
        """The typed output or typed error of a finished run (409 while it runs)."""
        return await local.result(run_id, wait=wait)

    @router.get(
        "/runs/{run_id}/tree",
        response_model=RunTreeNode,
        tags=["runs"],
        summary="Spawn tree",
        responses=_NOT_FOUND,
    )
    async def get_tree(run_id: RunId) -> RunTreeNode:
        """The run and every run it spawned, nested."""
        return await local.tree(run_id)

    @router.post(
        "/runs/{run_id}/cancel",
        response_model=RunInfo,
        tags=["runs"],
        summary="Cancel a run",
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def cancel_run(run_id: RunId) -> RunInfo:
        """Cancel a running run (and the runs below it)."""
        return await local.cancel(run_id)

    @router.get(
        "/events/stream",
        tags=["events"],
        summary="Live events (SSE)",
        response_class=EventSourceResponse,
        responses={
            404: {
                "model": ErrorResponse,
                "description": "No stored event with the resume id (`event_not_found`).",
            },
            410: {
                "model": ErrorResponse,
                "description": "The resume point is too far behind (`resume_too_old`).",
            },
            200: {
                "description": "A `text/event-stream`: one `RuntimeEvent` JSON per `data:` "
                "line, its id in `id:`; keep-alive comments in between.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
        },
    )
    async def stream_events(
        agent: Name = None,
        trace_id: TraceId = None,
        type: Annotated[list[EventType] | None, Query(description="Event types to keep.")] = None,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=128)] = None,
        after: Annotated[
            str | None,
            Query(max_length=128, description="Resume after this event id (as Last-Event-ID)."),
        ] = None,
    ) -> Any:
        """Live `RuntimeEvent`s, after the stored ones a client asks to replay.

        `Last-Event-ID` (or `after`) replays the stored events after that id first: 404
        `event_not_found` when the store does not hold it, 410 `resume_too_old` when more than
        10,000 events were stored after it. `trace_id` follows a run tree, starting with the events
        it already emitted.
        """
        resume = last_event_id or after
        if resume is not None:
            await local.check_resume(resume)

        async def stream() -> AsyncIterator[ServerSentEvent]:
            async for event in local.events(
                agent=agent, trace_id=trace_id, types=type, last_event_id=resume
            ):
                yield ServerSentEvent(data=event.to_json(), id=event.id)

        return EventSourceResponse(stream(), ping=ping_interval, send_timeout=60)

    @router.get("/runtime/stats", response_model=RuntimeStats, tags=["runtime"], summary="Stats")
    async def runtime_stats() -> RuntimeStats:
        """In-flight, completed and failed runs, workers and heartbeats, budget used."""
        return await local.stats()

    @router.get("/usage", response_model=UsageReport, tags=["runtime"], summary="Usage")
    async def usage(
        group_by: UsageGroupBy = UsageGroupBy.AGENT, since: Since = None, until: Until = None
    ) -> UsageReport:
        """Tokens and USD of completed runs, grouped by agent, trace (run tree), model or none."""
        return await local.usage(group_by=group_by, since=since, until=until)

    @router.get("/tools", response_model=ToolsReport, tags=["runtime"], summary="Tool stats")
    async def tools(since: Since = None, until: Until = None) -> ToolsReport:
        """Per-tool call counts and latency p50 / p95 / p99."""
        return await local.tools(since=since, until=until)

    combined = APIRouter(route_class=MurmurRoute)
    combined.include_router(open_router)
    combined.include_router(router)
    return combined
