"""Events reach the SDK in batches, off the run's path: within the batch delay without any
call, at once on `flush()`, when the runtime closes, when a worker stops and when the
interpreter exits; a run sent to a fleet starts its span at once; one failing event does not
stop the rest; runs in several threads share the batch."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from murmur_otel import OTelEmitter
from murmur_otel._batch import BATCH
from murmur_otel._spans import SPANS

from murmur import Agent, AgentRuntime
from murmur.events import MultiEventEmitter, NullEventEmitter, RuntimeEvent, flush_emitter
from murmur.worker import Worker

sys.path.insert(0, str(Path(__file__).parent))

from _agents import answers, calls_then_answers
from conftest import Telemetry, make_telemetry

_REPO = Path(__file__).resolve().parents[3]


@contextlib.asynccontextmanager
async def _held() -> AsyncGenerator[None]:
    """The batch waits for a minute: only a flush (or what the test checks) hands it over."""
    delay = BATCH.delay_s
    BATCH.delay_s = 60.0
    BATCH.flush()
    await asyncio.sleep(0.3)  # a wait the drain thread began before is over
    try:
        yield
    finally:
        BATCH.delay_s = delay


async def _serve_far(telemetry: Telemetry) -> tuple[str, Worker, asyncio.Task[None]]:
    """A worker on a fresh memory:// fleet running agent `far`, recording to `telemetry`."""
    url = f"memory://batch-{uuid.uuid4().hex}"
    worker_runtime = AgentRuntime(event_emitter=telemetry.emitter)
    worker = Worker(url, {"far": Agent(name="far", model=answers())}, runtime=worker_runtime)
    serving = asyncio.create_task(worker.start())
    await worker.wait_ready()
    return url, worker, serving


def _names(telemetry: Telemetry) -> list[str]:
    """The spans ended so far, without handing the batch over first."""
    return sorted(s.name for s in telemetry.spans.get_finished_spans())


async def test_events_wait_in_the_batch_and_reach_the_sdk_within_its_delay(
    telemetry: Telemetry,
) -> None:
    """Right after a run its spans may still wait; with no call at all they are exported
    within the batch delay (0.2 s), and the metrics with them."""
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    result = await runtime.run(Agent(name="later", model=answers()), "x")
    assert result.is_ok(), result.error
    for _ in range(250):  # 5 s at most
        if "invoke_agent later" in _names(telemetry):
            break
        await asyncio.sleep(0.02)
    assert _names(telemetry) == ["invoke_agent later"]
    assert len(BATCH) == 0


async def test_flush_hands_the_batch_over_at_once() -> None:
    """`flush()` returns with every waiting event handled; `force_flush()` too, and then
    the providers have exported (a periodic reader would have collected)."""
    telemetry = make_telemetry()
    async with _held():
        runtime = AgentRuntime(event_emitter=telemetry.emitter)
        await runtime.run(Agent(name="asked", model=answers()), "x")
        assert _names(telemetry) == []
        assert len(BATCH) >= 2
        telemetry.emitter.flush()
        assert _names(telemetry) == ["invoke_agent asked"]
        await runtime.run(Agent(name="forced", model=answers()), "x")
        assert telemetry.emitter.force_flush() is True
        assert "invoke_agent forced" in _names(telemetry)


async def test_a_sdk_that_falls_behind_makes_the_runs_wait_instead_of_the_queue_growing() -> None:
    """Past `max_queue` waiting events, the emitting thread hands the queue over itself:
    nothing is dropped and the queue stays bounded."""
    telemetry = make_telemetry()
    limit = BATCH.max_queue
    async with _held():
        BATCH.max_queue = 6
        try:
            runtime = AgentRuntime(event_emitter=telemetry.emitter)
            agent = Agent(name="bounded", model=answers())
            sizes = []
            for _ in range(10):
                await runtime.run(agent, "x")  # two events each
                sizes.append(len(BATCH))
        finally:
            BATCH.max_queue = limit
        assert max(sizes) < 6
        assert len(_names(telemetry)) >= 6  # handed over without a flush or the delay
        telemetry.emitter.flush()
        assert _names(telemetry) == ["invoke_agent bounded"] * 10


async def test_batch_false_hands_each_event_over_before_emit_returns() -> None:
    """With `batch=False` nothing waits: the spans are there when the run returns."""
    telemetry = make_telemetry(batch=False)
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    runtime.tools.register("t", lambda: "ok")
    await runtime.run(Agent(name="now", model=calls_then_answers("t", {}), tools=("t",)), "x")
    assert _names(telemetry) == ["execute_tool t", "invoke_agent now"]


async def test_closing_the_runtime_hands_the_batch_over() -> None:
    """`async with AgentRuntime(...)`: when the block ends, the spans are exported, also
    through a `MultiEventEmitter`."""
    telemetry = make_telemetry()
    async with _held():
        emitter = MultiEventEmitter([NullEventEmitter(), telemetry.emitter])
        async with AgentRuntime(event_emitter=emitter) as runtime:
            await runtime.run(Agent(name="closing", model=answers()), "x")
        assert _names(telemetry) == ["invoke_agent closing"]


async def test_a_stopping_worker_hands_the_batch_over() -> None:
    """A worker's spans are exported when it stops, whatever the delay."""
    telemetry = make_telemetry()
    async with _held():
        url, worker, serving = await _serve_far(telemetry)
        caller = AgentRuntime(broker=url, event_emitter=NullEventEmitter())
        try:
            result = await caller.run(Agent(name="far", model="test"), "x")
        finally:
            await caller.aclose()
        assert result.is_ok(), result.error
        await worker.stop()
        await serving
        assert _names(telemetry) == ["invoke_agent far"]


async def test_a_dispatched_run_starts_its_span_at_once() -> None:
    """The caller's span of a run sent to a fleet is started before the task is sent (its id
    goes into the envelope as the traceparent), even with the batch waiting."""
    telemetry = make_telemetry()
    async with _held():
        url, worker, serving = await _serve_far(telemetry)
        open_before = len(SPANS.runs)
        seen: list[int] = []

        async def watch() -> None:
            while not seen:
                if len(SPANS.runs) > open_before:
                    seen.append(len(SPANS.runs))
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        async with AgentRuntime(broker=url, event_emitter=telemetry.emitter) as caller:
            result = await caller.run(Agent(name="far", model="test"), "x")
        await asyncio.wait_for(watcher, 5)
        await worker.stop()
        await serving
        assert result.is_ok(), result.error
        spans = telemetry.finished()
        client = next(s for s in spans if s.kind.name == "CLIENT")
        executed = next(s for s in spans if s.kind.name == "INTERNAL")
        assert executed.parent is not None
        assert executed.parent.span_id == client.context.span_id
        assert seen, "the dispatch span was open while the run was on the fleet"


async def test_one_failing_event_does_not_stop_the_rest(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that raises is logged (`murmur.otel`); the other events of the batch are
    still handed over, and the run is unaffected."""
    assert telemetry.emitter.metrics is not None
    metrics = telemetry.emitter.metrics

    def boom(*_: object) -> None:
        raise RuntimeError("exporter bug")

    telemetry.emitter._on_metric = {kind: boom for kind in telemetry.emitter._on_metric}
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    result = await runtime.run(Agent(name="survives", model=answers()), "x")
    assert result.is_ok(), result.error
    with caplog.at_level("WARNING", logger="murmur.otel"):
        telemetry.emitter.flush()
    assert [s.name for s in telemetry.finished()] == ["invoke_agent survives"]
    assert any("exporter bug" in r.getMessage() for r in caplog.records)
    assert metrics is telemetry.emitter.metrics


def test_runs_in_several_threads_share_the_batch() -> None:
    """Four threads, each with its own event loop, run through one emitter at once: every
    run has its span, every span was ended."""
    telemetry = make_telemetry()
    before = SPANS.open_spans()
    errors: list[BaseException] = []

    def serve(index: int) -> None:
        async def main() -> None:
            runtime = AgentRuntime(event_emitter=telemetry.emitter)
            agent = Agent(name=f"thread-{index}", model=calls_then_answers("t", {}), tools=("t",))
            runtime.tools.register("t", lambda: "ok")
            results = await runtime.gather(agent, [f"q{i}" for i in range(25)])
            assert all(r.is_ok() for r in results)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=serve, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    telemetry.emitter.flush()
    spans = telemetry.finished()
    for index in range(4):
        assert len([s for s in spans if s.name == f"invoke_agent thread-{index}"]) == 25
    assert len([s for s in spans if s.name == "execute_tool t"]) == 100
    assert SPANS.open_spans() == before


_AT_EXIT = """
import asyncio, json, sys
from pathlib import Path
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

class ToFile(SpanExporter):
    def export(self, spans):
        with open(sys.argv[1], "a") as out:
            for span in spans:
                out.write(span.name + "\\n")
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ToFile()))
from murmur import Agent, AgentRuntime
from murmur.events import OTelEmitter
from murmur_otel._batch import BATCH

BATCH.delay_s = 60.0  # only the exit can hand the batch over
runtime = AgentRuntime(event_emitter=OTelEmitter(tracer_provider=provider, from_env=False))
result = asyncio.run(runtime.run(Agent(name="last-words", model="test"), "x"))
assert result.is_ok()
print("queued", len(BATCH))
"""


def test_the_interpreter_exit_hands_the_batch_over(tmp_path: Path) -> None:
    """A script that neither flushes nor closes its runtime still exports its last spans:
    the batch is handed over at exit, before the provider's own shutdown."""
    out = tmp_path / "spans.txt"
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(_AT_EXIT))
    done = subprocess.run(
        [sys.executable, str(script), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=_REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "queued 2" in done.stdout
    assert out.read_text().split() == ["invoke_agent", "last-words"]


def test_flush_emitter_ignores_emitters_without_flush_and_logs_a_failing_one() -> None:
    """`flush_emitter` is for any emitter: no `flush` is fine, a raising one is logged."""

    class Broken:
        async def emit(self, event: object) -> None:
            return None

        def flush(self) -> None:
            raise RuntimeError("disk full")

    with structlog.testing.capture_logs() as logs:
        flush_emitter(NullEventEmitter())
        flush_emitter(MultiEventEmitter([Broken(), NullEventEmitter()]))
    assert [(e["event"], e["emitter"]) for e in logs] == [("emitter_flush_failed", "Broken")]
    assert "disk full" in logs[0]["error"]


def test_the_emitter_in_the_plugin_host_batches_by_default() -> None:
    """`event_emitter="otel"` builds a batching `OTelEmitter`."""
    runtime = AgentRuntime(event_emitter="otel")
    emitter = runtime.event_emitter
    assert isinstance(emitter, OTelEmitter)
    assert emitter.batch is True


async def test_a_shorter_delay_applies_to_the_wait_already_begun() -> None:
    """The drain thread reads the delay on every wake-up: events queued while it waited out a
    long delay are handed over within the shorter one set meanwhile."""
    telemetry = make_telemetry()
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    async with _held():
        await runtime.run(Agent(name="first", model=answers()), "x")  # the thread waits 60 s
        await asyncio.sleep(0.05)
        telemetry.emitter.flush()
    await runtime.run(Agent(name="second", model=answers()), "x")  # the delay is 0.2 s again
    for _ in range(100):  # 2 s at most
        if "invoke_agent second" in _names(telemetry):
            break
        await asyncio.sleep(0.02)
    assert "invoke_agent second" in _names(telemetry)


async def test_a_run_s_events_are_built_in_the_batch_with_the_time_they_happened() -> None:
    """The kernel hands murmur-otel each event about a run as its fields (`emit_run`): the
    event is built when the batch is handed over, and its span keeps the times the run
    started and ended, not the time of the hand-over. The single-signal emitters take the
    fields the same way."""
    telemetry, spans_only, metrics_only = make_telemetry(), make_telemetry(), make_telemetry()
    assert spans_only.emitter.traces is not None
    assert metrics_only.emitter.metrics is not None
    ran: dict[str, tuple[int, int]] = {}
    async with _held():
        for name, emitter in [
            ("both", telemetry.emitter),
            ("spans", spans_only.emitter.traces),
            ("metrics", metrics_only.emitter.metrics),
        ]:
            runtime = AgentRuntime(event_emitter=emitter)
            before = time.time_ns()
            assert (await runtime.run(Agent(name=name, model=answers()), "x")).is_ok()
            ran[name] = (before, time.time_ns())
        await asyncio.sleep(0.3)
        assert _names(telemetry) == []
        assert _names(spans_only) == []
        handed_over = time.time_ns()
        BATCH.flush()
    for name, done in [("both", telemetry), ("spans", spans_only)]:
        (span,) = done.named(f"invoke_agent {name}")
        before, after = ran[name]
        assert span.start_time is not None
        assert span.end_time is not None
        assert before <= span.start_time <= span.end_time <= after < handed_over - 250_000_000
    for done in (telemetry, metrics_only):
        assert done.points("gen_ai.invoke_agent.duration"), "the run's duration was recorded"


async def test_an_event_that_cannot_be_built_is_logged_and_the_rest_handed_over(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Building the events of a batch is guarded like handing them over: one that fails is
    logged (`murmur.otel`), the other events of the batch reach the SDK, and the drain
    thread goes on with the next batch."""
    import murmur_otel._batch as batch_module

    real = batch_module.run_event

    def fails_for_broken(*fields: Any) -> RuntimeEvent:
        if fields[1] == "broken":
            raise RuntimeError("cannot build")
        return real(*fields)

    monkeypatch.setattr(batch_module, "run_event", fails_for_broken)
    telemetry = make_telemetry()
    async with _held():
        runtime = AgentRuntime(event_emitter=telemetry.emitter)
        for name in ("before", "broken", "after"):
            assert (await runtime.run(Agent(name=name, model=answers()), "x")).is_ok()
        with caplog.at_level("WARNING", logger="murmur.otel"):
            BATCH.flush()
    assert _names(telemetry) == ["invoke_agent after", "invoke_agent before"]
    assert any("cannot build" in r.getMessage() for r in caplog.records)
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    assert (await runtime.run(Agent(name="later", model=answers()), "x")).is_ok()
    for _ in range(250):  # the drain thread hands the next batch over by itself (5 s at most)
        if "invoke_agent later" in _names(telemetry):
            break
        await asyncio.sleep(0.02)
    assert "invoke_agent later" in _names(telemetry)
