"""Run by tests/plugins/redis/test_limits.py as one of several worker processes:

    python _limits_script.py budget  <key> <tasks> <limit>    # shared RedisTokenBudget
    python _limits_script.py limiter <key> <tasks> <max_running>  # shared limiter
    python _limits_script.py hold    <key> 0 <lease_seconds>  # take a slot, then hang

`budget` and `limiter` wait until `WORKERS` processes are ready (a Redis counter), then
gather `<tasks>` FunctionModel runs at concurrency 10 and print a JSON summary. Each model
call spends a fixed `TOKENS` tokens; in `limiter` mode it also tracks, in Redis, how many
calls are inside the model at once across every process (`<key>:active` / `:peak`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, cast

from murmur_redis import RedisConcurrencyLimiter, RedisTokenBudget
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage
from redis.asyncio import from_url

from murmur import Agent, AgentRuntime, RuntimeOptions
from murmur.events import NullEventEmitter

URL = "redis://127.0.0.1:6379/0"
WORKERS = 2
TOKENS = 100
CONCURRENCY = 10

_ENTER = """
local n = redis.call('INCR', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
return n
"""


async def _barrier(redis: Any, key: str) -> None:
    await redis.incr(f"{key}:ready")
    for _ in range(1200):
        if int(await redis.get(f"{key}:ready") or 0) >= WORKERS:
            return
        await asyncio.sleep(0.05)
    raise SystemExit("the other worker process never became ready")


async def main(mode: str, key: str, tasks: int, param: float) -> dict[str, Any]:
    redis = from_url(URL)
    track = mode == "limiter"

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if track:
            await redis.eval(_ENTER, 2, f"{key}:active", f"{key}:peak")  # type: ignore[misc]
        try:
            await asyncio.sleep(0.05)
        finally:
            if track:
                await cast("Any", redis).decr(f"{key}:active")
        return ModelResponse(
            parts=[TextPart("ok")],
            usage=RequestUsage(input_tokens=TOKENS // 2, output_tokens=TOKENS - TOKENS // 2),
        )

    if mode == "hold":
        limiter = RedisConcurrencyLimiter(1, key=key, lease_seconds=param)
        await limiter.acquire("hold")
        print("held", flush=True)
        await asyncio.sleep(3600)  # the test SIGKILLs this process
        return {}
    options = RuntimeOptions()
    agent = Agent(name="worker", model=FunctionModel(respond))
    if mode == "budget":
        options = RuntimeOptions(token_budget=RedisTokenBudget(int(param), key=key, url=URL))
    else:
        limiter = RedisConcurrencyLimiter(int(param), key=key, url=URL, poll_interval=0.02)
        agent = agent.model_copy(update={"model_concurrency_limiter": limiter})
    runtime = AgentRuntime(options=options, event_emitter=NullEventEmitter())
    await _barrier(redis, key)
    try:
        results = await runtime.gather(
            agent, [f"t{i}" for i in range(tasks)], max_concurrency=CONCURRENCY
        )
    finally:
        await runtime.aclose()
        await redis.aclose()
    return {
        "ok": sum(r.is_ok() for r in results),
        "errors": sorted({f"{type(r.error).__name__}:{r.error.code}" for r in results if r.error}),
        "ok_tokens": sum(r.metadata.total_tokens for r in results if r.is_ok()),
    }


if __name__ == "__main__":
    mode, key, tasks, param = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    print(json.dumps(asyncio.run(main(mode, key, tasks, param))))
