import { useState } from "react";
import { get } from "../api";
import { useLoad } from "../hooks";
import { bars, fmtInt, fmtUsd, periodStart } from "../logic";
import type { UsageReport } from "../types";
import { Bars, Empty, Failed, Loading } from "../ui";

export function Costs() {
  const [period, setPeriod] = useState("24h");
  const usage = useLoad(
    async (signal) => {
      const since = periodStart(period, Date.now() / 1000);
      const [model, agent] = await Promise.all([
        get<UsageReport>("/usage", { group_by: "model", since }, signal),
        get<UsageReport>("/usage", { group_by: "agent", since }, signal),
      ]);
      return { model, agent };
    },
    [period],
  );
  return (
    <section>
      <h1>Costs</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          period
          <select aria-label="period" value={period} onChange={(e) => setPeriod(e.target.value)}>
            <option value="1h">last hour</option>
            <option value="24h">last 24 h</option>
            <option value="7d">last 7 days</option>
            <option value="30d">last 30 days</option>
            <option value="all">all time</option>
          </select>
        </label>
      </form>
      {usage.error ? (
        <Failed error={usage.error} retry={usage.reload} />
      ) : !usage.data ? (
        <Loading what="usage" />
      ) : usage.data.model.total.runs === 0 ? (
        <Empty>No completed runs in this period.</Empty>
      ) : (
        <>
          <div className="stats">
            <div className="stat" data-testid="cost-total-tokens">
              <div className="stat-value">{fmtInt(usage.data.model.total.total_tokens)}</div>
              <div className="stat-label">tokens</div>
            </div>
            <div className="stat" data-testid="cost-total-usd">
              <div className="stat-value">{fmtUsd(usage.data.model.total.cost_usd)}</div>
              <div className="stat-label">USD</div>
            </div>
            <div className="stat" data-testid="cost-total-runs">
              <div className="stat-value">{fmtInt(usage.data.model.total.runs)}</div>
              <div className="stat-label">completed runs</div>
            </div>
          </div>
          <Breakdown title="By model" report={usage.data.model} id="model" />
          <Breakdown title="By agent" report={usage.data.agent} id="agent" />
        </>
      )}
    </section>
  );
}

function Breakdown({ title, report, id }: { title: string; report: UsageReport; id: string }) {
  return (
    <>
      <h2>{title}</h2>
      <div className="two">
        <div>
          <h3>tokens</h3>
          <Bars items={bars(report.rows, "total_tokens")} format={fmtInt} testId={`bars-${id}-tokens`} />
        </div>
        <div>
          <h3>USD</h3>
          <Bars items={bars(report.rows, "cost_usd")} format={fmtUsd} testId={`bars-${id}-usd`} />
        </div>
      </div>
      <table data-testid={`usage-${id}`}>
        <thead>
          <tr>
            <th>{id}</th>
            <th>runs</th>
            <th>requests</th>
            <th>input tokens</th>
            <th>output tokens</th>
            <th>total tokens</th>
            <th>USD</th>
          </tr>
        </thead>
        <tbody>
          {report.rows.map((row) => (
            <tr key={row.key ?? ""} data-key={row.key ?? ""}>
              <td>{row.key ?? "(none)"}</td>
              <td>{fmtInt(row.runs)}</td>
              <td>{fmtInt(row.requests)}</td>
              <td>{fmtInt(row.input_tokens)}</td>
              <td>{fmtInt(row.output_tokens)}</td>
              <td className="total-tokens">{fmtInt(row.total_tokens)}</td>
              <td>{fmtUsd(row.cost_usd)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
