"""What agent processes promise: lifecycle, structured lifetime, scopes, trust, limits."""

from __future__ import annotations

import asyncio
import json

import pytest

from murmur import (
    Agent,
    AgentRuntime,
    BudgetExceededError,
    EventType,
    RuntimeOptions,
    SpawnCapError,
    SpawnError,
    TokenBudget,
    TrustViolationError,
)
from murmur.core.errors import RegistryError
from murmur.events import CollectingEventEmitter
from murmur.processes import (
    ProcessHandle,
    agent,
    agent_process,
    bubble,
    current_runtime,
    done,
    emit,
    expose,
    fail,
    spawn,
    use_runtime,
    wait,
)

from .conftest import calling, ready


async def test_done_returns_its_value_from_wait() -> None:
    """done(result) wakes wait(), and the process returns what its function returns."""

    @agent_process
    async def proc() -> str:
        done("finished")
        return await wait()

    assert await proc() == "finished"


async def test_fail_raises_a_typed_error_with_the_reason() -> None:
    """fail(reason) makes the awaited process raise SpawnError(code='process_failed')."""

    @agent_process
    async def proc() -> None:
        fail("no luck")
        await wait()

    with pytest.raises(SpawnError) as caught:
        await proc()
    assert caught.value.code == "process_failed"
    assert caught.value.details["reason"] == "no luck"


async def test_fail_without_wait_still_fails_the_process() -> None:
    """A process whose tool called fail() fails even if its function returns normally."""

    @agent_process
    async def proc() -> str:
        fail("gave up")
        return "ignored"

    with pytest.raises(SpawnError, match="gave up"):
        await proc()


async def test_a_process_past_its_timeout_fails_with_a_timeout_budget_error() -> None:
    """agent_process(timeout=...) bounds the process: BudgetExceededError(code='timeout')."""

    @agent_process(timeout=0.05)
    async def slow() -> None:
        await asyncio.sleep(10)

    with pytest.raises(BudgetExceededError) as caught:
        await slow()
    assert caught.value.code == "timeout"


async def test_a_bug_in_a_process_is_a_typed_error() -> None:
    """An exception in the process function surfaces as SpawnError(code='process_error')."""

    @agent_process
    async def buggy() -> None:
        raise KeyError("x")

    with pytest.raises(SpawnError) as caught:
        await buggy()
    assert caught.value.code == "process_error"
    assert isinstance(caught.value.__cause__, KeyError)


async def test_ambient_functions_outside_a_process_say_what_to_do() -> None:
    """done() outside a process raises SpawnError(code='no_process') naming @agent_process."""
    with pytest.raises(SpawnError, match="@agent_process") as caught:
        done(1)
    assert caught.value.code == "no_process"


async def test_children_are_cancelled_when_their_parent_ends() -> None:
    """Structured lifetime: a parent that returns cancels its unfinished children, and
    their grandchildren, each with a cancelled event; no task is left behind."""
    handles: dict[str, ProcessHandle] = {}

    @agent_process
    async def grandchild() -> None:
        await asyncio.sleep(10)

    @agent_process
    async def child() -> None:
        handles["grandchild"] = spawn(grandchild)
        await asyncio.sleep(10)

    @agent_process
    async def parent() -> str:
        handles["child"] = spawn(child)
        await asyncio.sleep(0.01)
        return "parent done"

    before = asyncio.all_tasks()
    assert await parent() == "parent done"
    assert handles["child"].status == "cancelled"
    assert handles["grandchild"].status == "cancelled"
    events = [(e.type, e.data) async for e in handles["child"].events]
    assert events[-1] == ("cancelled", "parent 'parent' ended")
    assert asyncio.all_tasks() - before == set()


async def test_a_failing_parent_cancels_its_children_too() -> None:
    """A process that fails cancels its children before it reports the failure."""
    seen: dict[str, ProcessHandle] = {}

    @agent_process
    async def child() -> None:
        await asyncio.sleep(10)

    @agent_process
    async def parent() -> None:
        seen["child"] = spawn(child)
        await asyncio.sleep(0)
        fail("stop")
        await wait()

    with pytest.raises(SpawnError):
        await parent()
    assert seen["child"].status == "cancelled"


async def test_cancelling_a_handle_cancels_the_child_and_its_children() -> None:
    """handle.cancel() ends the child (cancelled event) and its own children."""
    seen: dict[str, ProcessHandle] = {}

    @agent_process
    async def grandchild() -> None:
        await asyncio.sleep(10)

    @agent_process
    async def child() -> None:
        seen["grandchild"] = spawn(grandchild)
        await wait()

    @agent_process
    async def parent() -> list[str]:
        handle = spawn(child)
        await asyncio.sleep(0.01)
        handle.cancel()
        with pytest.raises(SpawnError) as caught:
            await handle
        assert caught.value.code == "process_cancelled"
        return [e.type async for e in handle.events]

    assert await parent() == ["started", "cancelled"]
    assert seen["grandchild"].status == "cancelled"


async def test_a_cancelled_caller_cancels_the_process_it_awaits() -> None:
    """Cancelling the task that awaits a process cancels the process (no orphan)."""
    started = asyncio.Event()
    seen: dict[str, ProcessHandle] = {}

    @agent_process
    async def child() -> None:
        started.set()
        await asyncio.sleep(10)

    @agent_process
    async def parent() -> None:
        seen["child"] = spawn(child)
        await seen["child"]

    task = asyncio.create_task(parent())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen["child"].status == "cancelled"


async def test_a_late_observer_replays_every_event_from_the_start() -> None:
    """handle.events replays from the start: an observer that comes late misses nothing."""

    @agent_process
    async def child() -> int:
        emit("step", 1)
        emit("step", 2)
        return 3

    @agent_process
    async def parent() -> list[tuple[str, object]]:
        handle = spawn(child)
        await handle  # the child has ended before anyone observes it
        first = [(e.type, e.data) async for e in handle.events]
        second = [(e.type, e.data) async for e in handle.events]
        assert first == second
        return first

    assert await parent() == [("started", None), ("step", 1), ("step", 2), ("done", 3)]


async def test_nested_bubbles_join_their_sources() -> None:
    """bubble() tags forwarded events with source; a bubble of a bubble joins them."""

    @agent_process
    async def leaf() -> str:
        emit("hello", "leaf")
        return "leaf done"

    @agent_process
    async def middle() -> None:
        await bubble(spawn(leaf), source="leaf-1")

    @agent_process
    async def top() -> list[tuple[str, str | None]]:
        handle = bubble(spawn(middle), source="mid")
        await handle
        return [(e.type, e.source) async for e in handle.events if e.source]

    events = await top()
    assert ("hello", "leaf-1") in events
    assert ("done", "leaf-1") in events


async def test_bubbled_events_reach_the_parent_stream_with_source() -> None:
    """Events bubbled onto a process show on an observer of that process, tagged."""

    @agent_process
    async def leaf() -> None:
        emit("note", "x")

    @agent_process
    async def middle() -> None:
        await bubble(spawn(leaf), source="L")

    @agent_process
    async def top() -> list[tuple[str, object, str | None]]:
        handle = spawn(middle)
        await handle
        return [(e.type, e.data, e.source) async for e in handle.events]

    events = await top()
    assert ("note", "x", "L") in events
    assert events[0] == ("started", None, None)
    assert events[-1] == ("done", None, None)


async def test_endpoints_run_in_the_childs_scope() -> None:
    """emit() and done() inside an endpoint affect the child, not the caller."""

    @agent_process
    async def child() -> str:
        @expose
        async def finish(value: str) -> str:
            emit("finishing", value)
            done(value)
            return "ok"

        emit("ready")
        return await wait()

    @agent_process
    async def parent() -> tuple[str, str, list[str], list[str]]:
        handle = spawn(child)
        await ready(handle)
        assert await handle.call("finish", value="v") == "ok"
        result = await handle
        own = [e.type async for e in spawn_and_list()]
        return result, handle.status, [e.type async for e in handle.events], own

    async def spawn_and_list():  # the parent's own stream so far has no 'finishing'
        from murmur.processes._process import current_process

        for event in list(current_process().log):
            yield event

    result, status, child_events, parent_events = await parent()
    assert (result, status) == ("v", "done")
    assert child_events == ["started", "ready", "finishing", "done"]
    assert "finishing" not in parent_events


async def test_calling_an_unknown_endpoint_lists_the_known_ones() -> None:
    """handle.call() of a missing endpoint raises RegistryError naming what is exposed."""

    @agent_process
    async def child() -> None:
        @expose
        async def known() -> None: ...

        emit("ready")
        await wait()

    @agent_process
    async def parent() -> None:
        handle = spawn(child)
        await ready(handle)
        await handle.call("nope")

    with pytest.raises(RegistryError, match="exposed: known"):
        await parent()


def pool_child():
    @agent_process
    async def pool() -> None:
        @expose(read_only=True)
        async def tasks() -> list[str]:
            """List the tasks."""
            return ["t0"]

        @expose
        async def add_task(spec: str) -> str:
            """Add a task."""
            emit("added", spec)
            return "t1"

        @expose
        async def drop_all() -> str:
            return "dropped"

        emit("ready")
        await wait()

    return pool


async def test_attach_only_gives_the_named_endpoints_with_the_prefix() -> None:
    """attach(only=..., prefix=...) adds exactly those endpoints, prefixed, as tools; an
    unknown name in only= is refused."""

    @agent_process
    async def main() -> list[str]:
        pool = spawn(pool_child())
        await ready(pool)
        monitor = await agent("monitor")
        added = await pool.attach(monitor, only=["tasks", "add_task"], prefix="pool_")
        with pytest.raises(RegistryError):
            await pool.attach(monitor, only=["missing"])
        assert added == monitor.tools
        return added

    assert await main() == ["pool_tasks", "pool_add_task"]


async def test_an_attached_agent_calls_an_endpoint_as_a_tool_with_tool_events() -> None:
    """The model's tool call runs the endpoint in the pool; TOOL_CALL_* events carry it."""
    events = CollectingEventEmitter()

    @agent_process
    async def main() -> tuple[list[str], list[str]]:
        pool = spawn(pool_child())
        await ready(pool)
        monitor = await agent("monitor", model=calling(lambda p, i: ("pool_add_task", {"spec": p})))
        await pool.attach(monitor, prefix="pool_")
        assert await monitor.send("write tests") == "ok"
        await asyncio.sleep(0)
        agent_events = []
        async for event in monitor.events:
            agent_events.append(str(event.event_type))
            if event.event_type is EventType.AGENT_COMPLETED:
                break
        pool_events = []
        async for event in pool.events:
            pool_events.append(f"{event.type}:{event.data}")
            if event.type == "added":
                break
        return agent_events, pool_events

    with use_runtime(AgentRuntime(event_emitter=events)):
        agent_events, pool_events = await main()
    assert agent_events == [
        "agent_spawned",
        "tool_call_started",
        "tool_call_completed",
        "agent_completed",
    ]
    assert pool_events[-1] == "added:write tests"
    [called] = events.of_type(EventType.ENDPOINT_CALLED)
    assert called.payload["endpoint"] == "add_task"


async def test_a_low_trust_agent_cannot_call_a_non_read_only_endpoint() -> None:
    """Attached endpoints pass the trust gate: LOW trust may call read-only ones only."""
    events = CollectingEventEmitter()

    def model(tool: str):
        return calling(lambda p, i: (tool, {"spec": p} if tool == "pool_add_task" else {}))

    @agent_process
    async def main() -> str:
        pool = spawn(pool_child())
        await ready(pool)
        reader = await agent("reader", model=model("pool_tasks"), trust_level="low")
        writer = await agent("writer", model=model("pool_add_task"), trust_level="low")
        await pool.attach(reader, prefix="pool_")
        await pool.attach(writer, prefix="pool_")
        assert await reader.send("list") == "ok"
        await writer.send("add one")
        return "unreachable"

    with use_runtime(AgentRuntime(event_emitter=events)), pytest.raises(TrustViolationError):
        await main()
    [denied] = events.of_type(EventType.TOOL_CALL_FAILED)
    assert denied.payload["tool"] == "pool_add_task"
    assert denied.payload["denied"] is True
    assert [e.payload["endpoint"] for e in events.of_type(EventType.ENDPOINT_CALLED)] == ["tasks"]


async def test_a_spawned_child_that_awaits_a_process_keeps_its_own_handle() -> None:
    """Nested spawn-await: a child that awaits a grandchild still emits, exposes and ends
    as itself (ramure 0.0.3 loses the child's events and done to the grandchild)."""

    @agent_process
    async def grandchild() -> str:
        emit("grandchild-step", None)
        return "gc"

    @agent_process
    async def child() -> str:
        @expose
        async def ping() -> str:
            emit("pinged", None)
            return "pong"

        value = await grandchild()
        emit("after-grandchild", value)
        inner = spawn(grandchild)
        await inner
        emit("after-spawned-grandchild", None)
        done(value)
        return await wait()

    @agent_process
    async def parent() -> tuple[str, list[str], str]:
        handle = spawn(child)
        result = await handle
        types = [e.type async for e in handle.events]
        return result, types, str(handle.endpoints)

    result, types, endpoints = await parent()
    assert result == "gc"
    assert types == ["started", "after-grandchild", "after-spawned-grandchild", "done"]
    assert endpoints == "['ping']"


async def test_a_handle_keeps_the_conversation_between_turns() -> None:
    """Each send() continues the handle's conversation: turn 2 sees turn 1's messages."""
    seen: list[int] = []

    def choose(prompt: str, info: object) -> None:
        return None

    from pydantic_ai.messages import ModelResponse, TextPart
    from pydantic_ai.models.function import FunctionModel

    async def respond(messages, info):  # type: ignore[no-untyped-def]
        seen.append(len(messages))
        return ModelResponse(parts=[TextPart(f"turn {len(seen)}")])

    @agent_process
    async def chat() -> list[str]:
        bot = await agent("bot", model=FunctionModel(respond))
        other = await agent("other", model=FunctionModel(respond))
        replies = [await bot.send("hi"), await bot.send("again"), await other.send("fresh")]
        assert len(bot.history) == 4
        return replies

    assert await chat() == ["turn 1", "turn 2", "turn 3"]
    assert seen == [1, 3, 1]  # the second turn got the first request and response


async def test_agent_turns_in_processes_are_children_of_the_process_in_the_run_tree() -> None:
    """Process events persist in the store; the tree nests child processes and agent runs."""
    runtime = AgentRuntime(store="memory://")

    @agent_process
    async def child() -> str:
        helper = await agent("helper", model=calling(lambda p, i: None, reply="hi"))
        return await helper.send("hello")

    @agent_process
    async def root() -> str:
        return await child()

    with use_runtime(runtime):
        assert await root() == "hi"
    assert runtime.stores is not None
    [started] = [
        e
        for e in await runtime.stores.events.query()
        if e.event_type is EventType.PROCESS_STARTED and e.parent_trace_id is None
    ]
    tree = await runtime.stores.events.tree(started.trace_id or "")
    assert (tree.agent_name, tree.status) == ("root", "completed")
    [child_node] = tree.children
    assert (child_node.agent_name, child_node.status) == ("child", "completed")
    [run] = child_node.children
    assert (run.agent_name, run.status) == ("helper", "completed")


async def test_budgets_and_spawn_caps_apply_to_turns_inside_processes() -> None:
    """A turn past the runtime's max_total_spawns or token budget fails the process with
    the runtime's typed error."""

    @agent_process
    async def twice() -> None:
        bot = await agent("bot", model=calling(lambda p, i: None))
        await bot.send("one")
        await bot.send("two")

    capped = AgentRuntime(RuntimeOptions(max_total_spawns=1))
    with use_runtime(capped), pytest.raises(SpawnCapError):
        await twice()
    budget = TokenBudget(limit=10)
    broke = AgentRuntime(RuntimeOptions(token_budget=budget))
    with use_runtime(broke), pytest.raises(BudgetExceededError):
        await twice()


async def test_current_runtime_is_the_roots_runtime_in_every_process() -> None:
    """Nested processes inherit the root's runtime."""
    runtime = AgentRuntime()

    @agent_process
    async def child() -> AgentRuntime:
        return current_runtime()

    @agent_process(runtime=runtime)
    async def root() -> tuple[AgentRuntime, AgentRuntime]:
        return current_runtime(), await child()

    assert await root() == (runtime, runtime)


async def test_logs_are_written_and_readable_after_the_run(murmur_home) -> None:
    """The run leaves run.json, runtime.jsonl and one JSONL log per agent."""

    @agent_process
    async def proc() -> str:
        helper = await agent("helper", model=calling(lambda p, i: None, reply="yo"))
        emit("custom", {"k": 1})
        return await helper.send("hello")

    assert await proc() == "yo"
    [run_dir] = (murmur_home / "logs").iterdir()
    meta = json.loads((run_dir / "run.json").read_text())
    assert (meta["root"], meta["status"]) == ("proc", "done")
    lines = [json.loads(x) for x in (run_dir / "runtime.jsonl").read_text().splitlines()]
    types = [x["event_type"] for x in lines]
    assert {"process_started", "process_emitted", "agent_completed", "process_done"} <= set(types)
    [agent_log] = (run_dir / "agents").iterdir()
    assert agent_log.name.startswith("helper.")
    agent_types = [json.loads(x)["event_type"] for x in agent_log.read_text().splitlines()]
    assert agent_types == ["agent_spawned", "agent_completed"]
    assert not list((murmur_home / "runtimes").iterdir())  # the socket is gone


async def test_the_registered_agent_of_a_name_backs_a_handle() -> None:
    """agent(name) uses the runtime's registered agent of that name (model, trust...)."""
    runtime = AgentRuntime()
    runtime.register(Agent(name="known", model=calling(lambda p, i: None, reply="registered")))

    @agent_process
    async def proc() -> str:
        known = await agent("known", system_prompt="be brief")
        assert known.spec.instructions == "be brief"
        return await known.send("x")

    with use_runtime(runtime):
        assert await proc() == "registered"


async def test_two_roots_on_one_runtime_keep_their_own_logs(murmur_home) -> None:
    """Concurrent root processes sharing a runtime each log only their own events."""

    @agent_process
    async def proc(word: str) -> str:
        helper = await agent("helper", model=calling(lambda p, i: None, reply=word))
        emit("word", word)
        return await helper.send(word)

    with use_runtime(AgentRuntime()):
        assert await asyncio.gather(proc("a"), proc("b")) == ["a", "b"]
    for run_dir in (murmur_home / "logs").iterdir():
        lines = [json.loads(x) for x in (run_dir / "runtime.jsonl").read_text().splitlines()]
        words = [x["payload"]["data"] for x in lines if x["event_type"] == "process_emitted"]
        assert len(words) == 1
        assert sum(x["event_type"] == "agent_completed" for x in lines) == 1


async def test_sending_to_an_agent_from_inside_its_own_turn_is_refused() -> None:
    """A handler that sends to its own agent would wait forever: it fails the turn instead."""

    @agent_process
    async def proc() -> None:
        bot = await agent("bot", model=calling(lambda p, i: ("again", {}) if p == "go" else None))

        @bot.on("again")
        async def again() -> str:
            """Talk to yourself."""
            return await bot.send("nested")

        await bot.send("go")

    with pytest.raises(SpawnError, match="inside its own turn"):
        await proc()
