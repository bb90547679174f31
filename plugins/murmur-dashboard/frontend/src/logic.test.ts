import { describe as group, expect, it } from "vitest";
import { bars, buildTree, describe, errorRate, fmtUsd, groupDag, nodeMetrics, periodStart, throughput, workerState } from "./logic";
import type { RunInfo, RuntimeEvent } from "./types";

let n = 0;
function event(type: string, trace: string, extra: Partial<RuntimeEvent> = {}): RuntimeEvent {
  n += 1;
  return {
    id: `e${n}`,
    event_type: type,
    trace_id: trace,
    agent_name: extra.agent_name ?? trace,
    parent_trace_id: extra.parent_trace_id ?? null,
    timestamp: extra.timestamp ?? 1000 + n,
    payload: extra.payload ?? {},
  };
}

function run(status: RunInfo["status"], updated: number): RunInfo {
  return { run_id: `${status}${updated}`, kind: "agent", status, created_at: updated - 1, updated_at: updated };
}

group("buildTree", () => {
  const events = [
    event("agent_spawned", "root", { agent_name: "orchestrator", payload: { model: "m1" } }),
    event("agent_spawned", "a", { agent_name: "scout-a", parent_trace_id: "root" }),
    event("agent_spawned", "b", { agent_name: "scout-b", parent_trace_id: "root" }),
    event("agent_retried", "b", { parent_trace_id: "root" }),
    event("agent_completed", "a", {
      parent_trace_id: "root",
      payload: { input_tokens: 100, output_tokens: 20, cost_usd: 0.5, duration_ms: 40, attempts: 1 },
    }),
    event("agent_failed", "b", {
      parent_trace_id: "root",
      payload: { code: "spawn_failed", error: "model down", duration_ms: 12, attempts: 2 },
    }),
    event("agent_completed", "root", { payload: { input_tokens: 200, output_tokens: 40, cost_usd: 1 } }),
  ];

  it("nests children under their parent with their figures and sums the tree", () => {
    const tree = buildTree(null, events, "root");
    expect(tree.name).toBe("orchestrator");
    expect(tree.children.map((c) => c.name)).toEqual(["scout-a", "scout-b"]);
    const [a, b] = tree.children;
    expect([a.status, a.metrics.inputTokens + a.metrics.outputTokens, a.metrics.durationMs]).toEqual(["completed", 120, 40]);
    expect([b.status, b.metrics.errorCode, b.metrics.attempts, b.metrics.retries]).toEqual(["failed", "spawn_failed", 2, 1]);
    expect(tree.totalTokens).toBe(360);
    expect(tree.totalCost).toBe(1.5);
    expect(tree.metrics.model).toBe("m1");
  });

  it("merges the server's tree: its children and statuses show before any event", () => {
    const tree = buildTree(
      {
        trace_id: "root",
        agent_name: "orchestrator",
        status: "running",
        children: [{ trace_id: "x", agent_name: "late-child", status: "completed", children: [] }],
      },
      [],
      "root",
    );
    expect(tree.status).toBe("running");
    expect(tree.children.map((c) => [c.name, c.status])).toEqual([["late-child", "completed"]]);
  });

  it("adds a child that started after the tree was read (live)", () => {
    const tree = buildTree({ trace_id: "root", agent_name: "orchestrator", children: [] }, events.slice(0, 2), "root");
    expect(tree.children.map((c) => [c.name, c.status])).toEqual([["scout-a", "running"]]);
  });

  it("survives a parent cycle in bad data", () => {
    const cyc = [
      event("agent_spawned", "p", { parent_trace_id: "q" }),
      event("agent_spawned", "q", { parent_trace_id: "p" }),
    ];
    const tree = buildTree(null, cyc, "p");
    expect(tree.children.map((c) => c.traceId)).toEqual(["q"]);
    expect(tree.children[0].children).toEqual([]);
  });
});

group("agent processes", () => {
  const events = [
    event("process_started", "root", { agent_name: "supervise", timestamp: 10 }),
    event("process_started", "child", { agent_name: "summarise", parent_trace_id: "root", timestamp: 11 }),
    event("process_emitted", "child", { parent_trace_id: "root", payload: { type: "asked", data: { topic: "x" } } }),
    event("endpoint_called", "child", { parent_trace_id: "root", payload: { endpoint: "status", args: {} } }),
    event("endpoint_returned", "child", {
      parent_trace_id: "root",
      payload: { endpoint: "status", ok: true, result: "busy", duration_ms: 0.5 },
    }),
    event("agent_spawned", "turn", { agent_name: "summariser", parent_trace_id: "child", timestamp: 12 }),
    event("agent_completed", "turn", {
      parent_trace_id: "child",
      timestamp: 13,
      payload: { input_tokens: 100, output_tokens: 20, duration_ms: 70 },
    }),
    event("process_done", "child", { parent_trace_id: "root", timestamp: 13.5, payload: { result: "fine" } }),
    event("process_failed", "root", { timestamp: 14, payload: { code: "process_failed", error: "gave up" } }),
  ];

  it("nests child processes and their agent runs, with each node's kind, status and figures", () => {
    const tree = buildTree(null, events, "root");
    const [child] = tree.children;
    const [turn] = child.children;
    expect([tree.name, tree.metrics.kind, tree.status, tree.metrics.errorCode]).toEqual([
      "supervise",
      "process",
      "failed",
      "process_failed",
    ]);
    expect([child.name, child.metrics.kind, child.status, child.metrics.result]).toEqual([
      "summarise",
      "process",
      "completed",
      "fine",
    ]);
    expect([child.metrics.emitted, child.metrics.endpointCalls, child.metrics.durationMs]).toEqual([1, 1, 2500]);
    expect([child.metrics.attempts, tree.metrics.durationMs]).toEqual([0, 4000]);
    expect([turn.name, turn.metrics.kind, turn.status, turn.totalTokens]).toEqual(["summariser", "agent", "completed", 120]);
    expect(tree.totalTokens).toBe(120);
  });

  it("counts a restarting supervisor's attempts from its restarting events", () => {
    const m = nodeMetrics([
      event("process_started", "sup"),
      event("process_emitted", "sup", { payload: { type: "restarting", data: { attempt: 2 } } }),
      event("process_emitted", "sup", { payload: { type: "restarting", data: { attempt: 3 } } }),
      event("process_done", "sup"),
    ]).get("sup")!;
    expect([m.attempts, m.emitted, m.status]).toEqual([3, 2, "completed"]);
  });

  it("says what process events carry in the timeline", () => {
    expect(events.map(describe).slice(1, 5)).toEqual([
      "child of root",
      'asked: {"topic":"x"}',
      "status({})",
      'status → "busy" in 0.5 ms',
    ]);
    expect(describe(events[8])).toBe("process_failed: gave up");
  });
});

group("nodeMetrics", () => {
  it("derives the duration from timestamps when the event has none, attempts from retries", () => {
    const m = nodeMetrics([
      event("agent_spawned", "t", { timestamp: 10 }),
      event("agent_retried", "t", { timestamp: 11 }),
      event("agent_completed", "t", { timestamp: 12.5 }),
    ]).get("t")!;
    expect([m.durationMs, m.attempts, m.costUsd]).toEqual([2500, 2, null]);
  });
});

group("groupDag", () => {
  it("puts nodes in dependency layers", () => {
    const started = event("group_started", "g", {
      payload: { nodes: ["a", "b", "c", "d"], edges: [["a", "b"], ["a", "c"], ["b", "d"], ["c", "d"]] },
    });
    expect(groupDag([started], "g")!.layers).toEqual([["a"], ["b", "c"], ["d"]]);
    expect(groupDag([started], "other")).toBeNull();
  });
});

group("throughput", () => {
  it("counts finished runs per minute and the failure rate over the window", () => {
    const now = 6000;
    const flow = throughput(
      [run("completed", now - 30), run("completed", now - 90), run("failed", now - 95), run("running", now), run("completed", now - 3600)],
      now,
      15,
    );
    expect(flow.buckets).toHaveLength(15);
    expect([flow.completed, flow.failed]).toEqual([2, 1]);
    expect(flow.failureRate).toBeCloseTo(1 / 3);
    expect(flow.buckets.reduce((s, b) => s + b.completed + b.failed, 0)).toBe(3);
  });

  it("has no failure rate without finished runs", () => {
    expect(throughput([], 100, 5).failureRate).toBeNull();
  });
});

group("aggregations and formats", () => {
  it("scales bars to the largest value, largest first", () => {
    const items = bars([{ key: "a", total_tokens: 50 }, { key: "b", total_tokens: 200 }, { key: null, total_tokens: 0 }], "total_tokens");
    expect(items.map((i) => [i.label, i.fraction])).toEqual([["b", 1], ["a", 0.25], ["(none)", 0]]);
    expect(bars([{ key: "z", cost_usd: 0 }], "cost_usd")[0].fraction).toBe(0);
  });

  it("gives error rates, worker states, periods and USD", () => {
    expect(errorRate({ name: "t", calls: 4, failed: 1 })).toBe(0.25);
    expect(errorRate({ name: "t", calls: 0 })).toBeNull();
    expect(workerState({ worker_id: "w", status: "stale" })).toBe("late");
    expect(workerState({ worker_id: "w", status: "stopped" })).toBe("gone");
    expect(periodStart("1h", 7200)).toBe("1970-01-01T01:00:00.000Z");
    expect(periodStart("all", 7200)).toBeUndefined();
    expect([fmtUsd(0), fmtUsd(0.000027), fmtUsd(0.0018), fmtUsd(12.5)]).toEqual(["$0", "$0.000027", "$0.0018", "$12.50"]);
  });
});
