// Wire types of the murmur HTTP API (docs/http-api.md, "Models").

export type RunStatus = "pending" | "running" | "completed" | "failed" | "cancelled";
export type RunKind = "agent" | "gather" | "group";

export interface ErrorInfo {
  type: string;
  message: string;
  code: string;
  details?: Record<string, unknown>;
}

export interface RunInfo {
  run_id: string;
  kind: RunKind;
  status: RunStatus;
  agent_name?: string | null;
  group_name?: string | null;
  task_id?: string | null;
  trace_id?: string | null;
  parent_trace_id?: string | null;
  created_at: number;
  updated_at: number;
  progress?: { total?: number; completed?: number; failed?: number };
  metadata?: Record<string, unknown>;
  error?: ErrorInfo | null;
}

export interface RunPage {
  runs: RunInfo[];
  limit: number;
  offset: number;
  next_offset?: number | null;
}

export interface RunResult {
  run_id: string;
  kind: RunKind;
  status: RunStatus;
  ok: boolean;
  output?: unknown;
  error?: ErrorInfo | null;
  items?: RunResult[];
}

export interface RunTreeNode {
  trace_id: string;
  agent_name?: string | null;
  task_id?: string | null;
  status?: string | null;
  children?: RunTreeNode[];
}

export interface WorkerInfo {
  worker_id: string;
  status: "alive" | "stale" | "stopped";
  started_at?: number | null;
  last_heartbeat?: number | null;
  seconds_since_heartbeat?: number | null;
  details?: Record<string, unknown>;
}

export interface BudgetInfo {
  name: string;
  limit?: number | null;
  used?: number;
  remaining?: number | null;
  cost_usd?: number;
  max_cost_usd?: number | null;
}

export interface RuntimeStats {
  in_flight: number;
  completed: number;
  failed: number;
  cancelled: number;
  background_runs: number;
  input_tokens?: number;
  output_tokens?: number;
  cost_usd?: number;
  workers?: WorkerInfo[];
  budget?: BudgetInfo | null;
  backend: string;
  started_at: number;
  uptime_seconds: number;
  events_seen?: number;
}

export interface UsageRow {
  key?: string | null;
  runs?: number;
  requests?: number;
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  cost_usd?: number;
}

export interface UsageReport {
  group_by: string;
  rows: UsageRow[];
  total: UsageRow;
}

export interface ToolStat {
  name: string;
  calls: number;
  failed?: number;
  p50_ms?: number | null;
  p95_ms?: number | null;
  p99_ms?: number | null;
  mean_ms?: number | null;
  max_ms?: number | null;
}

export interface ToolsReport {
  tools: ToolStat[];
}

export interface AgentInfo {
  name: string;
  description?: string;
  model: string;
}

export interface GroupInfo {
  name: string;
  description?: string;
  agents?: string[];
}

export interface RuntimeEvent {
  id: string;
  event_type: string;
  agent_name?: string | null;
  task_id?: string | null;
  trace_id?: string | null;
  parent_trace_id?: string | null;
  timestamp: number;
  payload: Record<string, unknown>;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, unknown>;
}
