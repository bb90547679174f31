"""murmur-mcp: the gate's cost per MCP tool call, and one server process for many runs.

    uv run python benchmarks/mcp.py [--calls 40] [--rounds 15] [--runs 100] [--json]

Against `mcp-server-time` (stdio; `uv tool install mcp-server-time`):

- **Per-call overhead.** A FunctionModel makes `calls` sequential `get_current_time` calls in
  one run. `direct`: a PydanticAI agent with the MCPToolset in its `toolsets`. `murmur`: the
  same model in a murmur `Agent` at MEDIUM trust with the tool on its allow-list, run by an
  `AgentRuntime` (`NullEventEmitter`): every call passes the trust gate, emits its two
  `TOOL_CALL_*` events and goes through the shared-server wrapper (its call timeout and
  liveness check). Both sides use the very same `MCPToolset` instance (the session murmur
  started), so the server and the wire are identical. Rounds alternate the two sides in a
  shuffled order; the ratio is the median over rounds of murmur's wall time over direct's
  for the same number of calls (wall time: the server's work happens in another process).
  This process's CPU time per call is reported too: it is what murmur adds, and unlike wall
  time it does not move with other processes' load.
- **Reuse.** `runs` sequential runs of an MCP-using agent, then how many times the server
  process was started on the runtime (`SharedMCPToolset.starts`), and how many processes
  of it are alive.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is called mcp.py: run as a script, its folder comes first on sys.path and would
# shadow the `mcp` package (the MCP SDK) that murmur-mcp imports.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import time
from typing import Any

from murmur_mcp import SharedMCPToolset, mcp_stdio
from pydantic_ai import Agent as PAAgent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime, TaskSpec
from murmur.events import NullEventEmitter


def _server_binary() -> str:
    found = shutil.which("mcp-server-time") or shutil.which(
        "mcp-server-time", path=str(Path.home() / ".local" / "bin")
    )
    if found is None:
        raise SystemExit("mcp-server-time is not installed: uv tool install mcp-server-time")
    return found


def calling(calls: int) -> FunctionModel:
    """A model that calls get_current_time `calls` times, one per response, then answers."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        done = sum(
            1 for m in messages for p in m.parts if getattr(p, "part_kind", "") == "tool-return"
        )
        if done >= calls:
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(parts=[ToolCallPart("get_current_time", {"timezone": "UTC"})])

    return FunctionModel(respond)


def _children(pattern: str) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        count += parent == os.getpid() and pattern in cmdline
    return count


async def overhead(calls: int, rounds: int) -> dict[str, Any]:
    """Median murmur/direct wall-time ratio for `calls` MCP calls in one run."""
    binary = _server_binary()
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    model = calling(calls)
    agent = Agent(
        name="clock",
        model=model,
        mcp_servers=(mcp_stdio("time", binary),),
        tools=("time.get_current_time",),
    )
    try:
        warm = await runtime.run(agent, TaskSpec(input="warm up"))
        assert warm.error is None, warm.error
        shared = runtime.toolsets.toolsets()["time"]
        assert isinstance(shared, SharedMCPToolset)
        live = await shared._ensure_live()  # the very MCPToolset murmur uses
        direct_agent = PAAgent(model, toolsets=[live])
        await direct_agent.run("warm up")

        async def run_direct() -> tuple[float, float]:
            started, cpu = time.perf_counter(), time.process_time()
            result = await direct_agent.run("go")
            assert result.output == "done"
            return time.perf_counter() - started, time.process_time() - cpu

        async def run_murmur() -> tuple[float, float]:
            started, cpu = time.perf_counter(), time.process_time()
            result = await runtime.run(agent, TaskSpec(input="go"))
            assert result.error is None, result.error
            return time.perf_counter() - started, time.process_time() - cpu

        sides = {"direct": run_direct, "murmur": run_murmur}
        times: dict[str, list[float]] = {"direct": [], "murmur": []}
        cpu: dict[str, list[float]] = {"direct": [], "murmur": []}
        for _ in range(rounds):
            order = list(sides)
            random.shuffle(order)
            for side in order:
                wall, used = await sides[side]()
                times[side].append(wall)
                cpu[side].append(used)
        ratios = [m / d for m, d in zip(times["murmur"], times["direct"], strict=True)]

        def per_call(values: list[float]) -> float:
            return round(statistics.median(values) / calls * 1000, 3)

        return {
            "calls_per_run": calls,
            "rounds": rounds,
            "direct_ms_per_call": per_call(times["direct"]),
            "murmur_ms_per_call": per_call(times["murmur"]),
            "direct_cpu_ms_per_call": per_call(cpu["direct"]),
            "murmur_cpu_ms_per_call": per_call(cpu["murmur"]),
            "ratio_median": round(statistics.median(ratios), 3),
            "ratio_min": round(min(ratios), 3),
            "ratio_max": round(max(ratios), 3),
            "server_starts": shared.starts,
        }
    finally:
        await runtime.aclose()


async def reuse(runs: int) -> dict[str, Any]:
    """`runs` runs of an MCP-using agent: server starts and live processes."""
    binary = _server_binary()
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    agent = Agent(
        name="clock",
        model=calling(1),
        mcp_servers=(mcp_stdio("time", binary),),
        tools=("time.get_current_time",),
    )
    try:
        for i in range(runs):
            result = await runtime.run(agent, TaskSpec(input=str(i)))
            assert result.error is None, result.error
        shared = runtime.toolsets.toolsets()["time"]
        assert isinstance(shared, SharedMCPToolset)
        alive = _children(binary)
        return {"runs": runs, "server_starts": shared.starts, "processes_alive": alive}
    finally:
        await runtime.aclose()


def main() -> None:
    """Run both measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {
        "overhead": asyncio.run(overhead(args.calls, args.rounds)),
        "reuse": asyncio.run(reuse(args.runs)),
        "load_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    o, r = result["overhead"], result["reuse"]
    print(f"per call: direct {o['direct_ms_per_call']} ms, murmur {o['murmur_ms_per_call']} ms")
    print(
        f"CPU of this process per call: direct {o['direct_cpu_ms_per_call']} ms, "
        f"murmur {o['murmur_cpu_ms_per_call']} ms"
    )
    print(
        f"murmur / direct: {o['ratio_median']}x median over {o['rounds']} rounds "
        f"(min {o['ratio_min']}x, max {o['ratio_max']}x; target <= 1.05x)"
    )
    print(
        f"{r['runs']} runs: server started {r['server_starts']} time(s), "
        f"{r['processes_alive']} process(es) alive before aclose"
    )
    print(f"load average (1 min): {result['load_1m']}")


if __name__ == "__main__":
    main()
