"""murmur-client alone on murmur-core: one run against a server (URL and token as args)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys

from _smoke import check, plugins_ok


async def main(url: str, token: str) -> None:
    from murmur_client import MurmurClient

    async with MurmurClient(url, token=token) as client:
        run = await client.start_run("echo", "hello from murmur-client")
        result = await client.wait(run.run_id, timeout=60)
    status = getattr(result.status, "value", result.status)
    check(status == "completed", f"a run through MurmurClient: {result}")


rows = plugins_ok()
check(rows["murmur-client"]["kind"] == "library", f"murmur-client: {rows['murmur-client']}")
check(importlib.util.find_spec("fastapi") is None, "murmur-client needs no server library")
asyncio.run(main(sys.argv[1], sys.argv[2]))
print("murmur-client: one run against a server, with no server dependencies installed")
