"""Auth, CORS, body limits, and mounting the router on someone else's app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from murmur_server import (
    BackgroundServer,
    create_app,
    create_router,
    is_loopback,
    require_token_for_host,
)
from murmur_server._security import AuthGuard, token_matches
from murmur_server.commands import serve_command

from murmur import AgentRuntime
from murmur.core.errors import MurmurError
from murmur.hookspecs import hookimpl

from ._agents import TOKEN


async def test_every_route_but_healthz_requires_the_token(runtime: AgentRuntime) -> None:
    """Without the right bearer token every route (docs included) is a typed 401."""
    app = create_app(runtime, token=TOKEN, max_auth_failures=10_000)
    async with BackgroundServer(app) as server:
        await _every_route_needs_the_token(server)


async def _every_route_needs_the_token(server: BackgroundServer) -> None:
    paths = [
        "/agents",
        "/groups",
        "/runs",
        "/runs/x",
        "/runs/x/result",
        "/runs/x/tree",
        "/events/stream",
        "/runtime/stats",
        "/usage",
        "/tools",
        "/readyz",
        "/openapi.json",
        "/docs",
        "/nowhere",
    ]
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/healthz")).status_code == 200
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": TOKEN},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}x"},
        ):
            for path in paths:
                response = await http.get(path, headers=headers)
                assert response.status_code == 401, (path, headers)
                assert response.headers["www-authenticate"] == "Bearer"
                assert response.json()["error"]["code"] == "unauthorized"
            for path in ("/runs", "/runs/gather", "/runs/group", "/runs/x/cancel"):
                response = await http.post(path, json={"agent": "echo"}, headers=headers)
                assert response.status_code == 401
        ok = await http.get("/agents", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200


def test_the_token_check_is_exact() -> None:
    """Only `Bearer <token>` with the exact token passes (compared in constant time)."""
    assert token_matches(f"Bearer {TOKEN}", TOKEN)
    assert token_matches(f"bearer {TOKEN}", TOKEN)
    for header in (
        None,
        "",
        TOKEN,
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}0",
        "Bearer ",
        f"Token {TOKEN}",
    ):
        assert not token_matches(header, TOKEN)


def test_binding_beyond_loopback_requires_a_token() -> None:
    """Loopback needs no token; any other address does."""
    for host in ("127.0.0.1", "127.0.0.9", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
        require_token_for_host(host, None)
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com"):
        assert not is_loopback(host)
        with pytest.raises(MurmurError) as caught:
            require_token_for_host(host, None)
        assert caught.value.code == "token_required"
        require_token_for_host(host, "a-token-of-16-ch")
        with pytest.raises(MurmurError) as short:
            require_token_for_host(host, "a-token-of-15-c")
        assert short.value.code == "token_too_short"
        assert "guess a short token" in short.value.message
    require_token_for_host("127.0.0.1", "x")  # loopback: any token
    for bad in (" padded", "trailing ", "new\nline", "tab\tinside"):
        with pytest.raises(MurmurError) as caught:
            require_token_for_host("127.0.0.1", bad)
        assert caught.value.code == "token_invalid"


def test_murmur_serve_refuses_a_public_address_without_a_token() -> None:
    """`murmur serve --host 0.0.0.0` without --token exits with a message, serving nothing."""
    result = CliRunner().invoke(
        serve_command, ["--host", "0.0.0.0"], env={"MURMUR_SERVER_TOKEN": ""}
    )
    assert result.exit_code == 2
    assert "without a bearer token" in result.output
    assert "--token" in result.output


async def test_cors_is_off_unless_origins_are_configured(runtime: AgentRuntime) -> None:
    """No CORS headers by default; configured origins (only) get them."""
    preflight = {"Origin": "https://ui.example", "Access-Control-Request-Method": "GET"}
    async with (
        BackgroundServer(create_app(runtime)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        response = await http.options("/agents", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
        response = await http.get("/agents", headers={"Origin": "https://ui.example"})
        assert "access-control-allow-origin" not in response.headers
    app = create_app(runtime, token=TOKEN, cors_origins=["https://ui.example"])
    async with BackgroundServer(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        response = await http.options("/agents", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://ui.example"
        other = {**preflight, "Origin": "https://evil.example"}
        response = await http.options("/agents", headers=other)
        assert "access-control-allow-origin" not in response.headers


async def test_request_bodies_are_size_limited(runtime: AgentRuntime) -> None:
    """A body over max_body_bytes is a typed 413, declared or streamed."""
    app = create_app(runtime, max_body_bytes=2048)
    async with BackgroundServer(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        big = {"agent": "echo", "input": "x" * 4096}
        response = await http.post("/runs", json=big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"agent": "echo", "input": "'
            for _ in range(10):
                yield b"x" * 512
            yield b'"}'

        streamed = await http.post(
            "/runs", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        small = await http.post("/runs", json={"agent": "echo", "input": "x" * 100})
        assert small.status_code == 202


async def test_the_router_mounts_on_a_users_app(runtime: AgentRuntime) -> None:
    """create_router adds the API (auth and typed errors included) to an existing app."""
    app = FastAPI()

    @app.get("/mine")
    async def mine() -> dict[str, str]:
        return {"mine": "yes"}

    app.include_router(create_router(runtime, token=TOKEN), prefix="/murmur")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with BackgroundServer(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/mine")).json() == {"mine": "yes"}
        assert (await http.get("/murmur/healthz")).status_code == 200
        assert (await http.get("/murmur/agents")).status_code == 401
        agents = (await http.get("/murmur/agents", headers=auth)).json()
        assert "echo" in {a["name"] for a in agents}
        missing = await http.get("/murmur/runs/nope", headers=auth)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "run_not_found"
        bad = await http.post("/murmur/runs", json={}, headers=auth)
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "invalid_request"
        run = (
            await http.post("/murmur/runs", json={"agent": "echo", "input": "m"}, headers=auth)
        ).json()
        result = await http.get(f"/murmur/runs/{run['run_id']}/result?wait=30", headers=auth)
        assert result.json()["output"] == "echo:m"


class ExamplePlugin:
    """A plugin that mounts a route through `murmur_server_routes`."""

    @hookimpl
    def murmur_server_routes(self, app: Any) -> None:
        @app.get("/example/ping")
        async def ping() -> dict[str, str]:
            return {"example": "pong"}


async def test_plugins_mount_routes_through_the_hook(runtime: AgentRuntime) -> None:
    """`murmur_server_routes(app)` lets a plugin add routes, behind the same token."""
    runtime.plugins.register(ExamplePlugin(), name="test-example")
    app = create_app(runtime, token=TOKEN)
    async with BackgroundServer(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/example/ping")).status_code == 401
        response = await http.get("/example/ping", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.json() == {"example": "pong"}


async def test_the_docs_pages_load_their_assets_from_the_server(runtime: AgentRuntime) -> None:
    """`/docs` and `/redoc` name no CDN; their assets are served without a token (no data)."""
    app = create_app(runtime, token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with BackgroundServer(app) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/docs")).status_code == 401
        for page in ("/docs", "/redoc"):
            html = (await http.get(page, headers=auth)).text
            assert "/docs/assets/" in html
            assert "cdn" not in html.lower()
            assert "googleapis" not in html
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
            response = await http.get(f"/docs/assets/{asset}")
            assert response.status_code == 200
            assert len(response.content) > 1000
        assert (await http.get("/docs/assets/../openapi.json")).status_code == 401


async def test_a_slow_consumer_never_blocks_the_runtime(runtime: AgentRuntime) -> None:
    """A subscriber that reads nothing while 30 runs finish loses nothing and blocks nobody."""
    from murmur_client import LocalClient

    client = LocalClient(runtime)
    client.broadcaster.max_queue = 3
    stream = client.events(types=["agent_completed"])
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)  # subscribed, then stops reading after one event
    results = await asyncio.wait_for(runtime.gather("echo", [str(i) for i in range(30)]), 30)
    assert all(r.is_ok() for r in results)
    assert client.broadcaster.dropped > 0
    got = [await first] + [await asyncio.wait_for(anext(stream), 10) for _ in range(29)]
    assert sorted(str(e.trace_id) for e in got) == sorted(r.trace_id for r in results)
    await stream.aclose()


def test_tokens_are_compared_as_utf8_bytes() -> None:
    """The raw header bytes (or the Latin-1 text ASGI makes of them) match the UTF-8 token."""
    token = "pässwörd-λ-0123456789"
    raw = f"Bearer {token}".encode()
    assert token_matches(raw, token)
    assert token_matches(raw.decode("latin-1"), token)  # what request.headers holds
    assert not token_matches(f"Bearer {token}".encode("utf-16"), token)
    assert not token_matches(b"Bearer " + token.encode()[:-1], token)


def test_the_guard_locks_a_client_out_for_the_window_then_lets_it_back() -> None:
    """3 wrong tokens within 10 s lock that client (only) out until the first is 10 s old;
    a right token clears its count."""
    now = [1000.0]
    guard = AuthGuard(TOKEN, max_failures=3, window=10, clock=lambda: now[0])
    right, wrong = f"Bearer {TOKEN}", "Bearer nope"
    for _ in range(3):
        now[0] += 1
        failed = guard.check(wrong, "10.0.0.1")
        assert failed is not None
        assert failed.code == "unauthorized"
    locked = guard.check(right, "10.0.0.1")
    assert locked is not None
    assert (locked.code, locked.details["retry_after"]) == ("too_many_auth_failures", 8)
    assert guard.check(right, "10.0.0.2") is None  # another client is not affected
    now[0] += 8  # the first failure is now 10 s old: two remain, under the limit
    assert guard.check(right, "10.0.0.1") is None
    for _ in range(2):
        assert guard.check(wrong, "10.0.0.1") is not None
    assert guard.check(right, "10.0.0.1") is None  # cleared by the right token above
