"""The live-run control socket: JSON lines over a Unix socket, one request per connection.

A request is one JSON object with an `op`. The answer is one JSON line,
`{"ok": true, "result": ...}` or `{"ok": false, "error": {...}}` (a `MurmurError.to_dict()`),
except for a streaming op (`tail`), which answers with one line per item until the run
ends or the client hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from murmur.core.errors import MurmurError, SpawnError

__all__ = ["ControlServer"]

log = structlog.get_logger("murmur.processes")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
Streamer = Callable[[dict[str, Any]], AsyncIterator[Any]]

_LINE_LIMIT = 1 << 20
_MAX_SOCKET_PATH = 107
_CLOSE_GRACE_S = 1.0


class ControlServer:
    """Serves a live run's control requests on a Unix socket readable only by its owner.

    Args:
        path: the socket path (its directory is created with mode 0700, the socket is 0600).
        handler: answers a one-shot request.
        streamer: answers a streaming request (`op` in `streaming`) item by item.
        streaming: the ops answered by `streamer`.
    """

    def __init__(
        self,
        path: Path,
        handler: Handler,
        streamer: Streamer,
        *,
        streaming: frozenset[str] = frozenset({"tail"}),
    ) -> None:
        self.path = path
        self._handler = handler
        self._streamer = streamer
        self._streaming = streaming
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on `path`.

        Raises:
            SpawnError: the path is too long for a Unix socket (code `"socket_path"`).
        """
        if len(os.fsencode(self.path)) > _MAX_SOCKET_PATH:
            raise SpawnError(
                f"the control socket path {str(self.path)!r} is too long for a Unix socket "
                f"(at most {_MAX_SOCKET_PATH} bytes); set MURMUR_HOME to a shorter directory "
                "or pass agent_process(control=False)",
                code="socket_path",
            )
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket left by a killed run
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=_LINE_LIMIT
        )
        os.chmod(self.path, 0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a request is a JSON object")
            except ValueError as exc:
                await _write(writer, _error(SpawnError(f"bad request: {exc}", code="bad_request")))
                return
            if request.get("op") in self._streaming:
                async for item in self._streamer(request):
                    await _write(writer, item)
                return
            try:
                result = await self._handler(request)
            except MurmurError as exc:
                await _write(writer, _error(exc))
            except Exception as exc:  # a bug answering: the run goes on, the client hears why
                log.warning("control request failed", op=request.get("op"), error=repr(exc))
                await _write(writer, _error(SpawnError(f"request failed: {exc!r}")))
            else:
                await _write(writer, {"ok": True, "result": result})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up
        except asyncio.CancelledError:
            pass  # the run is closing: `close` ends the connections still open
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def close(self) -> None:
        """Stop listening, end open connections and remove the socket file."""
        if self._server is not None:
            self._server.close()
        if self._connections:  # tails end with the run: let them write their last events
            await asyncio.wait(list(self._connections), timeout=_CLOSE_GRACE_S)
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=1.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _error(exc: MurmurError) -> dict[str, Any]:
    return {"ok": False, "error": exc.to_dict()}


async def _write(writer: asyncio.StreamWriter, value: Any) -> None:
    writer.write(json.dumps(value, default=str).encode() + b"\n")
    await writer.drain()
