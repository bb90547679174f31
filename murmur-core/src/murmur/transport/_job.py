"""`JobBackend`: the Execute stage on a broker, written once against `Transport`.

`execute` publishes a `TaskEnvelope` to the agent's queue and waits for the correlated
`ResultEnvelope` on this backend's reply channel. The task id is the idempotency key: a
second concurrent run of the same task id joins the first instead of publishing again, and a
result for a task that already has one (a redelivered task executed twice) is dropped. Worker
events of the task arrive on the same reply channel, before its result, and are re-emitted on
the caller's runtime, so a run on a fleet shows the same events as a local run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from murmur.core.errors import BudgetExceededError, MurmurError, SpawnError, error_from_dict
from murmur.core.ids import new_id
from murmur.core.json import dump_value, wire_input
from murmur.events._model import RuntimeEvent
from murmur.execution._backend import Backend
from murmur.execution._context import ExecutionContext, RuntimeProtocol
from murmur.execution._outcome import ExecutionOutcome
from murmur.transport._base import redact_text
from murmur.transport._envelope import (
    CancelFrame,
    EventFrame,
    ResultEnvelope,
    TaskEnvelope,
    decode_frame,
    encode_frame,
    traceparent_for,
)
from murmur.transport._relay import BrokerEventBridge
from murmur.transport._signing import EnvelopeSigner, SigningKeys

if TYPE_CHECKING:
    from murmur.transport._base import Subscription, Transport

__all__ = ["JobBackend"]

_OP_TIMEOUT = 10.0
_EPOCH_CHECK_S = 1.0
_PUBLISH_BACKOFF_S = (0.05, 2.0)
_PUBLISH_RETRY_S = 30.0
_DIAGNOSIS_MARGIN_S = 0.25


@dataclass(slots=True)
class _Waiting:
    future: asyncio.Future[ResultEnvelope]
    attempt: int
    agent_name: str
    waiters: int = 1
    events: list[RuntimeEvent] = field(default_factory=list)
    data: bytes = b""
    """The published frame, kept to publish again if the broker loses it."""
    epoch: str | None = None
    """The broker's epoch when the frame was published."""
    deadline: float = 0.0


class JobBackend(Backend):
    """Runs each attempt on a worker fleet through a `Transport`.

    You rarely build one: `AgentRuntime(broker="redis://...")` resolves the URL to a
    `JobBackend` through the broker plugin's entry point.

    Args:
        transport: The broker transport.
        signing_key: HMAC key(s) (`RuntimeOptions(broker_signing_key=...)`): tasks are signed
            with the first, results and relayed events must verify with one of them.
        default_timeout_s: How long a run without `RuntimeOptions(timeout_seconds=...)` waits
            for its result; also the deadline written into its envelope.
        fleet_events: Also re-emit fleet events (worker started / stopped / heartbeat / task
            rejected) on the runtime's emitter.
        client_id: This caller's reply channel (default: a fresh id).
        publish_retry_s: How long a task publish the broker refuses (or that cannot reach
            it) is retried with backoff before the run fails with `broker_error`.
    """

    name = "job"

    def __init__(
        self,
        transport: Transport,
        *,
        signing_key: SigningKeys = None,
        default_timeout_s: float = 900.0,
        fleet_events: bool = False,
        client_id: str | None = None,
        publish_retry_s: float = _PUBLISH_RETRY_S,
    ) -> None:
        self.transport = transport
        self.publish_retry_s = float(publish_retry_s)
        self.signer = EnvelopeSigner(signing_key)
        self.default_timeout_s = float(default_timeout_s)
        self.fleet_events = fleet_events
        self.reply_to = client_id or new_id()
        self.stats: dict[str, int] = {
            "published": 0,
            "results": 0,
            "duplicates": 0,
            "rejected": 0,
            "events": 0,
            "republished": 0,
        }
        self._runtime: RuntimeProtocol | None = None
        self._waiting: dict[str, _Waiting] = {}
        self._subscription: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None
        self._bridge: BrokerEventBridge | None = None
        self._adapters: dict[Any, TypeAdapter[Any]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._epoch: str | None = None
        self._started = False

    @property
    def pending(self) -> int:
        """Runs waiting for a result plus background sends (cancels, republishes) in flight.

        0 once a runtime is idle (nothing per run is left behind).
        """
        return len(self._waiting) + len(self._background)

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, runtime: RuntimeProtocol | None) -> None:
        """Connect the transport and subscribe to this caller's reply channel."""
        if self._started:
            return
        self._runtime = runtime
        try:
            async with asyncio.timeout(_OP_TIMEOUT):
                await self.transport.connect()
                self._subscription = await self.transport.subscribe_results(self.reply_to)
                self._epoch = await self.transport.epoch()
        except MurmurError:
            await self._close_transport()
            raise
        except (TimeoutError, Exception) as exc:
            await self._close_transport()
            raise self.transport.unreachable(exc) from exc
        self._reader = asyncio.create_task(self._read(self._subscription), name="murmur-replies")
        self._watchdog = asyncio.create_task(self._watch_epoch(), name="murmur-broker-epoch")
        if self.fleet_events and runtime is not None:
            self._bridge = BrokerEventBridge(self.transport, signer=self.signer)
            await self._bridge.forward_to(runtime)
        self._started = True

    async def _close_transport(self) -> None:
        self._subscription = None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_OP_TIMEOUT):
                await self.transport.close()

    async def aclose(self) -> None:
        """Stop listening, fail runs still waiting, close the transport."""
        if self._bridge is not None:
            await self._bridge.aclose()
        for task in (self._watchdog, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._watchdog = self._reader = None
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.aclose()
        for task_id, waiting in list(self._waiting.items()):
            if not waiting.future.done():
                waiting.future.set_exception(
                    SpawnError(f"the runtime was closed while task {task_id} was running")
                )
        self._waiting.clear()
        if self._background:
            await asyncio.wait(self._background, timeout=_OP_TIMEOUT)
        await self._close_transport()
        self._started = False

    # -- execute ----------------------------------------------------------------------

    async def execute(
        self, ctx: ExecutionContext, *, remaining_tokens: int | None
    ) -> ExecutionOutcome:
        """Publish the task, await its result, and return the outcome (or raise its error)."""
        if not self._started:
            await self.start(ctx.runtime)
        task_id = ctx.task.id
        deadline = ctx.deadline or time.time() + self.default_timeout_s
        left = deadline - time.time()
        waiting = self._waiting.get(task_id)
        if waiting is not None and not waiting.future.done():
            waiting.waiters += 1  # the same task id, concurrently: idempotent, join it
        else:
            loop = asyncio.get_running_loop()
            waiting = _Waiting(loop.create_future(), ctx.attempt, ctx.agent.name, deadline=deadline)
            self._waiting[task_id] = waiting
            try:
                await self._publish(ctx, waiting, remaining_tokens)
            except BaseException as exc:
                self._waiting.pop(task_id, None)
                if waiting.waiters > 1:  # runs that joined this one fail with it
                    error = exc if isinstance(exc, MurmurError) else SpawnError(repr(exc))
                    waiting.future.set_exception(error)
                raise
        # Give up a moment before the run's own timeout fires, so the caller gets this
        # backend's diagnosis (which broker, which command serves the agent). Measured after
        # publishing: a publish may have waited out a broker restart.
        now_left = deadline - time.time()
        timeout = max(0.0, now_left - min(_DIAGNOSIS_MARGIN_S, 0.05 * now_left))
        try:
            async with asyncio.timeout(timeout):
                result = await asyncio.shield(waiting.future)
        except TimeoutError:
            self._abandon(task_id, waiting)
            raise BudgetExceededError(
                f"no result for task {task_id} of agent {ctx.agent.name!r} within "
                f"{left:.3g}s: is a worker consuming {ctx.agent.name!r} on "
                f"{self.transport.safe_url}? (murmur worker start --agents {ctx.agent.name} "
                f"--broker ...); set RuntimeOptions(timeout_seconds=...) to wait longer",
                code="timeout",
                details={"task_id": task_id, "transient": True},
            ) from None
        except asyncio.CancelledError:
            self._abandon(task_id, waiting)
            raise
        except MurmurError:  # republishing failed, or the runtime was closed
            waiting.waiters -= 1
            if self._waiting.get(task_id) is waiting:
                del self._waiting[task_id]
            raise
        else:
            waiting.waiters -= 1
        return self._outcome(ctx, result)

    async def _publish(
        self, ctx: ExecutionContext, waiting: _Waiting, remaining_tokens: int | None
    ) -> None:
        value = ctx.input if ctx.input is not None else ctx.task.input
        envelope = TaskEnvelope(
            task_id=ctx.task.id,
            agent_name=ctx.agent.name,
            input=wire_input(value),
            trace_id=ctx.trace_id,
            parent_trace_id=ctx.parent_trace_id,
            traceparent=ctx.traceparent or traceparent_for(ctx.trace_id),
            attempt=ctx.attempt,
            deadline=waiting.deadline,
            reply_to=self.reply_to,
            remaining_tokens=remaining_tokens,
            depth=ctx.depth,
            ancestors=list(ctx.ancestors),
            max_depth=self._depth_limit(ctx),
            remaining_spawns=self._remaining_spawns(ctx),
            metadata=dump_value(dict(ctx.task.metadata)),
        )
        waiting.data = encode_frame(self.signer.sign(envelope.body()))
        waiting.epoch = self._epoch
        await self._send(ctx.task.id, waiting)
        self.stats["published"] += 1

    def _depth_limit(self, ctx: ExecutionContext) -> int | None:
        """The caller's spawn-depth limit, carried to the worker."""
        own = self._runtime.options.max_spawn_depth if self._runtime is not None else None
        limits = [m for m in (own, ctx.max_depth) if m is not None]
        return min(limits) if limits else None

    def _remaining_spawns(self, ctx: ExecutionContext) -> int | None:
        """How many more runs the caller's spawn caps allow, carried to the worker."""
        counters = [*ctx.spawn_counters]
        if self._runtime is not None:
            counters.append(self._runtime.spawns)
        left = [c.remaining for c in counters if c.remaining is not None]
        return min(left) if left else None

    async def _send(self, task_id: str, waiting: _Waiting) -> None:
        """Publish a task frame, riding out a broker restart.

        A broker that refuses or cannot be reached is tried again with backoff for up to
        `publish_retry_s` (never past the run's deadline), so a broker restart is ridden out; then
        the run fails with a typed, transient `SpawnError`.
        """
        delay, longest = _PUBLISH_BACKOFF_S
        give_up = min(waiting.deadline, time.time() + self.publish_retry_s)
        while True:
            left = give_up - time.time()
            try:
                async with asyncio.timeout(max(0.001, min(_OP_TIMEOUT, left))):
                    await self.transport.publish_task(waiting.agent_name, waiting.data)
                return
            except MurmurError as exc:
                if not exc.details.get("transient"):
                    raise
                error: BaseException = exc
            except Exception as exc:
                if not self.transport.transient(exc):
                    raise self._publish_error(
                        task_id,
                        waiting,
                        exc,
                        f"was refused: {type(exc).__name__}: {exc}",
                        transient=False,
                    ) from exc
                error = exc
            if time.time() + delay >= give_up:
                what = "timed out" if isinstance(error, TimeoutError) else f"failed: {error!r}"
                raise self._publish_error(
                    task_id,
                    waiting,
                    error,
                    f"{what}, and kept failing for {self.publish_retry_s:g}s (or until the "
                    "run's deadline); check that the broker is running and reachable",
                    transient=True,
                ) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    def _publish_error(
        self, task_id: str, waiting: _Waiting, error: BaseException, what: str, *, transient: bool
    ) -> SpawnError:
        broker = self.transport.safe_url
        return SpawnError(
            f"publishing task {task_id} of agent {waiting.agent_name!r} to {broker} "
            + redact_text(what, self.transport.url),
            code="broker_error",
            details={
                "transient": transient,
                "task_id": task_id,
                "broker": broker,
                "exception": type(error).__name__,
            },
        )

    async def _watch_epoch(self) -> None:
        """Publish again the tasks a broker lost.

        When the broker's epoch changes (a Redis without persistence restarted), every task still
        waiting for its result that was published before the change is sent again. The task id keeps
        it effectively-once: the first result wins, a second one is dropped.
        """
        while True:
            await asyncio.sleep(_EPOCH_CHECK_S)
            if not self._waiting:
                continue
            try:
                async with asyncio.timeout(_OP_TIMEOUT):
                    epoch = await self.transport.epoch()
            except Exception:  # the broker is down right now: look again next time
                continue
            if epoch is None or epoch == self._epoch:
                continue
            self._epoch = epoch
            lost = [
                (task_id, w)
                for task_id, w in list(self._waiting.items())
                if w.epoch != epoch and w.data and not w.future.done()
            ]
            for task_id, waiting in lost:
                waiting.epoch = epoch
                task = asyncio.create_task(self._resend(task_id, waiting))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _resend(self, task_id: str, waiting: _Waiting) -> None:
        try:
            await self._send(task_id, waiting)
        except MurmurError as exc:
            if not waiting.future.done():
                waiting.future.set_exception(exc)
            return
        self.stats["republished"] += 1

    def _abandon(self, task_id: str, waiting: _Waiting) -> None:
        """The caller stopped waiting: forget the task and tell the fleet to cancel it."""
        waiting.waiters -= 1
        if waiting.waiters > 0:
            return
        if self._waiting.get(task_id) is waiting:
            del self._waiting[task_id]
        frame = CancelFrame(task_id=task_id, agent_name=waiting.agent_name, reply_to=self.reply_to)
        task = asyncio.create_task(self._send_cancel(encode_frame(self.signer.sign(frame.body()))))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_cancel(self, data: bytes) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_OP_TIMEOUT):
                await self.transport.publish_event(data)

    def _outcome(self, ctx: ExecutionContext, result: ResultEnvelope) -> ExecutionOutcome:
        meta = result.metadata
        if result.error is not None:
            error = error_from_dict(result.error)
            if result.worker:
                error.details.setdefault("worker", result.worker)
            raise error
        return ExecutionOutcome(
            output=self._revalidate(ctx, result.output),
            input_tokens=int(meta.get("input_tokens") or 0),
            output_tokens=int(meta.get("output_tokens") or 0),
            requests=int(meta.get("requests") or 0),
            tool_calls=int(meta.get("tool_calls") or 0),
            cost_usd=meta.get("cost_usd"),
            model=meta.get("model"),
            messages=None,
        )

    def _revalidate(self, ctx: ExecutionContext, output: Any) -> Any:
        """Non-model output types are validated here; pydantic models by the pipeline."""
        output_type = ctx.agent.output_type
        if isinstance(output_type, type) and issubclass(output_type, BaseModel):
            return output
        adapter = self._adapters.get(output_type)
        if adapter is None:
            adapter = self._adapters[output_type] = TypeAdapter(output_type)
        try:
            return adapter.validate_python(output)
        except ValidationError as exc:
            raise SpawnError(
                f"output of agent {ctx.agent.name!r} from the worker is not a "
                f"{getattr(output_type, '__name__', output_type)}: {exc.errors()[0]['msg']}",
                code="output_invalid",
            ) from None

    # -- the reply channel ------------------------------------------------------------

    async def _read(self, subscription: Subscription) -> None:
        async for data in subscription:
            try:
                await self._on_frame(data)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad frame must not stop the reader
                self.stats["rejected"] += 1

    async def _on_frame(self, data: bytes) -> None:
        body = decode_frame(data)
        if body is None or self.signer.verify(body) is not None:
            self.stats["rejected"] += 1
            return
        kind = body.get("kind")
        if kind == "event":
            await self._on_event(EventFrame.model_validate(body))
        elif kind == "result":
            self._on_result(ResultEnvelope.model_validate(body))
        else:
            self.stats["rejected"] += 1

    async def _on_event(self, frame: EventFrame) -> None:
        """A worker-side event of a task this caller awaits.

        The relay already left out the task's own lifecycle events: the caller's pipeline emits
        those.
        """
        if frame.task_id not in self._waiting or self._runtime is None:
            return
        self.stats["events"] += 1
        await self._runtime.emit(frame.event)

    def _on_result(self, result: ResultEnvelope) -> None:
        waiting = self._waiting.get(result.task_id)
        if waiting is None or waiting.future.done():
            self.stats["duplicates"] += 1
            return
        if result.error is not None and result.attempt < waiting.attempt:
            return  # a late failure of an earlier attempt; this attempt is still running
        self.stats["results"] += 1
        del self._waiting[result.task_id]
        waiting.future.set_result(result)
