"""`BackgroundServer`: uvicorn serving an app from a task in the current event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any, Self

import uvicorn

__all__ = ["BackgroundServer"]


class _Server(uvicorn.Server):
    """uvicorn without signal handling: the host program owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


class BackgroundServer:
    """Serve an ASGI app on a loopback port from the running event loop (tests, notebooks).

    ```python
    async with BackgroundServer(create_app(runtime)) as server:
        async with MurmurClient(server.url) as client:
            ...
    ```

    Args:
        app: the ASGI app.
        host: the address to bind.
        port: the port (0: a free one; read `port` after `start`).
        log_level: uvicorn's log level.
    """

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.host}:{self.port}"

    async def start(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109 - startup deadline
        """Bind, start serving, and return once the server accepts connections."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level=self.log_level, lifespan="on", timeout_graceful_shutdown=2
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        async with asyncio.timeout(timeout):
            while not self._server.started:
                if self._task.done():
                    await self._task
                    raise RuntimeError(f"uvicorn exited before serving {self.url}")
                await asyncio.sleep(0.01)

    async def stop(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109 - shutdown deadline
        """Close live event streams, stop serving, and wait for uvicorn to exit."""
        if self._server is None or self._task is None:
            return
        client = getattr(getattr(self.app, "state", None), "murmur", None)
        if client is not None:
            client.broadcaster.close()
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, timeout)
        finally:
            self._server = self._task = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
