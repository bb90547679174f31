"""`MurmurClient`: the `RuntimeClient` interface over the murmur HTTP API (httpx)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from murmur.core.errors import MurmurError
from murmur.events import EventType, RuntimeEvent
from murmur_client._json import check_json
from murmur_client._models import (
    AgentInfo,
    ErrorResponse,
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
from murmur_client._protocol import RuntimeClient, TimeBound, timestamp
from murmur_client._sse import parse_sse

__all__ = ["TOKEN_ENV_VAR", "MurmurClient"]

TOKEN_ENV_VAR = "MURMUR_SERVER_TOKEN"
"""Environment variable read for the bearer token when none is passed."""


class MurmurClient(RuntimeClient):
    """The client interface over a murmur server (`murmur serve`).

    ```python
    async with MurmurClient("http://127.0.0.1:8420", token="s3cret") as client:
        run = await client.start_run("researcher", "What is NATS JetStream?")
        result = await client.wait(run.run_id, output_type=Finding)
        async for event in client.events(trace_id=run.run_id):
            print(event.event_type, event.agent_name)
    ```

    Args:
        base_url: the server's URL, including the prefix the API is mounted under, if any.
        token: the bearer token (default: the `MURMUR_SERVER_TOKEN` environment variable).
        timeout: seconds for each request (long polls add their wait to it).
        stream_read_timeout: seconds of silence after which an event stream reconnects
            (the server sends a keep-alive comment more often than that).
        reconnect_delay: first delay before reconnecting a dropped event stream; it doubles
            up to `max_reconnect_delay`.
        transport: an httpx transport (tests, proxies).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        stream_read_timeout: float = 45.0,
        reconnect_delay: float = 0.25,
        max_reconnect_delay: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        token = token if token is not None else os.environ.get(TOKEN_ENV_VAR) or None
        headers: dict[bytes, bytes] = {b"Accept": b"application/json"}
        if token:  # UTF-8, as the server compares it: a non-ASCII token works
            headers[b"Authorization"] = f"Bearer {token}".encode()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.stream_read_timeout = stream_read_timeout
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/", headers=headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        request_timeout: float | None = None,
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(
                method, path, json=json, params=query, timeout=request_timeout or self.timeout
            )
        except httpx.TimeoutException as exc:
            raise MurmurError(
                f"{method} {self.base_url}/{path} timed out ({type(exc).__name__}); raise "
                "MurmurClient(timeout=...) or check the server",
                code="http_timeout",
            ) from None
        except httpx.TransportError as exc:
            raise MurmurError(
                f"could not reach the murmur server at {self.base_url}: {exc!r}; is "
                "`murmur serve` running there?",
                code="connection_error",
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    # -- catalogue ------------------------------------------------------------------------

    async def agents(self) -> list[AgentInfo]:
        """`GET /agents`."""
        return [AgentInfo.model_validate(a) for a in await self._call("GET", "agents")]

    async def groups(self) -> list[GroupInfo]:
        """`GET /groups`."""
        return [GroupInfo.model_validate(g) for g in await self._call("GET", "groups")]

    # -- starting runs --------------------------------------------------------------------

    async def _start(self, path: str, body: dict[str, Any]) -> RunInfo:
        for field in ("input", "inputs", "metadata"):  # refused here as LocalClient would
            if field in body:
                check_json(body[field], field)
        return RunInfo.model_validate(await self._call("POST", path, json=_drop_none(body)))

    async def start_run(
        self,
        agent: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        token_budget: int | None = None,
    ) -> RunInfo:
        """`POST /runs`."""
        return await self._start(
            "runs",
            {
                "agent": agent,
                "input": _plain(input),
                "run_id": run_id,
                "metadata": metadata or {},
                "token_budget": token_budget,
            },
        )

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
        """`POST /runs/gather`."""
        return await self._start(
            "runs/gather",
            {
                "agent": agent,
                "inputs": [_plain(i) for i in inputs],
                "max_concurrency": max_concurrency,
                "run_id": run_id,
                "metadata": metadata or {},
                "token_budget": token_budget,
            },
        )

    async def start_group(
        self,
        group: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        token_budget: int | None = None,
    ) -> RunInfo:
        """`POST /runs/group`."""
        return await self._start(
            "runs/group",
            {
                "group": group,
                "input": _plain(input),
                "run_id": run_id,
                "metadata": metadata or {},
                "token_budget": token_budget,
            },
        )

    # -- following runs -------------------------------------------------------------------

    async def get_run(self, run_id: str) -> RunInfo:
        """`GET /runs/{run_id}`."""
        return RunInfo.model_validate(await self._call("GET", f"runs/{_seg(run_id)}"))

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
        """`GET /runs`."""
        params = {
            "status": status,
            "agent": agent,
            "kind": kind,
            "parent_trace_id": parent_trace_id,
            "since": _iso(since),
            "until": _iso(until),
            "q": q,
            "limit": limit,
            "offset": offset,
        }
        return RunPage.model_validate(await self._call("GET", "runs", params=params))

    async def _result(self, run_id: str, wait: float) -> RunResult[Any]:
        data = await self._call(
            "GET",
            f"runs/{_seg(run_id)}/result",
            params={"wait": wait or None},
            request_timeout=self.timeout + wait,
        )
        return RunResult[Any].model_validate(data)

    async def cancel(self, run_id: str) -> RunInfo:
        """`POST /runs/{run_id}/cancel`."""
        return RunInfo.model_validate(await self._call("POST", f"runs/{_seg(run_id)}/cancel"))

    async def tree(self, run_id: str) -> RunTreeNode:
        """`GET /runs/{run_id}/tree`."""
        return RunTreeNode.model_validate(await self._call("GET", f"runs/{_seg(run_id)}/tree"))

    # -- the runtime ----------------------------------------------------------------------

    async def stats(self) -> RuntimeStats:
        """`GET /runtime/stats`."""
        return RuntimeStats.model_validate(await self._call("GET", "runtime/stats"))

    async def usage(
        self,
        *,
        group_by: UsageGroupBy | str = UsageGroupBy.AGENT,
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> UsageReport:
        """`GET /usage`."""
        params = {"group_by": str(group_by), "since": _iso(since), "until": _iso(until)}
        return UsageReport.model_validate(await self._call("GET", "usage", params=params))

    async def tools(self, *, since: TimeBound = None, until: TimeBound = None) -> ToolsReport:
        """`GET /tools`."""
        params = {"since": _iso(since), "until": _iso(until)}
        return ToolsReport.model_validate(await self._call("GET", "tools", params=params))

    async def health(self) -> Health:
        """`GET /healthz`."""
        return Health.model_validate(await self._call("GET", "healthz"))

    async def ready(self) -> Readiness:
        """`GET /readyz` (a not-ready server answers 503 with the same body)."""
        try:
            return Readiness.model_validate(await self._call("GET", "readyz"))
        except MurmurError as exc:
            if exc.code == "not_ready":
                return Readiness.model_validate(
                    exc.details.get("readiness") or {"ready": False, "checks": {}}
                )
            raise

    async def events(
        self,
        *,
        agent: str | None = None,
        trace_id: str | None = None,
        types: Sequence[EventType | str] | None = None,
        last_event_id: str | None = None,
        reconnect: bool = True,
        on_state: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[RuntimeEvent]:
        """`GET /events/stream` as an async iterator of `RuntimeEvent`s.

        A dropped connection (server restart, network) is retried with backoff and resumed
        with `Last-Event-ID`, so no stored event is missed or repeated.

        Args:
            agent: only events of this agent.
            trace_id: only events of this run and of the runs it spawned (what it already
                emitted first).
            types: only these event types.
            last_event_id: resume after this event.
            reconnect: False to end the iterator (with a `MurmurError`) on a dropped stream.
            on_state: called with `"connected"` or `"disconnected"` as the stream changes.
        """
        params: list[tuple[str, str | float | None]] = []
        if agent is not None:
            params.append(("agent", agent))
        if trace_id is not None:
            params.append(("trace_id", trace_id))
        params += [("type", str(EventType(t).value)) for t in types or ()]
        timeout = httpx.Timeout(self.timeout, read=self.stream_read_timeout)
        last = last_event_id
        delay = self.reconnect_delay
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = last
            try:
                async with self._http.stream(
                    "GET", "events/stream", params=params, headers=headers, timeout=timeout
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        error = _error(response)
                        if response.status_code < 500 or not reconnect:
                            raise error
                    else:
                        delay = self.reconnect_delay
                        if on_state is not None:
                            on_state("connected")
                        async for sse in parse_sse(response.aiter_lines()):
                            event = RuntimeEvent.from_json(sse.data)
                            last = sse.id or event.id
                            yield event
            except httpx.TransportError as exc:
                if not reconnect:
                    raise MurmurError(
                        f"the event stream from {self.base_url} dropped: {exc!r}",
                        code="connection_error",
                    ) from None
            if not reconnect:
                return
            if on_state is not None:
                on_state("disconnected")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay)


def _iso(bound: TimeBound) -> str | None:
    """A time bound as the ISO 8601 UTC date-time the API takes."""
    seconds = timestamp(bound)
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def _seg(value: str) -> str:
    return quote(value, safe="")


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None or k == "input"}


def _plain(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def _error(response: httpx.Response) -> MurmurError:
    try:
        body = ErrorResponse.model_validate(response.json())
    except Exception:
        text = response.text[:300]
        return MurmurError(
            f"HTTP {response.status_code} from {response.request.url}: {text}",
            code=f"http_{response.status_code}",
            details={"status": response.status_code},
        )
    error = body.error.to_error()
    error.details.setdefault("status", response.status_code)
    return error
