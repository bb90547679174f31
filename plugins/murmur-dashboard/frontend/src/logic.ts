// The dashboard's data logic, kept free of React so Vitest can pin it.

import type { RunInfo, RunTreeNode, RuntimeEvent, ToolStat, UsageRow, WorkerInfo } from "./types";

// -- formatting ------------------------------------------------------------------------------

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
}

export function fmtUsd(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return "–";
  if (usd === 0) return "$0";
  if (usd < 0.0001) return `$${usd.toPrecision(2)}`;
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

export function fmtInt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  return Math.round(n).toLocaleString("en-US");
}

export function fmtPct(fraction: number | null): string {
  return fraction === null ? "–" : `${(fraction * 100).toFixed(fraction < 0.1 && fraction > 0 ? 1 : 0)}%`;
}

export function fmtTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19);
}

export function fmtAgo(seconds: number, now: number): string {
  const d = Math.max(0, now - seconds);
  if (d < 60) return `${Math.round(d)} s ago`;
  if (d < 3600) return `${Math.round(d / 60)} min ago`;
  if (d < 86400) return `${Math.round(d / 3600)} h ago`;
  return `${Math.round(d / 86400)} d ago`;
}

// -- periods -----------------------------------------------------------------------------------

export const PERIODS: Record<string, number | null> = {
  "15m": 15 * 60,
  "1h": 3600,
  "24h": 86400,
  "7d": 7 * 86400,
  "30d": 30 * 86400,
  all: null,
};

/** The ISO 8601 start of a period ending `now` (Unix seconds), or undefined for "all". */
export function periodStart(period: string, now: number): string | undefined {
  const span = PERIODS[period];
  if (span === null || span === undefined) return undefined;
  return new Date((now - span) * 1000).toISOString();
}

// -- fleet -------------------------------------------------------------------------------------

export type WorkerState = "alive" | "late" | "gone";

export function workerState(worker: WorkerInfo): WorkerState {
  if (worker.status === "stopped") return "gone";
  if (worker.status === "stale") return "late";
  return "alive";
}

export interface Bucket {
  start: number;
  completed: number;
  failed: number;
}

export interface Throughput {
  buckets: Bucket[];
  completed: number;
  failed: number;
  failureRate: number | null;
  perMinute: number;
}

/** Finished top-level runs per minute over the last `minutes`, and the failure rate. */
export function throughput(runs: RunInfo[], now: number, minutes: number): Throughput {
  const end = Math.floor(now / 60) * 60 + 60;
  const first = end - minutes * 60;
  const buckets: Bucket[] = [];
  for (let i = 0; i < minutes; i++) buckets.push({ start: first + i * 60, completed: 0, failed: 0 });
  let completed = 0;
  let failed = 0;
  for (const run of runs) {
    if (run.status !== "completed" && run.status !== "failed") continue;
    const at = run.updated_at;
    if (at < first || at >= end) continue;
    const bucket = buckets[Math.floor((at - first) / 60)];
    if (run.status === "completed") {
      bucket.completed++;
      completed++;
    } else {
      bucket.failed++;
      failed++;
    }
  }
  const done = completed + failed;
  return {
    buckets,
    completed,
    failed,
    failureRate: done === 0 ? null : failed / done,
    perMinute: done / minutes,
  };
}

// -- costs and tools ---------------------------------------------------------------------------

export interface Bar {
  label: string;
  value: number;
  fraction: number;
}

/** Rows as bars of one metric, largest first, scaled to the largest (0..1). */
export function bars(rows: UsageRow[], metric: "total_tokens" | "cost_usd"): Bar[] {
  const items = rows.map((row) => ({ label: row.key ?? "(none)", value: Number(row[metric] ?? 0) }));
  items.sort((a, b) => b.value - a.value || a.label.localeCompare(b.label));
  const top = items.reduce((max, item) => Math.max(max, item.value), 0);
  return items.map((item) => ({ ...item, fraction: top > 0 ? item.value / top : 0 }));
}

export function errorRate(tool: ToolStat): number | null {
  return tool.calls > 0 ? (tool.failed ?? 0) / tool.calls : null;
}

// -- run inspector -----------------------------------------------------------------------------

export type NodeKind = "agent" | "group" | "process";

export interface NodeMetrics {
  /** What the node is, from its events (undefined until one arrives). */
  kind?: NodeKind;
  model?: string;
  startedAt?: number;
  endedAt?: number;
  durationMs?: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number | null;
  attempts: number;
  retries: number;
  status?: string;
  errorCode?: string;
  error?: string;
  toolCalls: number;
  /** A process's `emit(...)` events and the calls to its endpoints. */
  emitted: number;
  endpointCalls: number;
  /** A process's result (`process_done`): processes have no stored run result. */
  result?: unknown;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function emptyMetrics(): NodeMetrics {
  return {
    inputTokens: 0,
    outputTokens: 0,
    costUsd: null,
    attempts: 0,
    retries: 0,
    toolCalls: 0,
    emitted: 0,
    endpointCalls: 0,
  };
}

/**
 * Per-trace figures from a run tree's events: agent and group runs (spawn, completion or
 * failure, retries) and agent processes (lifecycle, emitted events, endpoint calls).
 */
export function nodeMetrics(events: RuntimeEvent[]): Map<string, NodeMetrics> {
  const out = new Map<string, NodeMetrics>();
  const of = (trace: string): NodeMetrics => {
    let m = out.get(trace);
    if (!m) {
      m = emptyMetrics();
      out.set(trace, m);
    }
    return m;
  };
  for (const e of events) {
    if (!e.trace_id) continue;
    const m = of(e.trace_id);
    const p = e.payload ?? {};
    switch (e.event_type) {
      case "agent_spawned":
      case "group_started":
        m.kind = e.event_type === "group_started" ? "group" : "agent";
        m.startedAt = m.startedAt ?? e.timestamp;
        m.status = m.status ?? "running";
        if (typeof p.model === "string") m.model = p.model;
        break;
      case "agent_retried":
        m.retries++;
        break;
      case "tool_call_completed":
      case "tool_call_failed":
        m.toolCalls++;
        break;
      case "agent_completed":
      case "agent_failed":
      case "group_completed":
      case "group_failed": {
        m.endedAt = e.timestamp;
        m.status = e.event_type.endsWith("completed") ? "completed" : "failed";
        m.durationMs = num(p.duration_ms) ?? m.durationMs;
        m.inputTokens += num(p.input_tokens) ?? 0;
        m.outputTokens += num(p.output_tokens) ?? 0;
        const cost = num(p.cost_usd);
        if (cost !== undefined) m.costUsd = (m.costUsd ?? 0) + cost;
        m.attempts = num(p.attempts) ?? m.attempts;
        if (typeof p.model === "string") m.model = p.model;
        if (m.status === "failed") {
          m.errorCode = typeof p.code === "string" ? p.code : "error";
          m.error = typeof p.error === "string" ? p.error : undefined;
        }
        break;
      }
      case "process_started":
        m.kind = "process";
        m.startedAt = m.startedAt ?? e.timestamp;
        m.status = m.status ?? "running";
        break;
      case "process_done":
      case "process_failed":
      case "process_cancelled":
        m.kind = "process";
        m.endedAt = e.timestamp;
        m.status = PROCESS_STATUS[e.event_type];
        if (e.event_type === "process_done") m.result = p.result;
        else {
          m.errorCode = typeof p.code === "string" ? p.code : m.status;
          m.error = String(p.error ?? p.reason ?? "");
        }
        break;
      case "process_emitted": {
        m.kind = "process";
        m.emitted++;
        // `restarting(...)` says which attempt comes next: its attempts so far.
        const data = p.data as Record<string, unknown> | null | undefined;
        if (p.type === "restarting" && data) m.attempts = Math.max(m.attempts, num(data.attempt) ?? 0);
        break;
      }
      case "endpoint_called":
        m.endpointCalls++;
        break;
    }
  }
  for (const m of out.values()) {
    if (m.attempts === 0 && m.endedAt !== undefined && m.kind !== "process") m.attempts = m.retries + 1;
    if (m.durationMs === undefined && m.startedAt !== undefined && m.endedAt !== undefined)
      m.durationMs = (m.endedAt - m.startedAt) * 1000;
  }
  return out;
}

const PROCESS_STATUS: Record<string, string> = {
  process_done: "completed",
  process_failed: "failed",
  process_cancelled: "cancelled",
};

/** Every `EventType` of the API (docs/http-api.md, "Models"), for the Live page's filter. */
export const EVENT_TYPES = [
  "agent_spawned",
  "agent_completed",
  "agent_failed",
  "agent_retried",
  "spawn_refused",
  "tool_call_started",
  "tool_call_completed",
  "tool_call_failed",
  "budget_exceeded",
  "group_started",
  "group_completed",
  "group_failed",
  "worker_started",
  "worker_stopped",
  "worker_heartbeat",
  "task_rejected",
  "task_reclaimed",
  "process_started",
  "process_done",
  "process_failed",
  "process_cancelled",
  "process_emitted",
  "endpoint_called",
  "endpoint_returned",
];

export interface TreeNode {
  traceId: string;
  name: string;
  status: string;
  metrics: NodeMetrics;
  children: TreeNode[];
  /** Sums over the node and everything below it. */
  totalTokens: number;
  totalCost: number | null;
}

/**
 * The run tree: the server's `/runs/{id}/tree` merged with the run's events, so children
 * that started since the tree was read (live) appear too, and each node has its figures.
 */
export function buildTree(root: RunTreeNode | null, events: RuntimeEvent[], rootId: string): TreeNode {
  const metrics = nodeMetrics(events);
  const names = new Map<string, string>();
  const parent = new Map<string, string>();
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (node: RunTreeNode, up: string | null) => {
    if (seen.has(node.trace_id)) return;
    seen.add(node.trace_id);
    order.push(node.trace_id);
    if (node.agent_name) names.set(node.trace_id, node.agent_name);
    if (up !== null) parent.set(node.trace_id, up);
    for (const child of node.children ?? []) visit(child, node.trace_id);
  };
  if (root) visit(root, null);
  const statuses = new Map<string, string>();
  const collect = (node: RunTreeNode) => {
    if (node.status) statuses.set(node.trace_id, node.status);
    (node.children ?? []).forEach(collect);
  };
  if (root) collect(root);
  for (const e of events) {
    if (!e.trace_id) continue;
    if (!names.has(e.trace_id) && e.agent_name) names.set(e.trace_id, e.agent_name);
    if (!seen.has(e.trace_id)) {
      seen.add(e.trace_id);
      order.push(e.trace_id);
    }
    if (e.parent_trace_id && e.trace_id !== rootId && !parent.has(e.trace_id))
      parent.set(e.trace_id, e.parent_trace_id);
  }
  if (!seen.has(rootId)) order.unshift(rootId);
  const nodes = new Map<string, TreeNode>();
  for (const id of order) {
    const m = metrics.get(id) ?? emptyMetrics();
    nodes.set(id, {
      traceId: id,
      name: names.get(id) ?? id.slice(0, 8),
      status: m.status ?? statuses.get(id) ?? "pending",
      metrics: m,
      children: [],
      totalTokens: 0,
      totalCost: null,
    });
  }
  for (const id of order) {
    const up = parent.get(id);
    if (up === undefined || id === rootId) continue;
    const holder = nodes.get(up);
    if (holder && holder !== nodes.get(id)) holder.children.push(nodes.get(id)!);
  }
  const sum = (node: TreeNode, path: Set<string>): void => {
    path.add(node.traceId);
    node.totalTokens = node.metrics.inputTokens + node.metrics.outputTokens;
    node.totalCost = node.metrics.costUsd;
    node.children = node.children.filter((c) => !path.has(c.traceId));
    node.children.sort((a, b) => (a.metrics.startedAt ?? 0) - (b.metrics.startedAt ?? 0));
    for (const child of node.children) {
      sum(child, path);
      node.totalTokens += child.totalTokens;
      if (child.totalCost !== null) node.totalCost = (node.totalCost ?? 0) + child.totalCost;
    }
  };
  const top = nodes.get(rootId)!;
  // The root's own status is the run's: the server's tree knows it even without events.
  if (statuses.has(rootId) && top.metrics.status === undefined) top.status = statuses.get(rootId)!;
  sum(top, new Set());
  return top;
}

export interface GroupDag {
  nodes: string[];
  edges: [string, string][];
  layers: string[][];
}

/** The DAG of a group run from its `group_started` event, nodes in dependency layers. */
export function groupDag(events: RuntimeEvent[], rootId: string): GroupDag | null {
  const started = events.find((e) => e.event_type === "group_started" && e.trace_id === rootId);
  if (!started) return null;
  const nodes = Array.isArray(started.payload.nodes) ? (started.payload.nodes as unknown[]).map(String) : [];
  const edges = (Array.isArray(started.payload.edges) ? (started.payload.edges as unknown[]) : [])
    .filter((e): e is unknown[] => Array.isArray(e) && e.length >= 2)
    .map((e) => [String(e[0]), String(e[1])] as [string, string]);
  const depth = new Map<string, number>(nodes.map((n) => [n, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const [from, to] of edges) {
      const d = (depth.get(from) ?? 0) + 1;
      if (d > (depth.get(to) ?? 0) && d < nodes.length + 1) {
        depth.set(to, d);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const layers: string[][] = [];
  for (const n of nodes) {
    const d = depth.get(n) ?? 0;
    (layers[d] ??= []).push(n);
  }
  return { nodes, edges, layers: layers.filter(Boolean) };
}

/** What one event says, in a line of the timeline. */
export function describe(event: RuntimeEvent): string {
  const p = event.payload ?? {};
  switch (event.event_type) {
    case "agent_spawned":
      return `model ${String(p.model ?? "?")}, depth ${String(p.depth ?? 0)}`;
    case "agent_completed":
      return `${fmtMs(num(p.duration_ms))}, ${fmtInt((num(p.input_tokens) ?? 0) + (num(p.output_tokens) ?? 0))} tokens, attempt ${String(p.attempts ?? 1)}`;
    case "agent_failed":
      return `${String(p.code ?? "error")}: ${String(p.error ?? "")}`;
    case "agent_retried":
      return `attempt ${String(p.attempt ?? "?")}: ${String(p.error ?? p.code ?? "")}`;
    case "tool_call_started":
      return `${String(p.tool ?? "?")}(${String(p.args ?? "")})`.slice(0, 160);
    case "tool_call_completed":
      return `${String(p.tool ?? "?")} in ${fmtMs(num(p.duration_ms))}`;
    case "tool_call_failed":
      return `${String(p.tool ?? "?")} failed: ${String(p.error ?? p.code ?? "")}`;
    case "group_started":
      return `nodes ${Array.isArray(p.nodes) ? p.nodes.join(", ") : "?"}`;
    case "group_completed":
    case "group_failed":
      return `${fmtMs(num(p.duration_ms))}, ${fmtInt(num(p.total_tokens))} tokens`;
    case "process_started":
      return event.parent_trace_id ? `child of ${event.parent_trace_id.slice(0, 8)}` : "root process";
    case "process_done":
      return `done: ${short(p.result)}`;
    case "process_failed":
      return `${String(p.code ?? "error")}: ${String(p.error ?? "")}`;
    case "process_cancelled":
      return `cancelled: ${String(p.reason ?? "")}`;
    case "process_emitted":
      return `${String(p.type ?? "?")}: ${short(p.data)}`;
    case "endpoint_called":
      return `${String(p.endpoint ?? "?")}(${short(p.args ?? {})})`;
    case "endpoint_returned":
      return p.ok === false
        ? `${String(p.endpoint ?? "?")} failed: ${String(p.error ?? "")}`
        : `${String(p.endpoint ?? "?")} → ${short(p.result)} in ${fmtMs(num(p.duration_ms))}`;
    default:
      return JSON.stringify(p).slice(0, 160);
  }
}

function short(value: unknown): string {
  return (value === undefined ? "null" : JSON.stringify(value)).slice(0, 120);
}
