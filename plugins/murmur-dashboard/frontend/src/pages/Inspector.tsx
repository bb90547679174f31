import { useEffect, useMemo, useState } from "react";
import { ApiError, follow, get } from "../api";
import { useDebounced, useLoad } from "../hooks";
import { buildTree, describe, fmtInt, fmtMs, fmtTime, fmtUsd, groupDag, type TreeNode } from "../logic";
import type { RunInfo, RunResult, RunTreeNode, RuntimeEvent } from "../types";
import { Badge, Empty, Failed, Loading } from "../ui";

export function Inspector({ runId }: { runId: string }) {
  const run = useLoad((signal) => get<RunInfo>(`/runs/${encodeURIComponent(runId)}`, {}, signal), [runId]);
  const tree = useLoad(
    (signal) => get<RunTreeNode>(`/runs/${encodeURIComponent(runId)}/tree`, {}, signal),
    [runId],
  );
  const [events, setEvents] = useState<RuntimeEvent[]>([]);
  const [selected, setSelected] = useState<string>(runId);
  const refresh = useDebounced(() => {
    run.reload();
    tree.reload();
  }, 500);
  useEffect(() => {
    setEvents([]);
    setSelected(runId);
    const seen = new Set<string>();
    // The run's stream replays what the run tree already emitted, then goes on live.
    return follow({
      trace_id: runId,
      onEvent: (event) => {
        if (seen.has(event.id)) return;
        seen.add(event.id);
        setEvents((old) => [...old, event]);
        if (/_(completed|failed|spawned|started|done|cancelled)$/.test(event.event_type)) refresh();
      },
    });
  }, [runId, refresh]);
  const root = useMemo(() => buildTree(tree.data, events, runId), [tree.data, events, runId]);
  const dag = useMemo(() => groupDag(events, runId), [events, runId]);
  // An agent process has no run record (404): its tree and events are the whole story.
  const processRun = run.error?.status === 404 && tree.data !== null;
  if (run.error && !processRun) {
    if (run.error.status !== 404) return <Failed error={run.error} retry={run.reload} />;
    if (tree.loading) return <Loading what="the run" />;
    return <Empty>No run {runId}. It may be in another server's store.</Empty>;
  }
  if (!run.data && !processRun) return <Loading what="the run" />;
  const nodes = flatten(root);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const current = nodes.find((n) => n.traceId === selected) ?? root;
  const kind = run.data?.kind ?? root.metrics.kind ?? "process";
  const status = run.data?.status ?? root.status;
  const parent =
    run.data?.parent_trace_id ?? events.find((e) => e.trace_id === runId && e.parent_trace_id)?.parent_trace_id;
  return (
    <section>
      <p>
        <a href="#/runs">← runs</a>
        {parent && (
          <>
            {" · "}
            <a href={`#/runs/${parent}`} data-testid="parent-link">
              ↑ part of {parent.slice(0, 12)}
            </a>
          </>
        )}
      </p>
      <h1>
        {kind} run <span className="mono">{runId.slice(0, 12)}</span> of{" "}
        {run.data?.agent_name ?? run.data?.group_name ?? root.name} <Badge status={status} />
      </h1>
      <div className="stats">
        <div className="stat" data-testid="run-tokens">
          <div className="stat-value">{fmtInt(root.totalTokens)}</div>
          <div className="stat-label">tokens (whole tree)</div>
        </div>
        <div className="stat">
          <div className="stat-value">{fmtUsd(root.totalCost)}</div>
          <div className="stat-label">cost (whole tree)</div>
        </div>
        <div className="stat">
          <div className="stat-value">{fmtMs(root.metrics.durationMs)}</div>
          <div className="stat-label">duration</div>
        </div>
        <div className="stat" data-testid="run-nodes">
          <div className="stat-value">{nodes.length}</div>
          <div className="stat-label">{kind === "process" ? "processes and runs" : "runs in the tree"}</div>
        </div>
      </div>
      {dag && (
        <>
          <h2>Group graph</h2>
          <div className="dag" data-testid="dag">
            {dag.layers.map((layer, i) => (
              <div className="dag-layer" key={i}>
                {layer.map((name) => {
                  const node = byName.get(name);
                  return (
                    <button
                      type="button"
                      key={name}
                      className={`dag-node ${node?.status ?? "pending"}`}
                      onClick={() => node && setSelected(node.traceId)}
                    >
                      <strong>{name}</strong>
                      <span>{node ? `${node.status} · ${fmtMs(node.metrics.durationMs)}` : "pending"}</span>
                    </button>
                  );
                })}
              </div>
            ))}
          </div>
          <p className="muted">Edges: {dag.edges.map(([a, b]) => `${a} → ${b}`).join(", ") || "none"}</p>
        </>
      )}
      <div className="split">
        <div>
          <h2>Tree</h2>
          {tree.error && !(tree.error instanceof ApiError && tree.error.status === 404) && (
            <Failed error={tree.error} retry={tree.reload} />
          )}
          <table className="tree" data-testid="tree">
            <thead>
              <tr>
                <th>run</th>
                <th>status</th>
                <th>duration</th>
                <th>tokens</th>
                <th>cost</th>
                <th>attempts</th>
                <th>error</th>
              </tr>
            </thead>
            <tbody>
              {rows(root, 0).map(([node, depth]) => (
                <tr
                  key={node.traceId}
                  data-trace-id={node.traceId}
                  data-name={node.name}
                  data-kind={node.metrics.kind ?? ""}
                  className={node.traceId === current.traceId ? "selected" : ""}
                  onClick={() => setSelected(node.traceId)}
                >
                  <td style={{ paddingLeft: `${0.5 + depth * 1.25}rem` }}>
                    {depth > 0 ? "└ " : ""}
                    {node.name}
                    {node.metrics.kind === "process" && <span className="kind">process</span>}
                    {node.metrics.model && <span className="muted"> · {node.metrics.model}</span>}
                  </td>
                  <td>
                    <Badge status={node.status} />
                  </td>
                  <td>{fmtMs(node.metrics.durationMs)}</td>
                  {node.metrics.kind === "process" ? (
                    // A process spends through its agents: the sums of its subtree.
                    <>
                      <td title="its agents' runs and child processes">{node.totalTokens ? fmtInt(node.totalTokens) : "–"}</td>
                      <td title="its agents' runs and child processes">{fmtUsd(node.totalCost)}</td>
                    </>
                  ) : (
                    <>
                      <td>{node.metrics.inputTokens + node.metrics.outputTokens ? fmtInt(node.metrics.inputTokens + node.metrics.outputTokens) : "–"}</td>
                      <td>{fmtUsd(node.metrics.costUsd)}</td>
                    </>
                  )}
                  <td>{node.metrics.attempts || "–"}</td>
                  <td className="error-code">{node.metrics.errorCode ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <NodeDetail node={current} />
      </div>
      <h2>Timeline</h2>
      {events.length === 0 ? (
        <Empty>No events for this run yet.</Empty>
      ) : (
        <ol className="timeline" data-testid="timeline">
          {[...events]
            .sort((a, b) => a.timestamp - b.timestamp)
            .map((e) => (
              <li key={e.id} className={e.event_type}>
                <span className="mono muted">+{fmtMs((e.timestamp - (events[0]?.timestamp ?? e.timestamp)) * 1000)}</span>
                <span className="etype">{e.event_type}</span>
                <span>{e.agent_name}</span>
                <span className="muted">{describe(e)}</span>
              </li>
            ))}
        </ol>
      )}
    </section>
  );
}

function NodeDetail({ node }: { node: TreeNode }) {
  const finished = node.status === "completed" || node.status === "failed" || node.status === "cancelled";
  const process = node.metrics.kind === "process";
  const result = useLoad(
    (signal) =>
      finished && !process
        ? get<RunResult>(`/runs/${encodeURIComponent(node.traceId)}/result`, {}, signal)
        : Promise.resolve(null),
    [node.traceId, finished, process],
  );
  return (
    <aside className="detail" data-testid="node-detail">
      <h2>{node.name}</h2>
      <dl>
        <dt>trace</dt>
        <dd className="mono">{node.traceId}</dd>
        <dt>started</dt>
        <dd>{node.metrics.startedAt ? fmtTime(node.metrics.startedAt) : "–"}</dd>
        {process ? (
          <>
            <dt>emitted</dt>
            <dd>
              {node.metrics.emitted} event{node.metrics.emitted === 1 ? "" : "s"}
            </dd>
            <dt>endpoint calls</dt>
            <dd>{node.metrics.endpointCalls}</dd>
          </>
        ) : (
          <>
            <dt>tool calls</dt>
            <dd>{node.metrics.toolCalls}</dd>
            <dt>retries</dt>
            <dd>{node.metrics.retries}</dd>
          </>
        )}
      </dl>
      {node.metrics.errorCode && (
        <div className="state error">
          <strong>{node.metrics.errorCode}</strong> {node.metrics.error}
        </div>
      )}
      <h3>{result.data?.ok === false || (process && node.status !== "completed") ? "Error" : "Output"}</h3>
      {!finished ? (
        <p className="muted">Still running.</p>
      ) : process ? (
        <pre data-testid="output">
          {JSON.stringify(
            node.status === "completed" ? (node.metrics.result ?? null) : { code: node.metrics.errorCode, error: node.metrics.error },
            null,
            2,
          )}
        </pre>
      ) : result.error ? (
        <p className="muted">No stored result ({result.error.code}).</p>
      ) : !result.data ? (
        <Loading what="the result" />
      ) : (
        <pre data-testid="output">
          {JSON.stringify(result.data.ok ? result.data.output : result.data.error, null, 2)}
        </pre>
      )}
    </aside>
  );
}

function flatten(node: TreeNode): TreeNode[] {
  return [node, ...node.children.flatMap(flatten)];
}

function rows(node: TreeNode, depth: number): [TreeNode, number][] {
  return [[node, depth], ...node.children.flatMap((c) => rows(c, depth + 1))];
}
