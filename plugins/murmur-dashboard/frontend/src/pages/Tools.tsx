import { useState } from "react";
import { get } from "../api";
import { useLoad } from "../hooks";
import { errorRate, fmtInt, fmtMs, fmtPct, periodStart } from "../logic";
import type { ToolsReport } from "../types";
import { Empty, Failed, Loading } from "../ui";

export function Tools() {
  const [period, setPeriod] = useState("all");
  const report = useLoad(
    (signal) => get<ToolsReport>("/tools", { since: periodStart(period, Date.now() / 1000) }, signal),
    [period],
  );
  const slowest = Math.max(1, ...(report.data?.tools ?? []).map((t) => t.p99_ms ?? 0));
  return (
    <section>
      <h1>Tools</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          period
          <select aria-label="period" value={period} onChange={(e) => setPeriod(e.target.value)}>
            <option value="1h">last hour</option>
            <option value="24h">last 24 h</option>
            <option value="7d">last 7 days</option>
            <option value="all">all time</option>
          </select>
        </label>
      </form>
      {report.error ? (
        <Failed error={report.error} retry={report.reload} />
      ) : !report.data ? (
        <Loading what="tool statistics" />
      ) : report.data.tools.length === 0 ? (
        <Empty>No tool calls in this period.</Empty>
      ) : (
        <table data-testid="tools">
          <thead>
            <tr>
              <th>tool</th>
              <th>calls</th>
              <th>failed</th>
              <th>error rate</th>
              <th>p50</th>
              <th>p95</th>
              <th>p99</th>
              <th>latency (p50 | p99)</th>
            </tr>
          </thead>
          <tbody>
            {report.data.tools.map((tool) => (
              <tr key={tool.name} data-tool={tool.name}>
                <td className="mono">{tool.name}</td>
                <td className="calls">{fmtInt(tool.calls)}</td>
                <td>{fmtInt(tool.failed ?? 0)}</td>
                <td className="error-rate">{fmtPct(errorRate(tool))}</td>
                <td>{fmtMs(tool.p50_ms)}</td>
                <td>{fmtMs(tool.p95_ms)}</td>
                <td>{fmtMs(tool.p99_ms)}</td>
                <td>
                  <svg width="160" height="12" role="img">
                    <rect x={0} y={2} width={((tool.p99_ms ?? 0) / slowest) * 160} height={8} className="bar faint" />
                    <rect x={0} y={2} width={((tool.p50_ms ?? 0) / slowest) * 160} height={8} className="bar" />
                  </svg>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
