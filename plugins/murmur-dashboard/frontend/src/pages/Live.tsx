import { useEffect, useRef, useState } from "react";
import { type ApiError, follow } from "../api";
import { describe, EVENT_TYPES, fmtTime } from "../logic";
import type { RuntimeEvent } from "../types";
import { Empty, Failed } from "../ui";

const KEEP = 500;

export function Live() {
  const [agent, setAgent] = useState("");
  const [type, setType] = useState("");
  const [trace, setTrace] = useState("");
  const [paused, setPaused] = useState(false);
  const [state, setState] = useState<"connecting" | "live" | "reconnecting" | "paused">("connecting");
  const [error, setError] = useState<ApiError | null>(null);
  const [events, setEvents] = useState<RuntimeEvent[]>([]);
  const last = useRef<string | null>(null);
  const filters = `${agent}|${type}|${trace}`;
  const previous = useRef(filters);
  useEffect(() => {
    if (previous.current !== filters) {
      // New filters: a new stream from now on (a resume id is only valid for one filter).
      previous.current = filters;
      last.current = null;
      setEvents([]);
    }
    if (paused) {
      setState("paused");
      return;
    }
    setState("connecting");
    return follow({
      agent: agent || undefined,
      type: type ? [type] : undefined,
      trace_id: trace || undefined,
      lastEventId: last.current,
      onEvent: (event) => {
        last.current = event.id;
        setEvents((old) => [event, ...old].slice(0, KEEP));
      },
      onState: (s, err) => {
        setState(s === "error" ? "reconnecting" : s);
        setError(s === "live" ? null : (err ?? null));
      },
    });
  }, [agent, type, trace, paused, filters]);
  return (
    <section>
      <h1>Live events</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          agent
          <input aria-label="agent" value={agent} onChange={(e) => setAgent(e.target.value.trim())} />
        </label>
        <label>
          type
          <select aria-label="type" value={type} onChange={(e) => setType(e.target.value)}>
            <option value="">all</option>
            {EVENT_TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label className="grow">
          trace
          <input aria-label="trace" value={trace} onChange={(e) => setTrace(e.target.value.trim())} />
        </label>
        <button type="button" onClick={() => setPaused(!paused)} data-testid="pause">
          {paused ? "Resume" : "Pause"}
        </button>
        <span className={`conn ${state}`} data-testid="stream-state">
          {state}
        </span>
      </form>
      {error && state !== "live" && !error.unreachable && <Failed error={error} />}
      {error?.unreachable && state === "reconnecting" && (
        <div className="state error" role="alert">
          The server cannot be reached; reconnecting, and resuming where the stream stopped.
        </div>
      )}
      {events.length === 0 ? (
        <Empty>{paused ? "Paused." : "Waiting for events… start a run and it appears here."}</Empty>
      ) : (
        <table className="events" data-testid="events">
          <thead>
            <tr>
              <th>time</th>
              <th>type</th>
              <th>agent</th>
              <th>trace</th>
              <th>what</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr key={e.id} data-event-type={e.event_type} data-trace-id={e.trace_id ?? ""}>
                <td className="mono">{fmtTime(e.timestamp).slice(11)}</td>
                <td className="etype">{e.event_type}</td>
                <td>{e.agent_name}</td>
                <td className="mono">
                  {e.trace_id ? <a href={`#/runs/${e.trace_id}`}>{e.trace_id.slice(0, 8)}</a> : ""}
                </td>
                <td className="muted">{describe(e)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p className="muted">{events.length >= KEEP ? `Showing the latest ${KEEP} events.` : `${events.length} events.`}</p>
    </section>
  );
}
