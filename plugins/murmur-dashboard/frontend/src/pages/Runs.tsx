import { useEffect, useState } from "react";
import { follow, get } from "../api";
import { useDebounced, useLoad } from "../hooks";
import { fmtAgo, fmtInt, fmtMs, periodStart } from "../logic";
import type { AgentInfo, GroupInfo, RunPage } from "../types";
import { Badge, Empty, Failed, Loading } from "../ui";

const PAGE = 25;
const LIFECYCLE = [
  "agent_spawned",
  "agent_completed",
  "agent_failed",
  "group_started",
  "group_completed",
  "group_failed",
];

export function Runs() {
  const [agent, setAgent] = useState("");
  const [status, setStatus] = useState("");
  const [period, setPeriod] = useState("all");
  const [text, setText] = useState("");
  const [q, setQ] = useState("");
  const [offset, setOffset] = useState(0);
  const names = useLoad(
    async (signal) => {
      const [agents, groups] = await Promise.all([
        get<AgentInfo[]>("/agents", {}, signal),
        get<GroupInfo[]>("/groups", {}, signal),
      ]);
      return [...agents.map((a) => a.name), ...groups.map((g) => g.name)].sort();
    },
    [],
  );
  const page = useLoad(
    (signal) =>
      get<RunPage>(
        "/runs",
        {
          agent: agent || undefined,
          status: status || undefined,
          since: periodStart(period, Date.now() / 1000),
          q: q || undefined,
          limit: PAGE,
          offset,
        },
        signal,
      ),
    [agent, status, period, q, offset],
  );
  const refresh = useDebounced(page.reload, 400);
  useEffect(() => follow({ type: LIFECYCLE, onEvent: refresh }), [refresh]);
  useEffect(() => {
    const id = setTimeout(() => setQ(text.trim()), 300);
    return () => clearTimeout(id);
  }, [text]);
  const reset = (fn: () => void) => {
    fn();
    setOffset(0);
  };
  const now = Date.now() / 1000;
  return (
    <section>
      <h1>Runs</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          agent
          <select aria-label="agent" value={agent} onChange={(e) => reset(() => setAgent(e.target.value))}>
            <option value="">all</option>
            {(names.data ?? []).map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
        <label>
          status
          <select aria-label="status" value={status} onChange={(e) => reset(() => setStatus(e.target.value))}>
            <option value="">all</option>
            {["pending", "running", "completed", "failed", "cancelled"].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          started
          <select aria-label="period" value={period} onChange={(e) => reset(() => setPeriod(e.target.value))}>
            <option value="15m">last 15 min</option>
            <option value="1h">last hour</option>
            <option value="24h">last 24 h</option>
            <option value="7d">last 7 days</option>
            <option value="all">any time</option>
          </select>
        </label>
        <label className="grow">
          search
          <input
            aria-label="search"
            placeholder="run id, agent, error…"
            value={text}
            onChange={(e) => {
              setText(e.target.value);
              setOffset(0);
            }}
          />
        </label>
      </form>
      {page.error ? (
        <Failed error={page.error} retry={page.reload} />
      ) : !page.data ? (
        <Loading what="runs" />
      ) : page.data.runs.length === 0 ? (
        <Empty>
          {offset > 0 || agent || status || q || period !== "all"
            ? "No run matches these filters."
            : "No runs yet. Start one with POST /runs (or MurmurClient.start_run) and it shows up here."}
        </Empty>
      ) : (
        <table className="runs" data-testid="runs">
          <thead>
            <tr>
              <th>run</th>
              <th>kind</th>
              <th>agent / group</th>
              <th>status</th>
              <th>progress</th>
              <th>duration</th>
              <th>tokens</th>
              <th>started</th>
              <th>error</th>
            </tr>
          </thead>
          <tbody>
            {page.data.runs.map((run) => {
              const m = run.metadata ?? {};
              const tokens =
                Number(m.input_tokens ?? 0) + Number(m.output_tokens ?? 0) || Number(m.total_tokens ?? 0);
              const duration = typeof m.duration_ms === "number" ? m.duration_ms : undefined;
              return (
                <tr key={run.run_id} data-run-id={run.run_id} data-agent={run.agent_name ?? run.group_name ?? ""}>
                  <td className="mono">
                    <a href={`#/runs/${run.run_id}`}>{run.run_id.slice(0, 12)}</a>
                  </td>
                  <td>{run.kind}</td>
                  <td>
                    {run.agent_name ?? run.group_name}
                    {typeof m.process_id === "string" && (
                      <a className="muted" href={`#/runs/${m.process_id}`} data-testid="in-process">
                        {" "}
                        · in process {String(m.process ?? m.process_id.slice(0, 8))}
                      </a>
                    )}
                  </td>
                  <td>
                    <Badge status={run.status} />
                  </td>
                  <td>
                    {run.progress?.completed ?? 0}/{run.progress?.total ?? 1}
                    {run.progress?.failed ? ` (${run.progress.failed} failed)` : ""}
                  </td>
                  <td>{fmtMs(duration)}</td>
                  <td>{tokens ? fmtInt(tokens) : "–"}</td>
                  <td title={new Date(run.created_at * 1000).toISOString()}>{fmtAgo(run.created_at, now)}</td>
                  <td className="error-code">{run.error?.code ?? ""}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          ← newer
        </button>
        <span>
          {page.data && page.data.runs.length > 0
            ? `${offset + 1}–${offset + page.data.runs.length}`
            : ""}
        </span>
        <button
          type="button"
          disabled={!page.data?.next_offset}
          onClick={() => setOffset(page.data?.next_offset ?? offset)}
        >
          older →
        </button>
      </div>
    </section>
  );
}
