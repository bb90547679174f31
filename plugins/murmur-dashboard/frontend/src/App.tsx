import { useCallback, useEffect, useState } from "react";
import { ApiError, apiBase, get, getToken, setToken, UNAUTHORIZED } from "./api";
import { useHashRoute } from "./hooks";
import { Costs } from "./pages/Costs";
import { Fleet } from "./pages/Fleet";
import { Inspector } from "./pages/Inspector";
import { Live } from "./pages/Live";
import { Runs } from "./pages/Runs";
import { Tools } from "./pages/Tools";
import type { Readiness } from "./types";

type Gate = "checking" | "signin" | "unreachable" | "ready";

const PAGES: [string, string][] = [
  ["fleet", "Fleet"],
  ["runs", "Runs"],
  ["costs", "Costs"],
  ["tools", "Tools"],
  ["live", "Live"],
];

export function App() {
  const [gate, setGate] = useState<Gate>("checking");
  const [problem, setProblem] = useState<string>("");
  const route = useHashRoute();
  const check = useCallback(async () => {
    setGate("checking");
    try {
      await get<Readiness>("/readyz");
      setGate("ready");
    } catch (err) {
      const error = err instanceof ApiError ? err : new ApiError(0, "error", String(err));
      if (error.unauthorized) {
        setProblem(
          error.code === "too_many_auth_failures"
            ? "Too many wrong tokens from this address: wait a minute, then try again."
            : getToken()
              ? "The server refused this token."
              : "",
        );
        setGate("signin");
      } else if (error.unreachable) setGate("unreachable");
      else setGate("ready"); // e.g. 503 not ready: the pages say what fails
    }
  }, []);
  useEffect(() => {
    void check();
    const onUnauthorized = () => {
      setProblem("The server refused this token.");
      setGate("signin");
    };
    window.addEventListener(UNAUTHORIZED, onUnauthorized);
    return () => window.removeEventListener(UNAUTHORIZED, onUnauthorized);
  }, [check]);
  const page = route[0] ?? "fleet";
  return (
    <div className="app">
      <header>
        <a className="brand" href="#/fleet">
          murmur
        </a>
        {gate === "ready" && (
          <nav>
            {PAGES.map(([id, label]) => (
              <a key={id} href={`#/${id}`} className={page === id ? "active" : ""}>
                {label}
              </a>
            ))}
          </nav>
        )}
        <span className="spacer" />
        {gate === "ready" && getToken() && (
          <button
            type="button"
            className="link"
            onClick={() => {
              setToken("");
              setProblem("");
              setGate("signin");
            }}
          >
            sign out
          </button>
        )}
      </header>
      <main>
        {gate === "checking" && <div className="state loading">Connecting to {apiBase() || "the server"}…</div>}
        {gate === "unreachable" && (
          <div className="state error" role="alert" data-testid="unreachable">
            <span>The murmur server cannot be reached. Is `murmur serve` running?</span>
            <button type="button" onClick={() => void check()}>
              Retry
            </button>
          </div>
        )}
        {gate === "signin" && (
          <SignIn
            problem={problem}
            onToken={(token) => {
              setToken(token);
              void check();
            }}
          />
        )}
        {gate === "ready" && <Page route={route} />}
      </main>
    </div>
  );
}

function Page({ route }: { route: string[] }) {
  switch (route[0] ?? "fleet") {
    case "runs":
      return route[1] ? <Inspector runId={route[1]} /> : <Runs />;
    case "costs":
      return <Costs />;
    case "tools":
      return <Tools />;
    case "live":
      return <Live />;
    default:
      return <Fleet />;
  }
}

function SignIn({ problem, onToken }: { problem: string; onToken: (token: string) => void }) {
  const [value, setValue] = useState("");
  return (
    <form
      className="signin"
      data-testid="signin"
      onSubmit={(e) => {
        e.preventDefault();
        onToken(value.trim());
      }}
    >
      <h1>Sign in</h1>
      <p>This server needs its bearer token (the one `murmur serve` was started with). It is kept for this browser tab only.</p>
      {problem && (
        <p className="state error" role="alert">
          {problem}
        </p>
      )}
      <input
        type="password"
        aria-label="token"
        autoComplete="current-password"
        placeholder="token"
        value={value}
        onChange={(e) => setValue(e.target.value)}
        autoFocus
      />
      <button type="submit">Sign in</button>
    </form>
  );
}
