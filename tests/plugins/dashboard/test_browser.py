"""The dashboard in a real browser (Debian's Chromium) against a real `murmur serve`.

Each page is checked against the API's own figures, and saved as a screenshot for
docs/dashboard.md. Every request the page makes off the server is blocked and must not
happen (no CDN).
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from murmur.testing import require_service

from .conftest import HERE, TOKEN, Served, open_page, screenshot, start_server, stop_server

URL = "/dashboard/"


def _fmt(n: int) -> str:
    return f"{n:,}"


def test_a_wrong_token_shows_the_sign_in_then_the_right_one_opens_the_fleet(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """No token: the sign-in form, not a blank page; a wrong one says so; the right one works."""
    page = open_page(browser, served, offsite, token=None)
    page.goto(served.url + URL)
    form = page.get_by_test_id("signin")
    expect(form).to_be_visible()
    page.get_by_label("token").fill("not-the-token-at-all")
    page.get_by_role("button", name="Sign in").click()
    expect(form.get_by_role("alert")).to_contain_text("refused this token")
    screenshot(page, "signin")
    page.get_by_label("token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Fleet")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('murmur.dashboard.token')") == TOKEN
    assert offsite == []


def test_fleet_shows_the_runtime_counters_and_the_budget(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """Fleet: runs finished and failed, throughput and failure rate, tokens, the budget."""
    page = open_page(browser, served, offsite)
    page.goto(served.url + URL + "#/fleet")
    stats = served.get("/runtime/stats")
    expect(page.get_by_test_id("stat-completed")).to_contain_text(_fmt(stats["completed"]))
    expect(page.get_by_test_id("stat-failed")).to_contain_text(_fmt(stats["failed"]))
    tokens = stats["input_tokens"] + stats["output_tokens"]
    expect(page.get_by_test_id("stat-tokens")).to_contain_text(_fmt(tokens))
    expect(page.get_by_test_id("budget")).to_contain_text("dashboard-tests")
    expect(page.get_by_test_id("budget")).to_contain_text(_fmt(stats["budget"]["used"]))
    runs = served.get("/runs", limit=1000)["runs"]
    done = [r for r in runs if r["status"] in ("completed", "failed")]
    failed = [r for r in done if r["status"] == "failed"]
    rate = f"{math.floor(100 * len(failed) / len(done) + 0.5)}%"  # as JS toFixed(0)
    expect(page.get_by_test_id("stat-failure-rate")).to_contain_text(rate)
    expect(page.get_by_text("No workers seen")).to_be_visible()
    screenshot(page, "fleet")
    assert offsite == []


def test_fleet_lists_the_runs_in_flight(browser: Any, served: Served, offsite: list[str]) -> None:
    """A run that is still executing shows under "Running now" and in the in-flight count."""
    run_id = served.start("sleeper", "4")
    page = open_page(browser, served, offsite)
    page.goto(served.url + URL + "#/fleet")
    expect(page.get_by_test_id("running").locator(f'tr[data-run-id="{run_id}"]')).to_be_visible()
    expect(page.get_by_test_id("stat-in-flight")).to_contain_text("1")
    served.wait(run_id)
    assert offsite == []


REDIS = ("127.0.0.1", 6379)


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """A Redis broker URL with a namespace of the test's own, deleted afterwards."""
    import redis

    require_service("Redis", *REDIS)
    namespace = f"dash-{uuid.uuid4().hex}"
    yield f"redis://{REDIS[0]}:{REDIS[1]}/0?namespace={namespace}"
    client = redis.Redis(host=REDIS[0], port=REDIS[1], db=0)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


def _worker(broker: str, consumer_id: str, log: Path) -> subprocess.Popen[bytes]:
    """A `murmur worker start` process heartbeating every 0.3 s (late after 0.9 s)."""
    command = [
        str(Path(sys.executable).with_name("murmur")), "worker", "start",
        "--agents", "idle", "--app", "_dash_worker:agents",
        "--broker", broker, "--consumer-id", consumer_id, "--heartbeat-interval", "0.3",
        "--stop-timeout", "2", "--no-log-events",
    ]  # fmt: skip
    with log.open("wb") as out:
        env = {**os.environ, "PYTHONPATH": str(HERE)}
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def _workers_are(served: Served, expected: dict[str, str], within_s: float = 30) -> None:
    """Wait until `GET /runtime/stats` reports each worker in its expected status."""
    deadline = time.monotonic() + within_s
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        seen = {w["worker_id"]: w["status"] for w in served.get("/runtime/stats")["workers"]}
        if all(seen.get(worker) == status for worker, status in expected.items()):
            return
        time.sleep(0.1)
    raise AssertionError(f"workers {seen}, expected {expected}")


@pytest.mark.services
def test_fleet_shows_workers_alive_then_late_or_gone(
    browser: Any, tmp_path: Path, dashboard_built: None, redis_broker: str, offsite: list[str]
) -> None:
    """Two `murmur worker start` processes on Redis show alive; then the one stopped shows
    gone, and the one SIGKILLed shows late once it has missed three heartbeats."""
    suffix = uuid.uuid4().hex[:6]
    names = {role: f"{role}-{suffix}" for role in ("stops", "dies")}
    workers = {
        role: _worker(redis_broker, name, tmp_path / f"{name}.log") for role, name in names.items()
    }  # started with the server, in parallel: their heartbeats tell it they are alive
    served: Served | None = None
    try:
        served = start_server(tmp_path, extra_env={"MURMUR_DASHBOARD_TEST_BROKER": redis_broker})
        _workers_are(served, {name: "alive" for name in names.values()})
        page = open_page(browser, served, offsite)
        page.goto(served.url + URL + "#/fleet")
        table = page.get_by_test_id("workers")
        for name in names.values():
            row = table.locator(f'tr[data-worker-id="{name}"]')
            expect(row).to_contain_text("alive")
            expect(row).to_contain_text("idle")

        workers["stops"].send_signal(signal.SIGTERM)
        workers["dies"].kill()
        assert workers["stops"].wait(timeout=15) == 0
        _workers_are(served, {names["stops"]: "stopped", names["dies"]: "stale"})
        page.reload()
        for role, state in (("stops", "gone"), ("dies", "late")):
            expect(table.locator(f'tr[data-worker-id="{names[role]}"]')).to_contain_text(state)
        screenshot(page, "workers")
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=5)
        if served is not None:
            stop_server(served)
    assert offsite == []


def test_runs_lists_filters_and_pages(browser: Any, served: Served, offsite: list[str]) -> None:
    """Runs: every seeded run, then filtered by status, agent and text."""
    page = open_page(browser, served, offsite)
    page.goto(served.url + URL + "#/runs")
    table = page.get_by_test_id("runs")
    for run_id in served.runs.values():
        expect(table.locator(f'tr[data-run-id="{run_id}"]')).to_be_visible()
    children = served.get("/runs", parent_trace_id=served.runs["orchestrator"])["runs"]
    assert {r["agent_name"] for r in children} == {"scout-a", "scout-b"}
    expect(table.locator(f'tr[data-run-id="{children[0]["run_id"]}"]')).to_be_visible()
    screenshot(page, "runs")

    page.get_by_label("status").select_option("failed")
    expect(table.locator("tbody tr")).to_have_count(1)
    row = table.locator(f'tr[data-run-id="{served.runs["broken"]}"]')
    expect(row).to_contain_text("spawn_failed")
    page.get_by_label("status").select_option("")
    page.get_by_label("agent").select_option("pipeline")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator(f'tr[data-run-id="{served.runs["pipeline"]}"]')).to_be_visible()
    page.get_by_label("agent").select_option("")
    page.get_by_label("search").fill("model is down")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(row).to_be_visible()
    page.get_by_label("search").fill("no run has this text")
    expect(page.get_by_text("No run matches these filters.")).to_be_visible()
    assert offsite == []


def test_a_run_started_now_appears_in_the_list_and_the_live_stream_without_a_reload(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """Live updates: the Runs list and the Live page pick up a new run as it happens."""
    runs_page = open_page(browser, served, offsite)
    runs_page.goto(served.url + URL + "#/runs")
    expect(runs_page.get_by_test_id("runs")).to_be_visible()
    live_page = open_page(browser, served, offsite)
    live_page.goto(served.url + URL + "#/live")
    expect(live_page.get_by_test_id("stream-state")).to_have_text("live")

    run_id = served.start("echo", "started during the test")
    served.wait(run_id)
    expect(runs_page.locator(f'tr[data-run-id="{run_id}"]')).to_be_visible()
    expect(runs_page.locator(f'tr[data-run-id="{run_id}"]')).to_contain_text("completed")
    events = live_page.get_by_test_id("events")
    expect(events.locator(f'tr[data-trace-id="{run_id}"]')).to_have_count(2)
    expect(
        events.locator(f'tr[data-trace-id="{run_id}"][data-event-type="agent_completed"]')
    ).to_be_visible()
    assert offsite == []


def test_live_pauses_and_resumes_without_losing_events(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """Pause, let runs happen, resume: the missed events arrive (Last-Event-ID), none twice."""
    page = open_page(browser, served, offsite)
    page.goto(served.url + URL + "#/live")
    expect(page.get_by_test_id("stream-state")).to_have_text("live")
    first = served.start("echo", "before the pause")
    served.wait(first)
    events = page.get_by_test_id("events")
    expect(events.locator(f'tr[data-trace-id="{first}"]')).to_have_count(2)
    page.get_by_test_id("pause").click()
    expect(page.get_by_test_id("stream-state")).to_have_text("paused")
    missed = [served.start("echo", f"while paused {i}") for i in range(3)]
    for run_id in missed:
        served.wait(run_id)
    page.wait_for_timeout(300)
    for run_id in missed:
        expect(events.locator(f'tr[data-trace-id="{run_id}"]')).to_have_count(0)
    page.get_by_test_id("pause").click()
    expect(page.get_by_test_id("stream-state")).to_have_text("live")
    for run_id in missed:
        expect(events.locator(f'tr[data-trace-id="{run_id}"]')).to_have_count(2)
    expect(events.locator(f'tr[data-trace-id="{first}"]')).to_have_count(2)
    screenshot(page, "live")

    page.get_by_label("type").select_option("agent_completed")
    expect(page.get_by_text("Waiting for events")).to_be_visible()  # a new stream, from now on
    expect(page.get_by_test_id("stream-state")).to_have_text("live")
    rows = events.locator("tbody tr")
    for attempt in range(10):  # the server subscribes just after the stream opens
        served.wait(served.start("echo", f"filtered {attempt}"))
        if rows.count() > 0:
            break
        page.wait_for_timeout(300)
    expect(rows.first).to_have_attribute("data-event-type", "agent_completed")
    expect(events.locator('tr[data-event-type="agent_spawned"]')).to_have_count(0)
    assert offsite == []


def test_live_reconnects_after_a_server_restart_and_loses_no_event(
    browser: Any, tmp_path: Path, dashboard_built: None, offsite: list[str]
) -> None:
    """Server restarted: the page says it is reconnecting, then resumes with Last-Event-ID.

    A run that happens after the restart but before the page is back arrives (replayed
    from the SQLite store), and nothing seen before the restart arrives twice.
    """
    first_server = start_server(tmp_path)
    try:
        page = open_page(browser, first_server, offsite)
        page.goto(first_server.url + URL + "#/live")
        expect(page.get_by_test_id("stream-state")).to_have_text("live")
        before = first_server.start("echo", "before the restart")
        first_server.wait(before)
        events = page.get_by_test_id("events")
        expect(events.locator(f'tr[data-trace-id="{before}"]')).to_have_count(2)
    finally:
        stop_server(first_server)
    expect(page.get_by_test_id("stream-state")).to_have_text("reconnecting")
    port = int(first_server.url.rsplit(":", 1)[1])
    second_server = start_server(tmp_path, port=port)
    try:
        after = second_server.start("echo", "after the restart")
        second_server.wait(after)
        expect(page.get_by_test_id("stream-state")).to_have_text("live", timeout=20_000)
        expect(events.locator(f'tr[data-trace-id="{after}"]')).to_have_count(2)
        expect(events.locator(f'tr[data-trace-id="{before}"]')).to_have_count(2)
    finally:
        stop_server(second_server)
    assert offsite == []


def test_the_inspector_shows_the_spawn_tree_with_each_childs_figures(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """Inspector: the orchestrator's two spawned children, their tokens, the tree's sum."""
    run_id = served.runs["orchestrator"]
    page = open_page(browser, served, offsite)
    page.goto(served.url + URL + f"#/runs/{run_id}")
    tree = page.get_by_test_id("tree")
    for name in ("orchestrator", "scout-a", "scout-b"):
        expect(tree.locator(f'tr[data-name="{name}"]')).to_contain_text("completed")
    for name in ("scout-a", "scout-b"):
        expect(tree.locator(f'tr[data-name="{name}"]')).to_contain_text("120")
        expect(tree.locator(f'tr[data-name="{name}"] td').first).to_contain_text("└")
    usage = served.get("/usage", group_by="trace")
    row = next(r for r in usage["rows"] if r["key"] == run_id)
    expect(page.get_by_test_id("run-tokens")).to_contain_text(_fmt(row["total_tokens"]))
    expect(page.get_by_test_id("run-nodes")).to_contain_text("3")
    timeline = page.get_by_test_id("timeline")
    expect(timeline.locator("li.tool_call_started")).to_contain_text("spawn_agents")
    expect(page.get_by_test_id("output")).to_contain_text("done:")
    tree.locator('tr[data-name="scout-a"]').click()
    expect(page.get_by_test_id("node-detail")).to_contain_text("scout-a")
    expect(page.get_by_test_id("output")).to_contain_text('"summary": "fine"')
    screenshot(page, "inspector")
    assert offsite == []


def test_the_inspector_shows_a_group_graph_and_a_failure_with_its_code(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """Inspector: a group's DAG (draft -> review) and a failed run's error code."""
    page = open_page(browser, served, offsite)
    page.goto(served.url + URL + f"#/runs/{served.runs['pipeline']}")
    dag = page.get_by_test_id("dag")
    expect(dag).to_contain_text("draft")
    expect(dag).to_contain_text("review")
    expect(page.get_by_text("draft → review")).to_be_visible()
    tree = page.get_by_test_id("tree")
    for name in ("draft", "review"):
        expect(tree.locator(f'tr[data-name="{name}"]')).to_contain_text("completed")
    screenshot(page, "group")

    page.goto(served.url + URL + f"#/runs/{served.runs['broken']}")
    row = page.get_by_test_id("tree").locator('tr[data-name="broken"]')
    expect(row).to_contain_text("failed")
    expect(row).to_contain_text("spawn_failed")
    expect(page.get_by_test_id("output")).to_contain_text("the model is down")
    assert offsite == []


def test_the_inspector_shows_a_process_tree_with_its_agent_runs(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """A root process, its child processes and the agent run inside one, each with its
    status; a restarted child's failed attempt with its code; the emitted event and the
    endpoint call in the timeline; a process's result as its output."""
    execution_id = served.execution_id
    tree = served.get(f"/runs/{execution_id}/tree")
    child = next(c for c in tree["children"] if c["agent_name"] == "summarise")
    [turn] = child["children"]
    page = open_page(browser, served, offsite)
    page.goto(served.url + URL + f"#/runs/{execution_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("process run")
    rows = page.get_by_test_id("tree")
    expected = [
        ("supervise", "process", "completed"),
        ("summarise", "process", "completed"),
        ("summariser", "agent", "completed"),
        ("restarting:check", "process", "completed"),
    ]
    for name, kind, status in expected:
        row = rows.locator(f'tr[data-name="{name}"]')
        expect(row).to_have_attribute("data-kind", kind)
        expect(row.locator("td").nth(1)).to_have_text(status)
    for name in ("supervise", "summarise", "summariser"):  # a process: what its agents spent
        expect(rows.locator(f'tr[data-name="{name}"]')).to_contain_text("120")
    expect(rows.locator('tr[data-name="summarise"] td').first).to_contain_text("└")
    expect(rows.locator('tr[data-name="restarting:check"] td').nth(5)).to_have_text("2")
    attempts = rows.locator('tr[data-name="check"]')
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0)).to_contain_text("failed")
    expect(attempts.nth(0).locator("td.error-code")).to_have_text("process_failed")
    expect(attempts.nth(1)).to_contain_text("completed")
    expect(page.get_by_test_id("run-nodes")).to_contain_text("6")
    expect(page.get_by_test_id("run-tokens")).to_contain_text("120")
    timeline = page.get_by_test_id("timeline")
    expect(timeline.locator("li.process_emitted").first).to_contain_text(
        'ready: {"topic":"brokers"}'
    )
    expect(timeline.locator("li.endpoint_called")).to_contain_text("status({})")
    expect(timeline.locator("li.endpoint_returned")).to_contain_text('"summarising brokers"')
    expect(timeline.locator("li.process_failed")).to_contain_text("flaky the first time")
    expect(page.get_by_test_id("output")).to_contain_text('"summary: all fine"')

    attempts.nth(0).click()
    expect(page.get_by_test_id("output")).to_contain_text("process_failed")
    rows.locator('tr[data-name="summariser"]').click()
    detail = page.get_by_test_id("node-detail")
    expect(detail).to_contain_text(turn["trace_id"])
    expect(page.get_by_test_id("output")).to_contain_text('"summary: all fine"')
    rows.locator('tr[data-name="summarise"]').click()
    expect(detail).to_contain_text(child["trace_id"])
    expect(detail).to_contain_text("1 event")
    expect(page.get_by_test_id("output")).to_contain_text('"summary: all fine"')
    screenshot(page, "processes")
    assert offsite == []


def test_an_agent_run_in_the_run_list_leads_to_its_process(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """Runs: the agent run names its process; its link opens the process, whose parent link
    opens the root."""
    execution_id = served.execution_id
    page = open_page(browser, served, offsite)
    page.goto(served.url + URL + "#/runs")
    row = page.get_by_test_id("runs").locator('tr[data-agent="summariser"]')
    expect(row).to_contain_text("completed")
    row.get_by_test_id("in-process").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("of summarise")
    page.get_by_test_id("parent-link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("of supervise")
    expect(page).to_have_url(f"{served.url}{URL}#/runs/{execution_id}")
    assert offsite == []


def test_costs_show_tokens_and_usd_by_model_and_agent(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """Costs: the figures of GET /usage by model and by agent, with bars."""
    page = open_page(browser, served, offsite)
    page.goto(served.url + URL + "#/costs")
    page.get_by_label("period").select_option("all")
    by_model = served.get("/usage", group_by="model")
    by_agent = served.get("/usage", group_by="agent")
    expect(page.get_by_test_id("cost-total-tokens")).to_contain_text(
        _fmt(by_model["total"]["total_tokens"])
    )
    for key, report in (("model", by_model), ("agent", by_agent)):
        table = page.get_by_test_id(f"usage-{key}")
        expect(table.locator("tbody tr")).to_have_count(len(report["rows"]))
        for row in report["rows"]:
            cell = table.locator(f'tr[data-key="{row["key"]}"] td.total-tokens')
            expect(cell).to_have_text(_fmt(row["total_tokens"]))
        bars = page.get_by_test_id(f"bars-{key}-tokens")
        expect(bars.locator("rect.bar")).to_have_count(len(report["rows"]))
    models = {row["key"] for row in by_model["rows"]}
    assert {"gpt-4o-mini", "claude-sonnet-4-5"} <= models
    usd = by_model["total"]["cost_usd"]
    assert usd > 0
    expect(page.get_by_test_id("cost-total-usd")).to_contain_text(f"${usd:.4f}"[:5])
    screenshot(page, "costs")
    assert offsite == []


def test_tools_show_calls_error_rate_and_percentiles(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """Tools: per-tool calls, error rate and p50 / p95 / p99 from GET /tools."""
    page = open_page(browser, served, offsite)
    page.goto(served.url + URL + "#/tools")
    report = served.get("/tools")
    table = page.get_by_test_id("tools")
    for tool in report["tools"]:
        row = table.locator(f'tr[data-tool="{tool["name"]}"]')
        expect(row.locator("td.calls")).to_have_text(str(tool["calls"]))
        expect(row.locator("td.error-rate")).to_have_text("0%")
    assert {t["name"] for t in report["tools"]} >= {"lookup", "spawn_agents"}
    screenshot(page, "tools")
    assert offsite == []


def test_a_server_that_stops_answering_shows_an_error_not_a_blank_page(
    browser: Any, served: Served, offsite: list[str]
) -> None:
    """Server down (requests fail): the page says so and offers a retry."""
    page = open_page(browser, served, offsite)
    page.route(re.compile(r".*/runtime/stats.*"), lambda route: route.abort())
    page.goto(served.url + URL + "#/fleet")
    expect(page.get_by_role("alert")).to_contain_text("cannot be reached")
    page.unroute(re.compile(r".*/runtime/stats.*"))
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_test_id("stat-completed")).to_be_visible()
    assert offsite == []
