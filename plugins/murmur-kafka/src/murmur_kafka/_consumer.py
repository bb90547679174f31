"""One worker's view of an agent topic: a member of the agent's consumer group.

Kafka has no per-message ack, so acks become offsets: a partition's committed offset is
its lowest offset not yet acked (tasks run concurrently and finish out of order, so the
commit advances only over a contiguous acked prefix). A consumer that dies leaves its
partitions, after a rebalance, to another member, which re-reads everything from the last
committed offset: the tasks that were in flight, and any acked after the oldest in-flight
one (at-least-once; the caller drops the duplicate results).

Redelivery counts: every commit carries metadata `murmur:1:<high>:<count>`, the highest
offset handed out and the highest delivery count so far, so the next owner of the
partition knows that the offsets it re-reads up to `<high>` are redeliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import structlog

from murmur.transport import Delivery, HeldDeliveryConsumer
from murmur_kafka._offsets import Buffered, Held, PartitionState, commit_metadata, parse_meta

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, TopicPartition

__all__ = ["KafkaTaskConsumer"]

log = structlog.get_logger("murmur.kafka")

_CLOSE_TIMEOUT = 30.0
_KEEPALIVE_S = 0.5
_DRAIN_MAX_S = 30.0
_LEAVE_COMMIT_S = 15.0
"""Longest a leaving member serves a rebalance in progress to get its last commit through."""


class KafkaTaskConsumer(HeldDeliveryConsumer[Held]):
    """A consumer-group member of one agent's topic.

    A pump (confluent-kafka calls on a dedicated thread) keeps polling, so rebalances are
    served and `max.poll.interval.ms` is never exceeded even while every slot is busy; it
    fetches only while fewer than `prefetch` messages are in hand and pauses the assigned
    partitions otherwise. `receive` hands out buffered messages; `nack` puts one back in
    the buffer (the partition stays ours, so it is redelivered here, count + 1).

    A live member that holds a delivery for `reclaim_min_idle_ms` without ack or `touch`
    leaves the group (its partitions go to other members, which re-read from the committed
    offset) and rejoins on its next `receive` (the watchdog is murmur's
    `HeldDeliveryConsumer`). When a rebalance takes a partition from a
    live member, its in-flight tasks of that partition finish first (up to the window).

    Args:
        config: librdkafka consumer configuration (group, bootstrap, protocol, ...).
        topic: The agent's topic.
        agent_name: The agent.
        prefetch: Most messages in hand (buffered + handed out) at once.
        reclaim_min_idle_ms: How long a handed-out delivery may go without ack or touch.
        poll_s: Longest single poll on the pump thread.
    """

    def __init__(
        self,
        config: dict[str, Any],
        *,
        topic: str,
        agent_name: str,
        prefetch: int,
        reclaim_min_idle_ms: int,
        poll_s: float = 0.1,
    ) -> None:
        super().__init__(reclaim_min_idle_ms=reclaim_min_idle_ms, name=topic)
        self._config = config
        self._topic = topic
        self._agent = agent_name
        self._prefetch = max(1, prefetch)
        self._poll_s = poll_s
        self._lock = threading.Lock()  # partition state and buffer: pump thread vs event loop
        self._parts: dict[int, PartitionState] = {}
        self._buffer: deque[Buffered] = deque()
        self._commits_due: dict[int, Any] = {}  # partition -> TopicPartition, sent by the pump
        self._epochs = itertools.count(1)
        self._freed = asyncio.Event()  # an ack made room: the pump may fetch again
        self._open_lock = asyncio.Lock()
        self._consumer: Consumer | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pump: asyncio.Task[None] | None = None
        self._running = False
        self._paused = False
        self._leaving = False

    give_up_message = "leaving the consumer group so another member re-reads it"

    # -- membership -------------------------------------------------------------------

    async def open(self) -> None:
        """Join the group (idempotent; rejoins after the watchdog made this member leave)."""
        async with self._open_lock:
            if self._consumer is not None or self._closed:
                return
            loop = asyncio.get_running_loop()
            executor = ThreadPoolExecutor(1, thread_name_prefix=f"murmur-kafka-{self._agent}")
            consumer = await loop.run_in_executor(executor, self._build)
            self._consumer, self._executor = consumer, executor
            self._running, self._paused = True, False
            self._pump = asyncio.create_task(self._pump_loop(consumer, executor))
            self._start_watch()

    def _build(self) -> Consumer:
        from confluent_kafka import Consumer

        consumer = Consumer({**self._config, "on_commit": self._on_commit})
        consumer.subscribe(
            [self._topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        return consumer

    async def _leave(self) -> None:
        """Stop the pump and close the member (LeaveGroup: its partitions move now)."""
        async with self._open_lock:
            consumer, executor = self._consumer, self._executor
            self._consumer = self._executor = None
            self._running = False
            if self._pump is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(self._pump), self._poll_s * 10 + 5)
            if consumer is not None and executor is not None:
                loop = asyncio.get_running_loop()
                try:
                    # close() revokes (our on_revoke commits what is committable) and leaves.
                    await asyncio.wait_for(
                        loop.run_in_executor(executor, self._close_consumer, consumer),
                        _CLOSE_TIMEOUT,
                    )
                except Exception as exc:
                    log.warning("kafka consumer close failed", topic=self._topic, error=repr(exc))
                executor.shutdown(wait=False)
            with self._lock:
                self._parts.clear()
                self._buffer.clear()
                self._commits_due.clear()
            self._forget_held()

    def _close_consumer(self, consumer: Consumer) -> None:
        # Leaving on purpose (close, or the watchdog): no draining in the final revoke.
        self._leaving = True
        try:
            self._commit_before_leaving(consumer)
            consumer.close()
        finally:
            self._leaving = False

    def _commit_before_leaving(self, consumer: Consumer) -> None:
        """Commit every owned partition's offset and delivery counts, through a rebalance.

        The next owners learn from this commit which offsets they re-read are redeliveries.
        While the group waits for its members to rejoin, the coordinator refuses commits
        (REBALANCE_IN_PROGRESS), and it waits for this member too: so a refused commit is
        retried after a poll that serves the rebalance, for up to `_LEAVE_COMMIT_S`. Messages
        that poll fetches are not handed out (the next owner reads them from this commit).
        """
        from confluent_kafka import KafkaError, KafkaException

        # Refused for now: the group is rebalancing, or its coordinator is moving.
        again = {
            KafkaError.REBALANCE_IN_PROGRESS,
            KafkaError.ILLEGAL_GENERATION,
            KafkaError.UNKNOWN_MEMBER_ID,
            KafkaError.NOT_COORDINATOR,
            KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
            KafkaError.COORDINATOR_NOT_AVAILABLE,
            KafkaError._WAIT_COORD,
        }
        with self._lock:
            self._commits_due.clear()
            offsets = self._commits(dict(self._parts))
        if not offsets:
            return
        deadline = time.monotonic() + _LEAVE_COMMIT_S
        while True:
            try:
                done = consumer.commit(offsets=offsets, asynchronous=False) or []
                errors = [tp.error for tp in done if tp.error is not None]
            except KafkaException as exc:
                errors = [exc.args[0]]
            if not errors:
                return
            # Not a broker that cannot be reached: that would hold a shutdown for the whole
            # wait, and the commit would not get through anyway.
            retry = all(isinstance(err, KafkaError) and err.code() in again for err in errors)
            if not retry or time.monotonic() >= deadline:
                log.warning(
                    "commit before leaving the group failed: the next owner counts the "
                    "re-read tasks as first deliveries",
                    topic=self._topic,
                    error=repr(errors[0]),
                )
                return
            consumer.poll(0.1)
            # A partition revoked during that poll was committed by the revoke (or refused
            # there): it may belong to another member now, whose progress a commit of ours
            # would roll back. Only partitions still owned are retried.
            with self._lock:
                offsets = [tp for tp in offsets if tp.partition in self._parts]
            if not offsets:
                return

    # -- rebalance callbacks (pump thread, inside poll) -------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            committed = consumer.committed(partitions, timeout=10)
        except Exception as exc:
            log.warning("reading committed offsets failed", topic=self._topic, error=repr(exc))
            committed = partitions
        with self._lock:
            for tp in committed:
                high, count = parse_meta(tp.metadata)
                self._parts[tp.partition] = PartitionState(
                    epoch=next(self._epochs),
                    prior_high=high,
                    prior_count=count,
                    high=high,
                    max_count=count,
                )

    def _drop(self, partitions: list[TopicPartition], *, commit: bool) -> list[Any]:
        offsets: list[Any] = []
        with self._lock:
            gone = {tp.partition for tp in partitions}
            for number in gone:
                self._commits_due.pop(number, None)
                part = self._parts.pop(number, None)
                if part is not None and commit:
                    offsets += self._commits({number: part})
            self._buffer = deque(b for b in self._buffer if b.partition not in gone)
        return offsets

    def _drain(self, partitions: list[TopicPartition]) -> None:
        """Before a partition moves, let its handed-out tasks finish, so the next owner skips them.

        They may finish for up to the reclaim window, at most `_DRAIN_MAX_S`, so the next owner does
        not run them again. Tasks still buffered are not run here: the next owner reads them from
        the commit.
        """
        gone = {tp.partition for tp in partitions}
        waiting: dict[int, set[int]] = {}  # partition -> buffered offsets, never handed out
        deadline = time.monotonic() + min(self._window, _DRAIN_MAX_S)
        while True:
            with self._lock:
                kept: deque[Buffered] = deque()
                for item in self._buffer:
                    if item.partition in gone:
                        waiting.setdefault(item.partition, set()).add(item.offset)
                    else:
                        kept.append(item)
                self._buffer = kept
                busy = any(
                    offset not in waiting.get(number, ())
                    for number in gone
                    if (part := self._parts.get(number)) is not None
                    for offset in part.outstanding
                )
            if not busy or time.monotonic() >= deadline:
                return
            time.sleep(0.01)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not self._leaving:
            self._drain(partitions)
        offsets = self._drop(partitions, commit=True)
        if offsets:
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
            except Exception as exc:
                # Kafka accepts this commit while a rebalance is being prepared; librdkafka's
                # mock cluster refuses it (REBALANCE_IN_PROGRESS), and then the next owner
                # counts the tasks it re-reads as first deliveries.
                log.debug("commit on revoke failed", topic=self._topic, error=repr(exc))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop(partitions, commit=False)

    # -- offsets ----------------------------------------------------------------------

    def _commits(self, parts: dict[int, PartitionState]) -> list[Any]:
        """TopicPartitions to commit for `parts` (call with the lock held)."""
        from confluent_kafka import TopicPartition

        out = []
        for number, part in parts.items():
            offset = part.commit_offset()
            if offset is None:
                continue
            part.committed = offset
            out.append(TopicPartition(self._topic, number, offset, commit_metadata(part)))
        return out

    def _commit_soon(self, offsets: list[Any]) -> None:
        """Queue commits for the pump thread.

        A confluent-kafka consumer must not be called from a second thread while it polls: the call
        would wait for the poll.
        """
        if not offsets:
            return
        with self._lock:
            for tp in offsets:
                self._commits_due[tp.partition] = tp

    def _on_commit(self, err: Any, partitions: list[TopicPartition]) -> None:
        """A commit came back (pump thread, inside poll).

        A failed one (a rebalance was in progress) is queued again while the partition is still
        ours: its metadata is how the next owner knows which offsets are redeliveries.
        """
        failed = [tp for tp in partitions if err is not None or tp.error is not None]
        if not failed:
            return
        with self._lock:
            for tp in failed:
                part = self._parts.get(tp.partition)
                if part is not None and tp.partition not in self._commits_due:
                    part.committed = None
                    for fresh in self._commits({tp.partition: part}):
                        self._commits_due[tp.partition] = fresh

    def _send_commits(self, consumer: Consumer) -> None:
        with self._lock:
            offsets, self._commits_due = list(self._commits_due.values()), {}
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=True)
        except Exception as exc:  # not a member right now: the next owner re-reads
            log.debug("commit failed", topic=self._topic, error=repr(exc))

    # -- the pump ---------------------------------------------------------------------

    def _in_hand(self) -> int:
        with self._lock:
            return sum(len(p.outstanding) for p in self._parts.values())

    def _poll(self, consumer: Consumer, capacity: int) -> list[Message]:
        self._send_commits(consumer)
        if capacity <= 0:
            # Saturated for a while: serve the group protocol (rebalances, commits) without
            # fetching more. Pausing discards librdkafka's prefetched messages and resuming
            # restarts the fetch, so it is done only after `_KEEPALIVE_S` of saturation.
            consumer.pause(consumer.assignment())
            self._paused = True
            message = consumer.poll(0.01)
            return [message] if message is not None else []
        if self._paused:
            consumer.resume(consumer.assignment())
            self._paused = False
        message = consumer.poll(self._poll_s)
        if message is None:
            return []
        return [message, *consumer.consume(capacity - 1, 0)] if capacity > 1 else [message]

    async def _pump_loop(self, consumer: Consumer, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while self._running:
            self._freed.clear()  # before counting, so an ack from here on wakes the wait
            capacity = self._prefetch - self._in_hand()
            if capacity <= 0:
                # Saturated: wait for an ack; every _KEEPALIVE_S, a paused poll below.
                try:
                    async with asyncio.timeout(_KEEPALIVE_S):
                        await self._freed.wait()
                    continue
                except TimeoutError:
                    pass
            try:
                messages = await loop.run_in_executor(executor, self._poll, consumer, capacity)
            except Exception as exc:
                if not self._running:
                    return
                log.warning("kafka poll failed", topic=self._topic, error=repr(exc))
                await asyncio.sleep(self._poll_s)
                continue
            if messages:
                self._accept(messages)

    def _accept(self, messages: list[Message]) -> None:
        from confluent_kafka import KafkaError

        added = False
        with self._lock:
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("kafka consumer error", topic=self._topic, error=str(error))
                    continue
                number, offset = message.partition() or 0, message.offset() or 0
                part = self._parts.get(number)
                if part is None or (part.next_offset is not None and offset < part.next_offset):
                    continue  # revoked meanwhile, or already read in this session
                count = part.prior_count + 1 if offset <= part.prior_high else 1
                part.outstanding[offset] = count
                part.next_offset = offset + 1
                self._buffer.append(
                    Buffered(number, offset, part.epoch, message.value() or b"", count)
                )
                added = True
        if added:
            self._arrived.set()

    # -- TaskConsumer -----------------------------------------------------------------

    def _take(self, max_messages: int) -> list[Delivery]:
        out: list[Delivery] = []
        touched: dict[int, PartitionState] = {}
        with self._lock:
            while self._buffer and len(out) < max_messages:
                item = self._buffer.popleft()
                part = self._parts.get(item.partition)
                if part is None or part.epoch != item.epoch or item.offset not in part.outstanding:
                    continue
                handle = self._hold(Held(item.partition, item.offset, item.epoch, item.value))
                part.high = max(part.high, item.offset)
                part.max_count = max(part.max_count, item.count)
                touched[item.partition] = part
                out.append(
                    Delivery(
                        data=item.value,
                        message_id=f"{self._topic}:{item.partition}:{item.offset}",
                        agent_name=self._agent,
                        delivery_count=item.count,
                        handle=handle,
                    )
                )
            # Record "handed out up to <high>" now, so a successor knows these are redeliveries.
            offsets = self._commits(touched)
        self._commit_soon(offsets)
        return out

    async def receive(self, max_messages: int, timeout: float) -> list[Delivery]:  # noqa: ASYNC109
        """Hand out at most `max_messages` fetched messages, waiting up to `timeout`."""
        if self._closed or max_messages < 1:
            return []
        await self.open()
        deadline = time.monotonic() + timeout
        while True:
            self._arrived.clear()
            out = self._take(max_messages)
            remaining = deadline - time.monotonic()
            if out or remaining <= 0 or self._closed:
                return out
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()

    def _owned(self, held: Held) -> PartitionState | None:
        part = self._parts.get(held.partition)
        if part is None or part.epoch != held.epoch or held.offset not in part.outstanding:
            return None  # the partition moved on: its new owner re-reads this offset
        return part

    async def ack(self, delivery: Delivery) -> None:
        """Done: commit the partition's new lowest un-acked offset (if it moved)."""
        held = self._release(delivery.handle)
        if held is None:
            return
        offsets: list[Any] = []
        with self._lock:
            part = self._owned(held)
            if part is None:
                return
            before = part.commit_offset()
            del part.outstanding[held.offset]
            if part.commit_offset() != before:
                offsets = self._commits({held.partition: part})
        self._commit_soon(offsets)
        self._freed.set()

    async def nack(self, delivery: Delivery) -> None:
        """Redeliver from the local buffer at once (same offset, count + 1)."""
        held = self._release(delivery.handle)
        if held is None:
            return
        with self._lock:
            part = self._owned(held)
            if part is None:
                return
            count = part.outstanding[held.offset] + 1
            part.outstanding[held.offset] = count
            part.max_count = max(part.max_count, count)
            self._buffer.appendleft(
                Buffered(held.partition, held.offset, held.epoch, held.value, count)
            )
        self._arrived.set()

    def _watching(self) -> bool:
        return self._consumer is not None

    async def _give_up(self) -> None:
        """Leave the group; un-acked offsets are re-read by the partitions' next owners."""
        await asyncio.shield(self._leave())  # close() must not cut a leave short
