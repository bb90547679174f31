// Shared pieces: states (loading, empty, error), status badges, SVG bars.

import type { ReactNode } from "react";
import type { ApiError } from "./api";
import type { Bar } from "./logic";

export function Loading({ what }: { what: string }) {
  return (
    <div className="state loading" role="status">
      Loading {what}…
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state empty">{children}</div>;
}

export function Failed({ error, retry }: { error: ApiError; retry?: () => void }) {
  const text = error.unreachable
    ? "The murmur server cannot be reached. Is `murmur serve` running?"
    : `${error.message} (${error.code})`;
  return (
    <div className="state error" role="alert">
      <span>{text}</span>
      {retry && (
        <button type="button" onClick={retry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Badge({ status }: { status: string }) {
  return <span className={`badge ${status}`}>{status}</span>;
}

export function Stat({ label, value, hint, testId }: { label: string; value: ReactNode; hint?: string; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
      {hint && <div className="stat-hint">{hint}</div>}
    </div>
  );
}

/** Horizontal bars, hand-written SVG (no chart library). */
export function Bars({ items, format, testId }: { items: Bar[]; format: (v: number) => string; testId?: string }) {
  const row = 26;
  const label = 150;
  const width = 520;
  const height = Math.max(row, items.length * row);
  return (
    <svg
      className="bars"
      data-testid={testId}
      viewBox={`0 0 ${width} ${height}`}
      width="100%"
      height={height}
      role="img"
      preserveAspectRatio="xMinYMin meet"
    >
      {items.map((item, i) => {
        const w = Math.max(item.value > 0 ? 2 : 0, item.fraction * (width - label - 110));
        return (
          <g key={item.label} transform={`translate(0, ${i * row})`} data-label={item.label}>
            <text x={0} y={row / 2 + 4} className="bar-label">
              {item.label.length > 22 ? `${item.label.slice(0, 21)}…` : item.label}
            </text>
            <rect x={label} y={5} width={w} height={row - 10} rx={3} className="bar" />
            <text x={label + w + 6} y={row / 2 + 4} className="bar-value">
              {format(item.value)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
