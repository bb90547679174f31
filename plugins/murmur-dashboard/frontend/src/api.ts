// The documented murmur HTTP API, with the bearer token kept for the browser session.

import { SseParser } from "./sse";
import type { RuntimeEvent } from "./types";

const TOKEN_KEY = "murmur.dashboard.token";
/** Dispatched on `window` when the server refuses the token: the app shows the sign-in. */
export const UNAUTHORIZED = "murmur:unauthorized";

export function apiBase(): string {
  const meta = document.querySelector('meta[name="murmur-api"]');
  return (meta?.getAttribute("content") ?? "").replace(/\/$/, "");
}

export function getToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function setToken(token: string): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A failed call: `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
  get unauthorized(): boolean {
    return this.status === 401 || this.code === "too_many_auth_failures";
  }
  get unreachable(): boolean {
    return this.status === 0;
  }
}

type Params = Record<string, string | number | undefined | null | string[]>;

export function query(params: Params): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => search.append(key, v));
    else search.append(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}`, ...extra } : extra;
}

async function failure(response: Response): Promise<ApiError> {
  try {
    const body = await response.json();
    const error = body?.error ?? {};
    return new ApiError(response.status, error.code ?? "error", error.message ?? response.statusText);
  } catch {
    return new ApiError(response.status, "error", `${response.status} ${response.statusText}`);
  }
}

export async function get<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${apiBase()}${path}${query(params)}`, { headers: headers(), signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(0, "unreachable", "the murmur server cannot be reached");
  }
  if (!response.ok) {
    const error = await failure(response);
    if (error.unauthorized) window.dispatchEvent(new CustomEvent(UNAUTHORIZED));
    throw error;
  }
  return (await response.json()) as T;
}

export interface StreamOptions {
  agent?: string;
  trace_id?: string;
  type?: string[];
  lastEventId?: string | null;
  signal: AbortSignal;
  onEvent: (event: RuntimeEvent) => void;
  onOpen?: () => void;
}

/** Reads `/events/stream` until it ends or `signal` aborts; resumes after `lastEventId`. */
export async function streamEvents(options: StreamOptions): Promise<void> {
  const params = { agent: options.agent, trace_id: options.trace_id, type: options.type };
  const extra: Record<string, string> = { Accept: "text/event-stream" };
  if (options.lastEventId) extra["Last-Event-ID"] = options.lastEventId;
  let response: Response;
  try {
    response = await fetch(`${apiBase()}/events/stream${query(params)}`, {
      headers: headers(extra),
      signal: options.signal,
    });
  } catch (err) {
    if (options.signal.aborted) return;
    throw new ApiError(0, "unreachable", "the murmur server cannot be reached");
  }
  if (!response.ok || response.body === null) throw await failure(response);
  options.onOpen?.();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const message of parser.push(value)) {
        if (!message.data) continue;
        options.onEvent(JSON.parse(message.data) as RuntimeEvent);
      }
    }
  } catch (err) {
    if (!options.signal.aborted) throw new ApiError(0, "disconnected", "the event stream was cut");
  }
}

/**
 * Follows the stream forever: reconnects after a cut and resumes with Last-Event-ID, so
 * no stored event is lost. Returns a function that stops it.
 */
export function follow(
  options: Omit<StreamOptions, "signal" | "lastEventId"> & {
    lastEventId?: string | null;
    onState?: (state: "live" | "reconnecting" | "error", error?: ApiError) => void;
  },
): () => void {
  const controller = new AbortController();
  let last = options.lastEventId ?? null;
  const run = async () => {
    let delay = 500;
    while (!controller.signal.aborted) {
      try {
        await streamEvents({
          ...options,
          lastEventId: last,
          signal: controller.signal,
          onOpen: () => {
            delay = 500;
            options.onState?.("live");
          },
          onEvent: (event) => {
            last = event.id;
            options.onEvent(event);
          },
        });
      } catch (err) {
        const error = err instanceof ApiError ? err : new ApiError(0, "error", String(err));
        if (error.unauthorized) {
          window.dispatchEvent(new CustomEvent(UNAUTHORIZED));
          options.onState?.("error", error);
          return;
        }
        if (error.code === "event_not_found" || error.code === "resume_too_old") last = null;
        options.onState?.("reconnecting", error);
      }
      if (controller.signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  };
  void run();
  return () => controller.abort();
}
