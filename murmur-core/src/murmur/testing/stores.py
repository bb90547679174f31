"""Contract suites for `RunStore` and `EventStore`: every store passes the same tests.

Subclass a suite, provide its factory fixture (an empty store per test), and, for a store
that keeps data across processes, a `reopen` fixture: an async callable that closes the
store it is given and opens a new one on the same data. The suites need pytest-asyncio.

```python
import pytest
from murmur.testing.stores import EventStoreContract, RunStoreContract


class TestMyRunStore(RunStoreContract):
    @pytest.fixture
    async def run_store(self, tmp_path):
        store = MyRunStore(tmp_path / "runs")
        yield store
        await store.aclose()

    @pytest.fixture
    def reopen(self, tmp_path):
        async def reopen(store):
            await store.aclose()
            return MyRunStore(tmp_path / "runs")

        return reopen
```
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from murmur.core.errors import RegistryError
from murmur.events import EventType, RuntimeEvent
from murmur.runs import EventQuery, EventStore, RunRecord, RunStatus, RunStore, RunTree

__all__ = ["EventStoreContract", "Reopen", "RunStoreContract"]

StoreT = TypeVar("StoreT", RunStore, EventStore)

Reopen = Callable[[StoreT], Awaitable[StoreT]]
"""Closes the store it is given and returns a new one over the same data."""

T0 = 1_700_000_000.0
"""A fixed base timestamp so time-range tests never depend on the clock."""

PAYLOAD: dict[str, Any] = {
    "text": 'héllo ✓ 世界 "quoted" \n newline',
    "int": 42,
    "big": 2**60,
    "float": 0.1 + 0.2,
    "negative": -1.5e-7,
    "flag": True,
    "nothing": None,
    "nested": {"list": [1, "two", 3.0, [], {}], "empty": ""},
}


def _run(run_id: str, **fields: Any) -> RunRecord:
    return RunRecord(run_id=run_id, trace_id=run_id, **fields)


def _event(
    event_type: EventType = EventType.AGENT_SPAWNED,
    *,
    trace: str = "t1",
    parent: str | None = None,
    agent: str = "researcher",
    ts: float = T0,
    payload: dict[str, Any] | None = None,
) -> RuntimeEvent:
    return RuntimeEvent(
        event_type=event_type,
        agent_name=agent,
        task_id=f"task-{trace}",
        trace_id=trace,
        parent_trace_id=parent,
        timestamp=ts,
        payload=payload or {},
    )


def _ids(items: list[RunRecord]) -> list[str]:
    return [r.run_id for r in items]


def _require(reopen: Any) -> Any:
    if reopen is None:
        pytest.skip("this store keeps no data across instances (no `reopen` fixture)")
    return reopen


def _shape(tree: RunTree) -> tuple[Any, ...]:
    """A tree as nested tuples with children sorted, so sibling order does not matter."""
    return (
        tree.trace_id,
        tree.agent_name,
        tree.status,
        tuple(sorted(_shape(c) for c in tree.children)),
    )


@pytest.mark.asyncio
class RunStoreContract:
    """Behaviour every `RunStore` shares. Provide `run_store` (and `reopen` when persistent)."""

    @pytest.fixture
    async def run_store(self) -> RunStore:
        """An empty store, closed after the test (subclasses provide this fixture)."""
        raise NotImplementedError("subclass RunStoreContract and provide a `run_store` fixture")

    @pytest.fixture
    def reopen(self) -> Reopen[RunStore] | None:
        """Close a store and open a new one on the same data (None: not persistent)."""
        return None

    async def test_put_then_get_round_trips_every_field(self, run_store: RunStore) -> None:
        """A stored run comes back with every field equal, JSON values included."""
        record = RunRecord(
            run_id="r1",
            kind="group",
            agent_name="researcher",
            task_id="task-1",
            trace_id="r1",
            parent_trace_id="p0",
            status=RunStatus.RUNNING,
            input={"question": "What is NATS?", "tags": ["a", "b"]},
            output=PAYLOAD,
            error={"type": "SpawnError", "message": "boom", "code": "error", "details": {}},
            metadata={"tenant": "acme", "input_tokens": 12},
            progress={"done": 1, "total": 3},
            created_at=T0,
            updated_at=T0 + 1.5,
        )
        await run_store.put(record)
        assert await run_store.get("r1") == record

    async def test_get_of_an_unknown_run_is_none(self, run_store: RunStore) -> None:
        """Asking for a run that was never stored gives None."""
        assert await run_store.get("nope") is None

    async def test_put_replaces_a_run_and_filters_follow_it(self, run_store: RunStore) -> None:
        """Putting a run again updates it: status filters see the new status only."""
        record = _run("r1", agent_name="a", status=RunStatus.RUNNING, created_at=T0)
        await run_store.put(record)
        done = record.model_copy(
            update={"status": RunStatus.COMPLETED, "output": {"answer": 42}, "updated_at": T0 + 9}
        )
        await run_store.put(done)
        assert await run_store.get("r1") == done
        assert await run_store.list(status=RunStatus.RUNNING) == []
        assert _ids(await run_store.list(status=RunStatus.COMPLETED)) == ["r1"]
        assert _ids(await run_store.list()) == ["r1"]

    async def test_stored_runs_are_snapshots(self, run_store: RunStore) -> None:
        """Mutating a record after `put`, or one returned by `get`, never changes the store."""
        record = _run("r1", metadata={"k": "v"}, created_at=T0)
        await run_store.put(record)
        record.metadata["k"] = "changed"
        record.status = RunStatus.FAILED
        fetched = await run_store.get("r1")
        assert fetched is not None
        assert fetched.metadata == {"k": "v"}
        assert fetched.status == RunStatus.PENDING
        fetched.metadata["k"] = "again"
        again = await run_store.get("r1")
        assert again is not None
        assert again.metadata == {"k": "v"}

    async def test_list_is_newest_first(self, run_store: RunStore) -> None:
        """Runs are listed by creation time, newest first, whatever the insert order."""
        for i in (3, 1, 4, 0, 2):
            await run_store.put(_run(f"r{i}", created_at=T0 + i))
        assert _ids(await run_store.list()) == ["r4", "r3", "r2", "r1", "r0"]

    async def test_list_paginates_with_limit_and_offset(self, run_store: RunStore) -> None:
        """limit/offset pages cover every run exactly once, newest first."""
        for i in range(25):
            await run_store.put(_run(f"r{i:02d}", created_at=T0 + i))
        pages = [await run_store.list(limit=10, offset=o) for o in (0, 10, 20, 30)]
        assert [len(p) for p in pages] == [10, 10, 5, 0]
        flat = [r for page in pages for r in page]
        assert _ids(flat) == [f"r{i:02d}" for i in range(24, -1, -1)]
        assert _ids(await run_store.list(limit=3)) == ["r24", "r23", "r22"]

    async def test_list_filters_by_status_agent_parent_and_kind(self, run_store: RunStore) -> None:
        """Each list filter keeps only matching runs, and filters combine with AND."""
        runs = [
            _run("a", agent_name="writer", status=RunStatus.COMPLETED, kind="agent"),
            _run("b", agent_name="writer", status=RunStatus.FAILED, parent_trace_id="a"),
            _run("c", agent_name="critic", status=RunStatus.COMPLETED, parent_trace_id="a"),
            _run("d", agent_name=None, status=RunStatus.RUNNING, kind="group"),
            _run("e", agent_name="critic", status=RunStatus.COMPLETED, kind="group"),
        ]
        for i, record in enumerate(runs):
            record.created_at = T0 + i
            await run_store.put(record)
        assert _ids(await run_store.list(status=RunStatus.COMPLETED)) == ["e", "c", "a"]
        assert _ids(await run_store.list(agent_name="writer")) == ["b", "a"]
        assert _ids(await run_store.list(parent_trace_id="a")) == ["c", "b"]
        assert _ids(await run_store.list(kind="group")) == ["e", "d"]
        assert _ids(await run_store.list(kind="agent", agent_name="critic")) == ["c"]
        assert _ids(
            await run_store.list(status=RunStatus.COMPLETED, agent_name="critic", kind="group")
        ) == ["e"]
        assert await run_store.list(status=RunStatus.CANCELLED) == []
        assert _ids(await run_store.list(agent_name="critic", limit=1, offset=1)) == ["c"]

    async def test_children_are_the_runs_a_run_spawned(self, run_store: RunStore) -> None:
        """`children(trace_id)` lists the runs whose parent is that run."""
        await run_store.put(_run("root", created_at=T0))
        for i in range(3):
            await run_store.put(_run(f"kid{i}", parent_trace_id="root", created_at=T0 + 1 + i))
        await run_store.put(_run("grandkid", parent_trace_id="kid0", created_at=T0 + 9))
        assert sorted(_ids(await run_store.children("root"))) == ["kid0", "kid1", "kid2"]
        assert _ids(await run_store.children("kid0")) == ["grandkid"]
        assert await run_store.children("grandkid") == []

    async def test_concurrent_puts_lose_nothing(self, run_store: RunStore) -> None:
        """Many concurrent writers: every run is stored, with its final state."""

        async def write(i: int) -> None:
            record = _run(f"r{i:03d}", agent_name=f"agent{i % 4}", created_at=T0 + i)
            await run_store.put(record)
            record.status = RunStatus.COMPLETED
            await run_store.put(record)

        await asyncio.gather(*(write(i) for i in range(100)))
        listed = await run_store.list(limit=1000)
        assert len(listed) == 100
        assert {r.status for r in listed} == {RunStatus.COMPLETED}
        assert len(await run_store.list(agent_name="agent1", limit=1000)) == 25

    async def test_checkpoints_round_trip_and_overwrite(self, run_store: RunStore) -> None:
        """A run's checkpoints come back by key; saving a key again replaces it."""
        await run_store.put(_run("r1"))
        await run_store.put(_run("r2"))
        await run_store.put_checkpoint("r1", "node:fetch", {"pages": [1, 2], "ok": True})
        await run_store.put_checkpoint("r1", "node:summarise", PAYLOAD)
        await run_store.put_checkpoint("r1", "node:fetch", {"pages": [3]})
        await run_store.put_checkpoint("r2", "task:0", "plain string")
        assert await run_store.checkpoints("r1") == {
            "node:fetch": {"pages": [3]},
            "node:summarise": PAYLOAD,
        }
        assert await run_store.checkpoints("r2") == {"task:0": "plain string"}
        assert await run_store.checkpoints("never-checkpointed") == {}

    async def test_concurrent_checkpoints_lose_nothing(self, run_store: RunStore) -> None:
        """Fifty tasks checkpointing one run at once: every checkpoint is kept."""
        await run_store.put(_run("batch", kind="gather"))
        await asyncio.gather(
            *(run_store.put_checkpoint("batch", f"task:{i}", {"i": i}) for i in range(50))
        )
        saved = await run_store.checkpoints("batch")
        assert saved == {f"task:{i}": {"i": i} for i in range(50)}

    async def test_a_record_that_is_not_json_is_refused_alone(
        self, run_store: RunStore, reopen: Reopen[RunStore] | None
    ) -> None:
        """A run record with an unserialisable value is refused with `not_json`; the store goes on.

        The runs before and after it are stored and the store goes on (also after reopening).
        """
        await run_store.put(_run("before", created_at=T0))
        for bad in (_run("bad", input=object()), _run("bad", output="lone \ud800 surrogate")):
            with pytest.raises(RegistryError) as info:
                await run_store.put(bad)
            assert info.value.code == "not_json"
        await run_store.put(_run("after", created_at=T0 + 1))
        assert await run_store.get("bad") is None
        assert _ids(await run_store.list()) == ["after", "before"]
        if reopen is not None:
            store = await reopen(run_store)
            try:
                assert _ids(await store.list()) == ["after", "before"]
            finally:
                await store.aclose()

    async def test_runs_and_checkpoints_survive_reopening(
        self, run_store: RunStore, reopen: Reopen[RunStore] | None
    ) -> None:
        """Closing the store and opening it again gives back every run and checkpoint."""
        reopen = _require(reopen)
        for i in range(5):
            await run_store.put(_run(f"r{i}", agent_name="a", created_at=T0 + i, input=PAYLOAD))
        await run_store.put(_run("r0", status=RunStatus.COMPLETED, created_at=T0, output=[1]))
        await run_store.put_checkpoint("r1", "node:a", {"x": 1})
        before = await run_store.list()
        store = await reopen(run_store)
        try:
            assert await store.list() == before
            assert await store.checkpoints("r1") == {"node:a": {"x": 1}}
            record = await store.get("r0")
            assert record is not None
            assert (record.status, record.output) == (RunStatus.COMPLETED, [1])
            await store.put(_run("r9", created_at=T0 + 9))
            assert _ids(await store.list(limit=2)) == ["r9", "r4"]
        finally:
            await store.aclose()


@pytest.mark.asyncio
class EventStoreContract:
    """Behaviour every `EventStore` shares. Provide `event_store` (and `reopen` when persistent)."""

    @pytest.fixture
    async def event_store(self) -> EventStore:
        """An empty store, closed after the test (subclasses provide this fixture)."""
        raise NotImplementedError(
            "subclass EventStoreContract and provide an `event_store` fixture"
        )

    @pytest.fixture
    def reopen(self) -> Reopen[EventStore] | None:
        """Close a store and open a new one on the same data (None: not persistent)."""
        return None

    async def test_appended_event_round_trips_as_json(self, event_store: EventStore) -> None:
        """An event comes back equal to what was appended, payload and ids included."""
        event = _event(
            EventType.AGENT_COMPLETED, trace="t1", parent="p1", ts=T0 + 0.123456789, payload=PAYLOAD
        )
        await event_store.append(event)
        assert await event_store.query() == [event]

    async def test_query_returns_events_in_append_order(self, event_store: EventStore) -> None:
        """Events come back oldest-appended first, even when timestamps disagree."""
        events = [_event(trace=f"t{i}", ts=T0 - i) for i in range(5)]
        for event in events:
            await event_store.append(event)
        assert await event_store.query() == events

    async def test_append_many_keeps_order_after_single_appends(
        self, event_store: EventStore
    ) -> None:
        """append_many stores a batch in order, after what was appended before."""
        first = _event(trace="t0")
        batch = [_event(trace=f"t{i}", ts=T0 + i) for i in range(1, 200)]
        await event_store.append(first)
        await event_store.append_many(batch)
        await event_store.append_many([])
        assert await event_store.query() == [first, *batch]

    async def test_query_by_trace(self, event_store: EventStore) -> None:
        """Filtering by trace id (one or several) keeps only those runs' events."""
        events = [_event(trace=f"t{i % 3}", ts=T0 + i) for i in range(9)]
        await event_store.append_many(events)
        assert await event_store.query(EventQuery(trace_id="t1")) == events[1::3]
        wanted = EventQuery(trace_ids=["t0", "t2"])
        assert await event_store.query(wanted) == [e for e in events if e.trace_id != "t1"]
        assert await event_store.query(EventQuery(trace_id="missing")) == []

    async def test_query_by_agent_and_type(self, event_store: EventStore) -> None:
        """Filtering by agent name and by event types keeps only matching events."""
        types = [EventType.AGENT_SPAWNED, EventType.TOOL_CALL_STARTED, EventType.AGENT_COMPLETED]
        events = [
            _event(types[i % 3], trace=f"t{i}", agent="a" if i < 6 else "b", ts=T0 + i)
            for i in range(9)
        ]
        await event_store.append_many(events)
        assert await event_store.query(EventQuery(agent_name="b")) == events[6:]
        finished = EventQuery(event_types=[EventType.AGENT_COMPLETED])
        assert await event_store.query(finished) == events[2::3]
        both = EventQuery(event_types=[EventType.AGENT_SPAWNED, EventType.AGENT_COMPLETED])
        assert await event_store.query(both) == [e for i, e in enumerate(events) if i % 3 != 1]

    async def test_query_by_time_range_is_inclusive(self, event_store: EventStore) -> None:
        """since/until keep events whose timestamp is within the range, bounds included."""
        events = [_event(trace=f"t{i}", ts=T0 + i) for i in range(10)]
        await event_store.append_many(events)
        assert await event_store.query(EventQuery(since=T0 + 3, until=T0 + 5)) == events[3:6]
        assert await event_store.query(EventQuery(since=T0 + 8)) == events[8:]
        assert await event_store.query(EventQuery(until=T0 + 1)) == events[:2]
        assert await event_store.query(EventQuery(since=T0 + 20)) == []

    async def test_filters_combine(self, event_store: EventStore) -> None:
        """Trace, agent, type and time filters all apply together."""
        events = [
            _event(
                EventType.AGENT_COMPLETED if i % 2 else EventType.AGENT_SPAWNED,
                trace=f"t{i % 2}",
                agent=f"a{i % 4}",
                ts=T0 + i,
            )
            for i in range(16)
        ]
        await event_store.append_many(events)
        query = EventQuery(
            trace_ids=["t1"],
            agent_name="a3",
            event_types=[EventType.AGENT_COMPLETED],
            since=T0 + 4,
            until=T0 + 15,
        )
        assert await event_store.query(query) == [events[7], events[11], events[15]]

    async def test_after_id_resumes_after_that_event(self, event_store: EventStore) -> None:
        """after_id returns only later events, with the other filters still applied."""
        events = [_event(trace=f"t{i % 2}", ts=T0 + i) for i in range(10)]
        await event_store.append_many(events)
        assert await event_store.query(EventQuery(after_id=events[3].id)) == events[4:]
        assert await event_store.query(EventQuery(after_id=events[3].id, trace_id="t0")) == [
            events[4],
            events[6],
            events[8],
        ]
        assert await event_store.query(EventQuery(after_id=events[-1].id)) == []

    async def test_after_an_unknown_id_starts_from_the_beginning(
        self, event_store: EventStore
    ) -> None:
        """A resume point the store never saw replays every event rather than none."""
        events = [_event(trace=f"t{i}") for i in range(3)]
        await event_store.append_many(events)
        assert await event_store.query(EventQuery(after_id="never-stored")) == events

    async def test_limit_returns_the_oldest_matches(self, event_store: EventStore) -> None:
        """`limit` keeps the first N matching events, oldest first."""
        events = [_event(trace=f"t{i % 2}", ts=T0 + i) for i in range(10)]
        await event_store.append_many(events)
        assert await event_store.query(EventQuery(limit=3)) == events[:3]
        assert await event_store.query(EventQuery(trace_id="t1", limit=2)) == [events[1], events[3]]
        assert await event_store.query(EventQuery(limit=100)) == events

    async def test_limit_and_after_id_page_through_everything_once(
        self, event_store: EventStore
    ) -> None:
        """Paging with limit + after_id visits every event exactly once, in order."""
        events = [_event(trace=f"t{i % 5}", ts=T0 + i) for i in range(53)]
        await event_store.append_many(events)
        seen: list[RuntimeEvent] = []
        after: str | None = None
        while True:
            page = await event_store.query(EventQuery(after_id=after, limit=10))
            if not page:
                break
            seen.extend(page)
            after = page[-1].id
        assert seen == events

    async def test_query_sees_every_event_appended_before_it(self, event_store: EventStore) -> None:
        """Appends and queries interleave: each query sees every earlier append."""
        appended: list[RuntimeEvent] = []
        for i in range(30):
            event = _event(trace=f"t{i}", ts=T0 + i)
            await event_store.append(event)
            appended.append(event)
            if i % 7 == 0:
                assert await event_store.query() == appended
        assert await event_store.query() == appended

    async def test_tree_rebuilds_a_three_level_spawn_tree(self, event_store: EventStore) -> None:
        """tree(root) rebuilds the run, its children and grandchildren from parent links."""
        spawned, completed, failed = (
            EventType.AGENT_SPAWNED,
            EventType.AGENT_COMPLETED,
            EventType.AGENT_FAILED,
        )
        await event_store.append_many(
            [
                _event(spawned, trace="root", agent="planner", ts=T0),
                _event(spawned, trace="kid1", parent="root", agent="researcher", ts=T0 + 1),
                _event(spawned, trace="kid2", parent="root", agent="critic", ts=T0 + 2),
                _event(spawned, trace="other", agent="unrelated", ts=T0 + 2.5),
                _event(spawned, trace="grand", parent="kid1", agent="fetcher", ts=T0 + 3),
                _event(EventType.TOOL_CALL_STARTED, trace="grand", parent="kid1", agent="fetcher"),
                _event(completed, trace="grand", parent="kid1", agent="fetcher", ts=T0 + 4),
                _event(completed, trace="kid1", parent="root", agent="researcher", ts=T0 + 5),
                _event(failed, trace="kid2", parent="root", agent="critic", ts=T0 + 6),
                _event(completed, trace="root", agent="planner", ts=T0 + 7),
                _event(spawned, trace="stray", parent="other", agent="unrelated", ts=T0 + 8),
            ]
        )
        tree = await event_store.tree("root")
        expected = (
            "root",
            "planner",
            "completed",
            (
                ("kid1", "researcher", "completed", (("grand", "fetcher", "completed", ()),)),
                ("kid2", "critic", "failed", ()),
            ),
        )
        assert _shape(tree) == expected
        assert sorted(node.trace_id for node in tree.walk()) == ["grand", "kid1", "kid2", "root"]
        subtree = await event_store.tree("kid1")
        assert _shape(subtree) == expected[3][0]

    async def test_tree_of_an_unknown_run_is_a_bare_node(self, event_store: EventStore) -> None:
        """tree() of a run with no events is that id with no children."""
        await event_store.append(_event(trace="t1"))
        tree = await event_store.tree("missing")
        assert (tree.trace_id, tree.children, tree.status) == ("missing", [], None)

    async def test_children_events_follow_parent_links(self, event_store: EventStore) -> None:
        """children_events returns the events of runs spawned by the given runs."""
        events = [
            _event(trace="root"),
            _event(trace="a", parent="root"),
            _event(trace="b", parent="root"),
            _event(trace="c", parent="a"),
            _event(trace="d", parent="elsewhere"),
        ]
        await event_store.append_many(events)
        got = await event_store.children_events(["root", "a"])
        assert sorted(e.trace_id or "" for e in got) == ["a", "b", "c"]
        assert await event_store.children_events(["nobody"]) == []

    async def test_concurrent_appends_lose_nothing(self, event_store: EventStore) -> None:
        """Many concurrent writers: every event is stored once, each writer's in order."""

        async def writer(w: int) -> None:
            for i in range(50):
                event = _event(trace=f"w{w}", ts=T0 + i, payload={"i": i})
                if i % 10 == 0:
                    await event_store.append_many([event])
                else:
                    await event_store.append(event)

        await asyncio.gather(*(writer(w) for w in range(20)))
        stored = await event_store.query()
        assert len(stored) == 1000
        assert len({e.id for e in stored}) == 1000
        for w in range(20):
            mine = [e.payload["i"] for e in stored if e.trace_id == f"w{w}"]
            assert mine == list(range(50))

    async def test_an_event_that_is_not_json_is_refused_alone(
        self, event_store: EventStore, reopen: Reopen[EventStore] | None
    ) -> None:
        """An unserialisable event is refused with `not_json`; the store keeps working.

        It is refused alone: the others of an `append_many` are stored; later appends, queries and
        close keep working.
        """
        first, second, third = (_event(trace=f"t{i}", ts=T0 + i) for i in range(3))
        await event_store.append(first)
        for payload in ({"x": object()}, {"x": "lone \ud800 surrogate"}):
            with pytest.raises(RegistryError) as info:
                await event_store.append(_event(trace="bad", payload=payload))
            assert info.value.code == "not_json"
        with pytest.raises(RegistryError):
            await event_store.append_many([second, _event(payload={"x": object()}), third])
        assert await event_store.query() == [first, second, third]
        if reopen is not None:
            store = await reopen(event_store)
            try:
                assert await store.query() == [first, second, third]
            finally:
                await store.aclose()

    async def test_events_survive_reopening(
        self, event_store: EventStore, reopen: Reopen[EventStore] | None
    ) -> None:
        """Closing the store and opening it again keeps every event, order and tree."""
        reopen = _require(reopen)
        events = [
            _event(trace="root", ts=T0, payload=PAYLOAD),
            _event(trace="kid", parent="root", ts=T0 + 1),
            _event(EventType.AGENT_COMPLETED, trace="kid", parent="root", ts=T0 + 2),
        ]
        await event_store.append_many(events[:2])
        await event_store.append(events[2])
        store = await reopen(event_store)
        try:
            assert await store.query() == events
            later = _event(trace="root", ts=T0 + 3)
            await store.append(later)
            assert await store.query(EventQuery(after_id=events[-1].id)) == [later]
            tree = await store.tree("root")
            assert [c.trace_id for c in tree.children] == ["kid"]
            assert tree.children[0].status == "completed"
        finally:
            await store.aclose()
