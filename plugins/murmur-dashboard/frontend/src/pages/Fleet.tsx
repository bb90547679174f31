import { get } from "../api";
import { useInterval, useLoad } from "../hooks";
import { fmtAgo, fmtInt, fmtPct, fmtUsd, throughput, workerState } from "../logic";
import type { RunPage, RuntimeStats } from "../types";
import { Badge, Empty, Failed, Loading, Stat } from "../ui";

const MINUTES = 15;

export function Fleet() {
  const stats = useLoad((signal) => get<RuntimeStats>("/runtime/stats", {}, signal), []);
  const recent = useLoad(
    (signal) =>
      get<RunPage>(
        "/runs",
        { since: new Date(Date.now() - MINUTES * 60_000).toISOString(), limit: 1000 },
        signal,
      ),
    [],
  );
  const running = useLoad(
    (signal) => get<RunPage>("/runs", { status: "running", limit: 20 }, signal),
    [],
  );
  useInterval(() => {
    stats.reload();
    recent.reload();
    running.reload();
  }, 5000);
  if (stats.error) return <Failed error={stats.error} retry={stats.reload} />;
  if (!stats.data) return <Loading what="the fleet" />;
  const s = stats.data;
  const now = Date.now() / 1000;
  const flow = throughput(recent.data?.runs ?? [], now, MINUTES);
  const top = Math.max(1, ...flow.buckets.map((b) => b.completed + b.failed));
  const workers = s.workers ?? [];
  const budget = s.budget;
  return (
    <section>
      <h1>Fleet</h1>
      <div className="stats">
        <Stat label="in flight" value={fmtInt(s.in_flight)} testId="stat-in-flight" />
        <Stat label="completed" value={fmtInt(s.completed)} hint="since the server started" testId="stat-completed" />
        <Stat label="failed" value={fmtInt(s.failed)} testId="stat-failed" />
        <Stat label={`runs / min (last ${MINUTES} min)`} value={flow.perMinute.toFixed(2)} testId="stat-throughput" />
        <Stat label={`failure rate (last ${MINUTES} min)`} value={fmtPct(flow.failureRate)} testId="stat-failure-rate" />
        <Stat
          label="tokens"
          value={fmtInt((s.input_tokens ?? 0) + (s.output_tokens ?? 0))}
          hint={fmtUsd(s.cost_usd ?? 0)}
          testId="stat-tokens"
        />
      </div>
      <h2>Throughput, last {MINUTES} minutes</h2>
      <svg
        className="throughput"
        viewBox={`0 0 ${MINUTES * 20} 80`}
        preserveAspectRatio="none"
        width="100%"
        height="80"
        role="img"
        data-testid="throughput"
      >
        {flow.buckets.map((b, i) => {
          const ok = (b.completed / top) * 70;
          const bad = (b.failed / top) * 70;
          return (
            <g key={b.start}>
              <title>{`${new Date(b.start * 1000).toLocaleTimeString()}: ${b.completed} completed, ${b.failed} failed`}</title>
              <rect x={i * 20 + 3} y={78 - ok} width={14} height={ok} className="bar" />
              <rect x={i * 20 + 3} y={78 - ok - bad} width={14} height={bad} className="bar failed" />
            </g>
          );
        })}
        <line x1={0} y1={78.5} x2={MINUTES * 20} y2={78.5} className="axis" />
      </svg>
      <div className="axis-labels muted">
        <span>{MINUTES} min ago</span>
        <span>
          completed <span className="key ok" /> failed <span className="key bad" />
        </span>
        <span>now</span>
      </div>
      <h2>Running now</h2>
      {(running.data?.runs ?? []).length === 0 ? (
        <Empty>Nothing is running.</Empty>
      ) : (
        <table data-testid="running">
          <thead>
            <tr>
              <th>run</th>
              <th>agent / group</th>
              <th>progress</th>
              <th>started</th>
            </tr>
          </thead>
          <tbody>
            {running.data!.runs.map((run) => (
              <tr key={run.run_id} data-run-id={run.run_id}>
                <td className="mono">
                  <a href={`#/runs/${run.run_id}`}>{run.run_id.slice(0, 12)}</a>
                </td>
                <td>{run.agent_name ?? run.group_name}</td>
                <td>
                  {run.progress?.completed ?? 0}/{run.progress?.total ?? 1}
                </td>
                <td>{fmtAgo(run.created_at, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Budget</h2>
      {budget ? (
        <div className="budget" data-testid="budget">
          <div className="meter">
            <div
              className="meter-fill"
              style={{ width: `${budget.limit ? Math.min(100, ((budget.used ?? 0) / budget.limit) * 100) : 0}%` }}
            />
          </div>
          <span>
            {budget.name}: {fmtInt(budget.used ?? 0)} of {budget.limit ? fmtInt(budget.limit) : "∞"} tokens,{" "}
            {fmtUsd(budget.cost_usd ?? 0)}
            {budget.max_cost_usd ? ` of ${fmtUsd(budget.max_cost_usd)}` : ""}
          </span>
        </div>
      ) : (
        <Empty>No runtime-wide budget is set (RuntimeOptions(token_budget=...)).</Empty>
      )}
      <h2>Workers</h2>
      {workers.length === 0 ? (
        <Empty>
          No workers seen: runs execute in the server process ({s.backend} backend). Start the server with{" "}
          <code>--broker</code> to see a worker fleet.
        </Empty>
      ) : (
        <table data-testid="workers">
          <thead>
            <tr>
              <th>worker</th>
              <th>state</th>
              <th>agents</th>
              <th>in flight</th>
              <th>last heartbeat</th>
              <th>started</th>
            </tr>
          </thead>
          <tbody>
            {workers.map((w) => (
              <tr key={w.worker_id} data-worker-id={w.worker_id}>
                <td className="mono">{w.worker_id}</td>
                <td>
                  <Badge status={workerState(w)} />
                </td>
                <td>{Array.isArray(w.details?.agents) ? w.details.agents.join(", ") : "–"}</td>
                <td>
                  {typeof w.details?.in_flight === "number" ? w.details.in_flight : "–"}
                  {typeof w.details?.concurrency === "number" ? ` / ${w.details.concurrency}` : ""}
                </td>
                <td>{w.last_heartbeat ? fmtAgo(w.last_heartbeat, now) : "–"}</td>
                <td>{w.started_at ? fmtAgo(w.started_at, now) : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p className="muted">
        Backend {s.backend}, up {fmtInt(s.uptime_seconds)} s, {fmtInt(s.events_seen ?? 0)} events seen.
      </p>
    </section>
  );
}
