"""`Worker`: consumes an agent's queue on a broker and runs its own agent of that name.

Per delivery: verify (signature, replay window, nonce), drop if expired, execute through the
worker's local `AgentRuntime` (its model, tools and keys stay here) under the envelope's
deadline, publish the result to the caller, then ack. Whatever a delivery's bytes, it ends
acked: run, or rejected and counted (never left un-acked to be redelivered forever); only a
broker error while claiming the nonce is retried. A worker that dies before the ack leaves
the delivery pending; after `reclaim_min_idle_ms` another worker takes it over. Live
workers `touch` every delivery they hold, until it is settled and also while stopping, so
long tasks are not taken from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from murmur.agent import Agent
from murmur.core.collector import spaced_collections
from murmur.core.errors import BudgetExceededError, MurmurError, RegistryError, SpawnError
from murmur.core.json import dump_value
from murmur.core.logs import get_logger
from murmur.events._emitters import EventEmitter, LogEventEmitter, flush_emitter
from murmur.events._model import EventType, RuntimeEvent
from murmur.plugins.host import PluginHost
from murmur.runtime import AgentRuntime
from murmur.transport._envelope import TaskEnvelope, decode_frame
from murmur.transport._factory import resolve_transport
from murmur.transport._relay import BrokerEventBridge, TaskRoute, current_route
from murmur.transport._signing import EnvelopeSigner, SigningKeys
from murmur.worker._slots import Slots
from murmur.worker._support import (
    Held,
    InFlight,
    WorkerStats,
    agent_map,
    check,
    claim_nonce,
    default_consumer_id,
    delivered_context,
    result_frame,
)

if TYPE_CHECKING:
    from murmur.transport._base import Delivery, Subscription, TaskConsumer, Transport

__all__ = ["Worker", "WorkerStats", "default_consumer_id"]

log = get_logger("murmur.worker")

_OP_TIMEOUT = 10.0
_POLL_S = 1.0
_SETTLED_KEPT = 4096  # messages remembered as acknowledged, per worker
_SHARED_POLL_S = 0.05


Hook = Callable[..., Any]


def _message(delivery: Delivery) -> tuple[str, str, int]:
    """Which message a delivery is: its queue, message id and bytes.

    All three are the same on every redelivery. The bytes tell a redelivery from a new
    message given a reused id (a NATS stream kept in memory numbers its messages from 1
    again after a restart).
    """
    return delivery.agent_name, delivery.message_id, hash(delivery.data)


def _transient(exc: BaseException) -> bool:
    """A broker failure worth one log line, not a traceback."""
    if isinstance(exc, MurmurError):
        return bool(exc.details.get("transient"))
    return isinstance(exc, OSError | TimeoutError)


class Worker:
    """A member of a worker fleet: runs its registered agents' tasks from a broker.

    ```python
    worker = Worker(broker="redis://localhost:6379", agents={"researcher": researcher},
                    concurrency=20)

    @worker.on_task_complete
    async def done(task_id: str, agent_name: str, duration_ms: int) -> None:
        print(task_id, agent_name, duration_ms)

    await worker.start()   # until worker.stop()
    ```

    Args:
        broker: A broker URL (resolved through the plugin host, like `AgentRuntime(broker=)`),
            a `Transport`, or a `JobBackend`.
        agents: The agents this worker runs, by name (or an iterable of agents).
        concurrency: Most tasks executing at once.
        signing_key: HMAC key(s); with one, unsigned, forged and replayed envelopes are
            rejected (counted in `stats`, a `TASK_REJECTED` event) and never executed. With
            or without one, undecodable and malformed deliveries are rejected the same way.
        heartbeat_interval: Seconds between `WORKER_HEARTBEAT` events.
        reclaim_min_idle_ms: How long a delivery may sit un-acked and untouched before
            another worker may take it over (this worker touches its own well before that).
        consumer_id: Stable id in the consumer group (default `<hostname>-<pid>`).
        runtime: The local `AgentRuntime` to execute with (its tools, options, stores);
            default a new one with `event_emitter`. The worker does not close it.
        event_emitter: Where this worker's events go locally (default `LogEventEmitter`).
        max_envelope_age_s: With a signing key, envelopes older than this are refused as
            replays, and nonces are remembered this long (without a key there is no replay
            check: anyone who can publish can forge a fresh envelope anyway).
        max_deliveries: A task delivered more often than this fails instead of running again
            (a task that keeps killing its workers).
        stop_timeout: How long `stop()` lets in-flight tasks finish (still touching them)
            before cancelling them (cancelled tasks are handed back to the broker for
            another worker).
        plugins: The `PluginHost` resolving `broker` and receiving `murmur_worker_started` /
            `murmur_worker_stopped` (default: a new one when `broker` is a URL).
    """

    def __init__(
        self,
        broker: str | Transport | Any,
        agents: Mapping[str, Agent[Any]] | Iterable[Agent[Any]],
        *,
        concurrency: int = 20,
        signing_key: SigningKeys = None,
        heartbeat_interval: float = 10.0,
        reclaim_min_idle_ms: int = 30_000,
        consumer_id: str | None = None,
        runtime: AgentRuntime | None = None,
        event_emitter: EventEmitter | None = None,
        max_envelope_age_s: float = 3600.0,
        max_deliveries: int = 10,
        stop_timeout: float = 30.0,
        plugins: Any = None,
    ) -> None:
        if concurrency < 1:
            raise SpawnError("Worker(concurrency=...) must be >= 1", code="invalid_options")
        if reclaim_min_idle_ms < 1:
            raise SpawnError("Worker(reclaim_min_idle_ms=...) must be >= 1", code="invalid_options")
        self.agents = agent_map(agents)
        if not self.agents:
            raise RegistryError("a Worker needs at least one agent (agents={'name': agent})")
        if plugins is None and isinstance(broker, str):
            plugins = PluginHost()
        self.plugins = plugins
        self.transport = resolve_transport(broker, plugins=plugins)
        self.concurrency = concurrency
        self.signer = EnvelopeSigner(signing_key)
        self.heartbeat_interval = heartbeat_interval
        self.reclaim_min_idle_ms = int(reclaim_min_idle_ms)
        self.consumer_id = consumer_id or default_consumer_id()
        self.max_envelope_age_s = max_envelope_age_s
        self.max_deliveries = max_deliveries
        self.stop_timeout = stop_timeout
        self.stats = WorkerStats()
        self.bridge = BrokerEventBridge(self.transport, signer=self.signer)
        if runtime is None:
            runtime = AgentRuntime(event_emitter=event_emitter or LogEventEmitter())
        runtime.add_emitter(self.bridge)
        self.runtime = runtime
        self._hooks: dict[str, list[Hook]] = {"start": [], "complete": [], "error": []}
        self._slots = Slots(concurrency)
        self._inflight: dict[str, InFlight] = {}
        # The deliveries being handled, by queue and message id: touched until settled, and
        # a message the broker hands back while it is handled here is not run again.
        self._held: dict[tuple[str, str, int], Held] = {}
        # The messages this worker acknowledged last (oldest first): a delivery of one that
        # the broker handed out before the acknowledgement reached it is stale, not run.
        self._settled: dict[tuple[str, str, int], None] = {}
        self._consumers: dict[str, TaskConsumer] = {}
        self._receivers: list[asyncio.Task[Any]] = []
        self._services: list[asyncio.Task[Any]] = []
        self._handlers: set[asyncio.Task[Any]] = set()
        self._events: Subscription | None = None
        self._stopping = asyncio.Event()
        self._running = False
        self._started = False
        self._ready = asyncio.Event()
        self._stopped = asyncio.Event()

    # -- decorators -------------------------------------------------------------------

    def on_task_start(self, fn: Hook) -> Hook:
        """Register `fn(task_id, agent_name)` (sync or async), called before a task runs."""
        self._hooks["start"].append(fn)
        return fn

    def on_task_complete(self, fn: Hook) -> Hook:
        """Register `fn(task_id, agent_name, duration_ms)`, called after a task succeeded."""
        self._hooks["complete"].append(fn)
        return fn

    def on_task_error(self, fn: Hook) -> Hook:
        """Register `fn(task_id, agent_name, error)`, called after a task failed.

        `error` is the `MurmurError` sent back to the caller.
        """
        self._hooks["error"].append(fn)
        return fn

    @property
    def tools(self) -> Any:
        """The local runtime's tool registry (tools run here, on the worker)."""
        return self.runtime.tools

    @property
    def in_flight(self) -> int:
        """Tasks executing right now."""
        return len(self._inflight)

    # -- lifecycle --------------------------------------------------------------------

    async def wait_ready(self, within_s: float = 30.0) -> None:
        """Wait until `start()` is consuming (for tests and supervisors)."""
        async with asyncio.timeout(within_s):
            await self._ready.wait()

    async def start(self) -> None:
        """Consume until `stop()` is called (or this coroutine is cancelled)."""
        if self._running:
            raise SpawnError("this Worker is already running", code="invalid_state")
        self._running = True
        self._stopping.clear()
        self._stopped.clear()
        self._slots = Slots(self.concurrency)
        self._receivers, self._services = [], []
        # Up to `concurrency` runs in flight: a fan-out, so the collector's young scans are
        # spaced out while it serves (murmur.core.collector).
        spaced = spaced_collections() if self.concurrency > 1 else contextlib.nullcontext()
        with spaced:
            try:
                await self._open()
                self._ready.set()
                await self._stopping.wait()
            finally:
                await self._shutdown()

    async def stop(self) -> None:
        """Stop taking tasks, let in-flight ones finish, ack them, close the broker connection.

        In-flight tasks may finish for up to `stop_timeout`. Returns once stopped.
        """
        self._stopping.set()
        self._slots.wake_all()
        if self._running:
            await self._stopped.wait()

    async def _open(self) -> None:
        try:
            async with asyncio.timeout(_OP_TIMEOUT):
                await self.transport.connect()
                await self.runtime.start()
                for name in self.agents:
                    self._consumers[name] = await self.transport.consume_tasks(
                        name,
                        consumer_id=self.consumer_id,
                        prefetch=self.concurrency,
                        reclaim_min_idle_ms=self.reclaim_min_idle_ms,
                    )
                self._events = await self.transport.subscribe_events()
        except (TimeoutError, OSError) as exc:  # a transport that did not say it itself
            raise self.transport.unreachable(exc) from exc
        self._receivers = [
            asyncio.create_task(self._receive_loop(name, c), name=f"murmur-receive-{name}")
            for name, c in self._consumers.items()
        ]
        self._services = [
            asyncio.create_task(self._touch_loop(), name="murmur-touch"),
            asyncio.create_task(self._heartbeat_loop(), name="murmur-heartbeat"),
            asyncio.create_task(self._control_loop(self._events), name="murmur-control"),
        ]
        self._started = True
        await self._emit(EventType.WORKER_STARTED, self._info())
        self._notify_plugins("worker_started")

    async def _shutdown(self) -> None:
        self._stopping.set()
        self._slots.wake_all()
        receivers, others = self._receivers, self._services
        if receivers:  # a receive in progress may hold messages: let it return
            _, late = await asyncio.wait(receivers, timeout=_POLL_S * 2 + 1)
            for task in late:
                task.cancel()
            await asyncio.wait(receivers, timeout=_OP_TIMEOUT)
        # The touch, control and heartbeat loops run on while held tasks finish: a task
        # untouched for the reclaim window would be handed to another worker mid-run, and a
        # caller's cancel request must still reach it.
        if self._handlers:
            _, late = await asyncio.wait(self._handlers, timeout=self.stop_timeout)
            for task in late:
                task.cancel()  # handed back to the broker by _handle
            if late:
                await asyncio.gather(*late, return_exceptions=True)
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=_OP_TIMEOUT)
        for consumer in self._consumers.values():
            with contextlib.suppress(Exception):
                await consumer.close()
        if self._started:  # a worker that never got to serve does not announce a stop
            await self._emit(EventType.WORKER_STOPPED, self._info())
            self._notify_plugins("worker_stopped")
        self._started = False
        flush_emitter(self.runtime.event_emitter)  # events it holds, e.g. murmur-otel's batch
        if self._events is not None:
            with contextlib.suppress(Exception):
                await self._events.aclose()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_OP_TIMEOUT):
                await self.transport.close()
        self._consumers.clear()
        await self.runtime.toolsets.aclose()  # this worker's MCP servers stop with it
        self._running = False
        self._ready.clear()
        self._stopped.set()

    # -- loops ------------------------------------------------------------------------

    async def _receive_loop(self, agent_name: str, consumer: TaskConsumer) -> None:
        """Fill free slots: first with abandoned deliveries (every reclaim interval), then new ones.

        One loop per queue, so reclaim never waits behind a blocked receive.
        """
        interval = max(0.05, min(self.reclaim_min_idle_ms / 2000, 5.0))
        # With several queues, a blocked receive holds slots the others wait for: keep it short.
        poll = min(_POLL_S if len(self._consumers) == 1 else _SHARED_POLL_S, interval)
        next_reclaim = time.monotonic() + interval
        while not self._stopping.is_set():
            wanted = await self._slots.take(self.concurrency)
            if not wanted:
                continue
            reclaiming = time.monotonic() >= next_reclaim
            try:
                if reclaiming:
                    next_reclaim = time.monotonic() + interval
                    deliveries = await asyncio.wait_for(consumer.reclaim(wanted), _OP_TIMEOUT)
                else:
                    deliveries = await consumer.receive(wanted, poll)
            except asyncio.CancelledError:
                self._slots.give(wanted)
                raise
            except Exception as exc:
                self._slots.give(wanted)
                log.warning("receive failed", agent=agent_name, error=repr(exc))
                await asyncio.sleep(poll)
                continue
            self._slots.give(wanted - len(deliveries))
            for delivery in deliveries:
                # Spawned before anything awaits: a handler settling this message meanwhile
                # must find it held, or find it settled.
                self._spawn(consumer, delivery)
                if reclaiming:
                    self.stats.reclaimed += 1
                    await self._emit(
                        EventType.TASK_RECLAIMED,
                        {
                            "message_id": delivery.message_id,
                            "consumer_id": self.consumer_id,
                            "delivery_count": delivery.delivery_count,
                        },
                        agent_name=agent_name,
                    )

    async def _touch_loop(self) -> None:
        interval = max(0.02, self.reclaim_min_idle_ms / 3000)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for held in list(self._held.values()):
                if now - held.delivery.received_at < interval:
                    continue
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(held.consumer.touch(held.delivery), _OP_TIMEOUT)

    async def _heartbeat_loop(self) -> None:
        while True:
            info = self._info()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.transport.heartbeat(
                        self.consumer_id, info, ttl_s=self.heartbeat_interval * 3
                    ),
                    _OP_TIMEOUT,
                )
            await self._emit(EventType.WORKER_HEARTBEAT, info)
            await asyncio.sleep(self.heartbeat_interval)

    async def _control_loop(self, events: Subscription) -> None:
        """Cancel requests from callers; a subscription that fails is opened again."""
        while True:
            try:
                await self._follow_cancels(events)
                return  # closed by stop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("fleet event channel failed; subscribing again", error=repr(exc))
                with contextlib.suppress(Exception):
                    await events.aclose()
                events = self._events = await self._resubscribe()

    async def _resubscribe(self) -> Subscription:
        while True:  # until the broker answers (or the worker stops: this task is cancelled)
            await asyncio.sleep(_POLL_S)
            with contextlib.suppress(Exception):
                return await asyncio.wait_for(self.transport.subscribe_events(), _OP_TIMEOUT)

    async def _follow_cancels(self, events: Subscription) -> None:
        async for data in events:
            body = decode_frame(data)
            if body is None or body.get("kind") != "cancel":
                continue
            if self.signer.verify(body) is not None:
                continue
            item = self._inflight.get(str(body.get("task_id")))
            if item is not None and item.reply_to == body.get("reply_to"):
                item.cancel_requested = True
                item.task.cancel()

    # -- one delivery -----------------------------------------------------------------

    def _spawn(self, consumer: TaskConsumer, delivery: Delivery) -> None:
        self.stats.received += 1
        if delivery.delivery_count > 1:
            self.stats.redelivered += 1
        key = _message(delivery)
        if key in self._settled:
            # Handed out again (a reclaim) before this worker's acknowledgement reached the
            # broker: the task is done. Acknowledged again, not run.
            self.stats.duplicates += 1
            self._slots.give(1)
            self._in_task(self._ack_quietly(consumer, delivery))
            return
        held = self._held.get(key)
        if held is not None:
            # The broker handed back a message this worker is handling: its touch came after
            # the reclaim window (an event loop blocked that long, by a tool or model that
            # blocks). It runs once; the newer delivery is the one touched and settled.
            self.stats.duplicates += 1
            held.consumer, held.delivery = consumer, delivery
            self._slots.give(1)
            log.warning(
                "a task this worker is running was delivered to it again; it runs once",
                message_id=delivery.message_id,
                agent=delivery.agent_name,
                delivery_count=delivery.delivery_count,
            )
            return
        held = self._held[key] = Held(consumer, delivery)  # touched from now on, until settled
        self._in_task(self._guarded(held))

    def _in_task(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in a task of its own, one of the handlers `stop` waits for."""
        task = asyncio.create_task(work)
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _guarded(self, held: Held) -> None:
        consumer, delivery = held.consumer, held.delivery
        try:
            await self._handle(consumer, delivery)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            if _transient(exc):  # e.g. a broker restarting: no ack, the task comes back
                log.warning(
                    "task result not delivered; the broker delivers the task again",
                    message_id=delivery.message_id,
                    error=str(exc) or repr(exc),
                )
            else:
                log.exception("task handling failed", message_id=delivery.message_id)
        finally:
            self._release(held)
            self._slots.give(1)

    async def _handle(self, consumer: TaskConsumer, delivery: Delivery) -> None:
        verdict = check(
            delivery,
            signer=self.signer,
            agents=self.agents,
            max_envelope_age_s=self.max_envelope_age_s,
        )
        envelope = verdict.envelope
        if envelope is None:
            await self._reject(consumer, delivery, verdict.reason or "malformed", verdict.task_id)
            return
        if self.signer.enabled:  # unsigned envelopes can be forged at will: no replay check
            fresh = await claim_nonce(
                self.transport,
                envelope,
                delivery.message_id,
                ttl_s=self.max_envelope_age_s,
                stopping=self._stopping,
            )
            if fresh is None:  # the broker never recorded it and the worker is stopping
                await self._nack(consumer, delivery)
                return
            if not fresh:
                await self._reject(consumer, delivery, "replayed", envelope.task_id)
                return
        if envelope.expired():
            self.stats.expired += 1
            await self._settle(consumer, delivery)
            return
        if delivery.delivery_count > self.max_deliveries:
            error = SpawnError(
                f"task {envelope.task_id} was delivered {delivery.delivery_count} times "
                f"(max_deliveries={self.max_deliveries}); it keeps failing its workers",
                code="poison_task",
            )
            await self._reply(envelope, None, error, {})
            await self._settle(consumer, delivery)
            return
        current = asyncio.current_task()
        assert current is not None
        item = InFlight(delivery, consumer, current, envelope.reply_to)
        self._inflight[envelope.task_id] = item
        # A task leaves `in_flight` before it is counted: whoever sees the count sees it gone.
        try:
            error, duration_ms = await self._execute(envelope)
        except asyncio.CancelledError:
            self._inflight.pop(envelope.task_id, None)
            if item.cancel_requested:  # the caller gave up: settle, no reply
                self.stats.cancelled += 1
                await self._settle(consumer, delivery)
            else:  # the worker is stopping: hand the task to another worker
                await self._nack(consumer, delivery)
            raise
        finally:
            self._inflight.pop(envelope.task_id, None)
        if error is None:
            self.stats.completed += 1
            await self._call_hooks("complete", envelope.task_id, envelope.agent_name, duration_ms)
        else:
            self.stats.failed += 1
            await self._call_hooks("error", envelope.task_id, envelope.agent_name, error)
        await self._settle(consumer, delivery)

    async def _execute(self, envelope: TaskEnvelope) -> tuple[MurmurError | None, int]:
        """Run the task and reply to the caller: the run's error (None), and its milliseconds."""
        await self._call_hooks("start", envelope.task_id, envelope.agent_name)
        started = time.perf_counter()
        token = current_route.set(TaskRoute(envelope.reply_to, envelope.task_id))
        try:
            output, error, metadata = await self._run(envelope)
            await self._reply(envelope, output, error, metadata)
        finally:
            current_route.reset(token)
        return error, round((time.perf_counter() - started) * 1000)

    async def _run(self, envelope: TaskEnvelope) -> tuple[Any, MurmurError | None, dict[str, Any]]:
        """Run the task on the local runtime: its output, or the typed error the caller gets.

        Never raises but to cancel: a task that crashed its worker is a failed result, not a
        delivery left un-acked to crash the next worker.
        """
        try:
            timeout = None if envelope.deadline is None else envelope.deadline - time.time()
            ctx = delivered_context(self.runtime, self.agents[envelope.agent_name], envelope)
            async with asyncio.timeout(timeout):
                result = await self.runtime.execute_delivered(ctx)
            metadata = result.metadata.to_dict()
            if result.error is not None:
                return None, result.error, metadata
            return dump_value(result.value), None, metadata
        except TimeoutError:
            error: MurmurError = BudgetExceededError(
                f"task {envelope.task_id} of agent {envelope.agent_name!r} passed its "
                "deadline on the worker and was cancelled",
                code="timeout",
                details={"transient": True},
            )
        except MurmurError as exc:
            error = exc
        except Exception as exc:
            error = SpawnError(
                f"worker {self.consumer_id} could not run task {envelope.task_id} of agent "
                f"{envelope.agent_name!r}: {type(exc).__name__}: {exc}",
                code="worker_error",
            )
        return None, error, {}

    async def _reply(
        self,
        envelope: TaskEnvelope,
        output: Any,
        error: MurmurError | None,
        metadata: dict[str, Any],
    ) -> None:
        data = result_frame(
            envelope, output, error, metadata, signer=self.signer, worker=self.consumer_id
        )
        async with asyncio.timeout(_OP_TIMEOUT):
            await self.transport.publish_result(envelope.reply_to, data)

    def _release(self, held: Held) -> None:
        """This worker no longer handles `held`'s message: a later delivery of it runs."""
        key = _message(held.delivery)
        if self._held.get(key) is held:
            del self._held[key]

    async def _settle(self, consumer: TaskConsumer, delivery: Delivery) -> None:
        key = _message(delivery)  # the same for every delivery of the message
        held = self._held.get(key)
        if held is not None:  # the newest delivery of the message (it may have come back)
            consumer, delivery = held.consumer, held.delivery
        async with asyncio.timeout(_OP_TIMEOUT):
            await consumer.ack(delivery)
        settled = self._settled
        settled[key] = None
        if len(settled) > _SETTLED_KEPT:
            del settled[next(iter(settled))]

    async def _ack_quietly(self, consumer: TaskConsumer, delivery: Delivery) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.ack(delivery), _OP_TIMEOUT)

    async def _nack(self, consumer: TaskConsumer, delivery: Delivery) -> None:
        """Hand the delivery back to the broker for another worker (a failure is ignored).

        Handed back, it is no longer this worker's: delivered to it again, it runs here.
        """
        held = self._held.get(_message(delivery))
        if held is not None:
            consumer, delivery = held.consumer, held.delivery
            self._release(held)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.nack(delivery), _OP_TIMEOUT)

    async def _reject(
        self, consumer: TaskConsumer, delivery: Delivery, reason: str, task_id: str | None
    ) -> None:
        """Count, settle and report a delivery that must never run.

        It is not retried: garbage stays garbage however often it is delivered.
        """
        self.stats.rejected += 1
        self.stats.rejected_reasons[reason] = self.stats.rejected_reasons.get(reason, 0) + 1
        await self._settle(consumer, delivery)
        await self._emit(
            EventType.TASK_REJECTED,
            {
                "reason": reason,
                "message_id": delivery.message_id,
                "consumer_id": self.consumer_id,
                "queue": delivery.agent_name,
            },
            agent_name=delivery.agent_name,
            task_id=task_id,
        )

    # -- helpers ----------------------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        return {
            "consumer_id": self.consumer_id,
            "agents": sorted(self.agents),
            "concurrency": self.concurrency,
            "heartbeat_interval": self.heartbeat_interval,
            "in_flight": len(self._inflight),
            "stats": self.stats.as_dict(),
        }

    async def _emit(
        self,
        event_type: EventType,
        payload: dict[str, Any],
        *,
        agent_name: str | None = None,
        task_id: str | None = None,
    ) -> None:
        event = RuntimeEvent(
            event_type=event_type, agent_name=agent_name, task_id=task_id, payload=payload
        )
        with contextlib.suppress(Exception):
            await self.runtime.emit(event)

    def _notify_plugins(self, hook: str) -> None:
        host = self.plugins if self.plugins is not None else self.runtime.plugin_host
        if host is not None:
            getattr(host, hook)(self)

    async def _call_hooks(self, kind: str, *args: Any) -> None:
        for fn in self._hooks[kind]:
            try:
                value = fn(*args)
                if inspect.isawaitable(value):
                    await value
            except Exception:
                log.exception("worker hook failed", hook=kind, function=getattr(fn, "__name__", fn))
