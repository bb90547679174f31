"""murmur-kafka passes the transport and backend contract suites on Kafka (mock or real)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest
import structlog.testing

from murmur.testing.backend import BrokerBackendContract
from murmur.testing.transport import MakeTransport, TransportContract, next_delivery
from murmur.transport import Delivery, TaskConsumer

from .._killed_consumer import killed_holder_hands_over

pytestmark = pytest.mark.services


def _url(bootstrap: str, **options: str) -> str:
    namespace = f"test-{uuid.uuid4().hex[:16]}"
    query = {"namespace": namespace, **options}
    if not os.environ.get("MURMUR_KAFKA_BOOTSTRAP"):
        # The mock cluster answers fetches only at fetch.wait.max.ms (a real broker wakes
        # the fetch when data arrives) and runs KIP-848 groups without a join delay.
        query = {"fetch_wait_max_ms": "10", "group_protocol": "consumer", **query}
    return f"kafka://{bootstrap}?" + "&".join(f"{k}={v}" for k, v in query.items())


def _classic() -> dict[str, str]:
    """Classic group protocol options; the mock cluster accepts a short session timeout."""
    if os.environ.get("MURMUR_KAFKA_BOOTSTRAP"):
        return {"group_protocol": "classic"}
    return {"group_protocol": "classic", "session_timeout_ms": "4000"}


class TestKafkaTransport(TransportContract):
    """KafkaTransport: consumer groups, commit after ack, keyed results topic."""

    fleet_wide_nonces = False  # Kafka has no shared store: nonces are per worker process
    event_rounds = 40  # each event subscription is a consumer joining: ~0.3 s on the mock

    @pytest.fixture
    def transport_url(self, kafka_bootstrap: str) -> str:
        """A namespace unique to the test."""
        return _url(kafka_bootstrap)

    async def test_abandoned_delivery_is_reclaimed_by_another_consumer(
        self, make_transport: MakeTransport
    ) -> None:
        """A delivery its consumer never acks goes to the other group member after the window.

        Kafka variant of the contract test: a partition has one owner, so the first
        delivery goes to whichever member owns the task's partition (the contract polls
        only the first consumer).
        """
        one_t, two_t = await make_transport(), await make_transport()
        one = await self.consumer(one_t, "reclaim", "one")
        two = await self.consumer(two_t, "reclaim", "two")
        await one_t.publish_task("reclaim", b"orphan")
        taken, other = await _first_of({one: two, two: one}, self.settle_s)
        got = await next_delivery(other, self.settle_s + self.reclaim_min_idle_ms / 1000)
        assert [d.data for d in got] == [b"orphan"]
        assert taken.message_id == got[0].message_id
        assert got[0].delivery_count >= 2
        await other.ack(got[0])
        await asyncio.sleep(self.reclaim_min_idle_ms / 1000 + 0.1)
        assert await next_delivery(other, self.quiet_s) == []

    async def test_touched_delivery_is_not_reclaimed(self, make_transport: MakeTransport) -> None:
        """A member that keeps touching a long task keeps it: the other member never gets it.

        Kafka variant of the contract test: the owner is whichever member owns the task's
        partition.
        """
        one_t, two_t = await make_transport(), await make_transport()
        one = await self.consumer(one_t, "touch", "one")
        two = await self.consumer(two_t, "touch", "two")
        await one_t.publish_task("touch", b"long")
        held, other = await _first_of({one: two, two: one}, self.settle_s)
        owner = one if other is two else two
        window = self.reclaim_min_idle_ms / 1000
        end = time.monotonic() + window * 2.5
        while time.monotonic() < end:
            await owner.touch(held)
            assert await other.reclaim(1) == []
            assert await other.receive(1, window / 4) == []
        await owner.ack(held)


async def _first_of(
    pairs: dict[TaskConsumer, TaskConsumer], within: float
) -> tuple[Delivery, TaskConsumer]:
    """The first delivery any of the consumers gets, and the other consumer."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for consumer, other in pairs.items():
            got = await consumer.receive(1, 0.05)
            if got:
                return got[0], other
    raise AssertionError(f"no consumer received the task within {within:g}s")


class TestKafkaFleet(BrokerBackendContract):
    """JobBackend + Worker over Kafka: the same contract as in-process, plus the fleet's."""

    @pytest.fixture
    def broker_url(self, kafka_bootstrap: str) -> str:
        """A namespace unique to the test."""
        return _url(kafka_bootstrap)


def test_kafka_url_resolves_to_a_job_backend_over_kafka() -> None:
    """kafka:// selects murmur-kafka through the plugin host; options come from the URL."""
    from murmur_kafka import KafkaTransport

    from murmur import AgentRuntime
    from murmur.backends import JobBackend

    backend = AgentRuntime(broker="kafka://a:9092,b:9092?namespace=x&partitions=12").backend
    assert isinstance(backend, JobBackend)
    transport = backend.transport
    assert isinstance(transport, KafkaTransport)
    assert (
        transport.namespace,
        transport.bootstrap_servers,
        transport.partitions,
    ) == ("x", "a:9092,b:9092", 12)


class TestKafkaTransportClassicProtocol(TestKafkaTransport):
    """The same contract with the classic group protocol (cooperative-sticky), the default."""

    settle_s = 20.0  # a classic rebalance on the mock cluster waits out a 3 s join window

    @pytest.fixture
    def transport_url(self, kafka_bootstrap: str) -> str:
        """Classic groups; a short session so dead members are noticed fast."""
        return _url(kafka_bootstrap, **_classic())


async def test_a_killed_workers_partition_is_reread_after_the_rebalance(
    kafka_bootstrap: str,
) -> None:
    """A worker SIGKILLed mid-task: after its session times out, the group rebalances and the
    next owner re-reads the task from the last committed offset (a redelivery)."""
    url = _url(kafka_bootstrap, **_classic())
    await killed_holder_hands_over(url, window_ms=30_000, settle_s=40)


def test_the_public_api_is_exactly_the_transport_and_its_entry_point() -> None:
    """The plugin exports only its transport, its entry-point factory and its constants."""
    import murmur_kafka

    assert sorted(murmur_kafka.__all__) == ["KafkaTransport", "backend_factory"]
    assert all(hasattr(murmur_kafka, name) for name in murmur_kafka.__all__)


async def test_a_member_leaving_during_a_rebalance_still_hands_over_its_delivery_counts(
    kafka_bootstrap: str,
) -> None:
    """A member that takes a task while the group rebalances, then leaves before it ends.

    Its commits are refused while the group waits for members to join (REBALANCE_IN_PROGRESS),
    among them the one carrying the task's delivery count: leaving must still get that commit
    through (after serving the rebalance), so the next owner sees a redelivery, not a first
    delivery (which would reset a poison task's count on every hand-over).

    One interleaving cannot succeed on librdkafka's mock cluster: when the partition is
    revoked while the group is already preparing its next round, the mock refuses the
    revoke's commit (a Kafka broker accepts commits while a rebalance is being prepared), and
    the partition goes to the other member before any later commit could land. The scenario
    is run again when that refusal is what lost the count (it is seen under CPU load), up to
    three times; any other loss fails at once.
    """
    for _ in range(3):
        with structlog.testing.capture_logs() as logs:
            count = await _leave_while_the_group_rebalances(kafka_bootstrap)
        if count == 2:
            return
        refused = [
            e
            for e in logs
            if e["event"] == "commit on revoke failed" and "REBALANCE_IN_PROGRESS" in e["error"]
        ]
        assert refused, f"the next owner saw delivery count {count}, every commit accepted"
    pytest.xfail("the mock cluster refused the revoke commit in three runs out of three")


async def _leave_while_the_group_rebalances(kafka_bootstrap: str) -> int:
    """The scenario once: the delivery count the next owner sees (2 is right)."""
    from murmur_kafka import KafkaTransport

    url = _url(kafka_bootstrap, **_classic())
    one_t, two_t = KafkaTransport(url), KafkaTransport(url)
    await one_t.connect()
    await two_t.connect()
    try:
        one = await one_t.consume_tasks(
            "handover", consumer_id="one", prefetch=10, reclaim_min_idle_ms=60_000
        )
        assert await next_delivery(one, 0.5) == []
        deadline = time.monotonic() + 20
        while not vars(one)["_parts"]:  # the group is stable, `one` owns every partition
            assert time.monotonic() < deadline, "`one` was never assigned its partitions"
            await asyncio.sleep(0.05)
        two = await two_t.consume_tasks(
            "handover", consumer_id="two", prefetch=10, reclaim_min_idle_ms=60_000
        )
        await two.receive(1, 0.3)  # `two` joins: the group waits for everyone to rejoin
        await one_t.publish_task("handover", b"orphan")
        taken = (await next_delivery(one, 5))[0]
        assert taken.delivery_count == 1
        await one.close()  # leaves with the task un-acked, before the rebalance has ended
        got = await next_delivery(two, 30)
        assert [d.data for d in got] == [b"orphan"]  # never lost, whatever its count
        await two.ack(got[0])
        return got[0].delivery_count
    finally:
        await one_t.close()
        await two_t.close()
