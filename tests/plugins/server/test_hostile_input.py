"""Malformed and hostile requests against a real `murmur serve` process with a SQLite store.

Every one gets a typed 4xx (or, for a failing store, a 503) on a connection that stays
usable, and the store goes on working afterwards.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from murmur_client import MurmurClient

from .test_cli import HERE, Served, free_port, murmur
from .test_cli import env as cli_env

TOKEN = "tökén-ünïcødé-λ-2b9c"  # non-ASCII on purpose: clients send it UTF-8 encoded
AUTH = {b"Authorization": f"Bearer {TOKEN}".encode()}


class Hostile(Served):
    """`murmur serve --store sqlite:///...` with a non-ASCII token, on a free loopback port."""

    def __init__(self, db: Path) -> None:
        self.db = db
        super().__init__(free_port(), f"sqlite:///{db}?busy_timeout=0.3", token=TOKEN)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH, timeout=30)

    def log(self) -> str:
        """Stop the server and return what it wrote to stderr."""
        self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate(timeout=10)
        return err.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    server = Hostile(tmp_path_factory.mktemp("hostile") / "runs.db")
    yield server
    log = server.log()
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture
def http(served: Hostile) -> Iterator[httpx.Client]:
    with served.client() as client:
        yield client


def nested(depth: int, leaf: str = "0") -> str:
    return "[" * depth + leaf + "]" * depth


def typed_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response is `status` with a typed error body (and `code`, when given)."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    error = json.loads(response.content.decode("utf-8"))["error"]  # strict UTF-8: valid JSON
    assert error["type"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


MALFORMED = {
    "input nested 300 deep": ("/runs", '{"agent": "echo", "input": ' + nested(300) + "}"),
    "input nested 65 deep": ("/runs", '{"agent": "echo", "input": ' + nested(65) + "}"),
    "metadata nested 300 deep": (
        "/runs",
        '{"agent": "echo", "input": "x", "metadata": {"k": ' + nested(300) + "}}",
    ),
    "body nested 200000 deep": ("/runs", nested(200_000)),
    "gather input nested 300 deep": (
        "/runs/gather",
        '{"agent": "echo", "inputs": ["a", ' + nested(300) + "]}",
    ),
    "group input nested 300 deep": (
        "/runs/group",
        '{"group": "pipeline", "input": ' + nested(300) + "}",
    ),
    "lone surrogate in input": ("/runs", '{"agent": "echo", "input": "a\\ud800b"}'),
    "lone low surrogate in input": ("/runs", '{"agent": "echo", "input": "\\udfff"}'),
    "lone surrogate in a metadata key": (
        "/runs",
        '{"agent": "echo", "input": "x", "metadata": {"\\ud800": 1}}',
    ),
    "lone surrogate in a gather input": (
        "/runs/gather",
        '{"agent": "echo", "inputs": ["ok", {"q": "\\ud83d"}]}',
    ),
    "lone surrogate in the agent name": ("/runs", '{"agent": "\\ud800", "input": "x"}'),
    "NaN input": ("/runs", '{"agent": "echo", "input": NaN}'),
    "Infinity in metadata": ("/runs", '{"agent": "echo", "metadata": {"x": Infinity}}'),
    "-Infinity in a gather input": ("/runs/gather", '{"agent": "echo", "inputs": [-Infinity]}'),
    "not JSON": ("/runs", "{agent: echo"),
    "empty body": ("/runs", ""),
    "a list body": ("/runs", '["echo"]'),
    "unknown field": ("/runs", '{"agent": "echo", "inptu": "x"}'),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bodies_are_typed_4xx_on_a_connection_that_stays_open(
    http: httpx.Client, case: str
) -> None:
    """Deep nesting, lone surrogates, NaN / Infinity, broken JSON: a typed 4xx, no reset."""
    path, body = MALFORMED[case]
    response = http.post(path, content=body.encode(), headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text[:300])
    typed_error(response, response.status_code)
    assert response.headers.get("connection") != "close"
    assert http.get("/agents").status_code == 200  # the same keep-alive connection


def test_raw_bytes_that_are_not_utf8_are_a_typed_422(http: httpx.Client) -> None:
    """A body with an encoded surrogate (ED A0 80) or stray bytes is refused as invalid."""
    for raw in (b'{"agent": "echo", "input": "\xed\xa0\x80"}', b'{"agent": "\xff"}'):
        response = http.post("/runs", content=raw, headers={"Content-Type": "application/json"})
        typed_error(response, 422, "invalid_request")


def test_the_limits_name_the_field_and_what_to_do(http: httpx.Client) -> None:
    """The 422 says which field and which rule; 64 levels pass, 65 do not."""
    body = {"agent": "echo", "input": json.loads(nested(63, '"deep"'))}
    assert http.post("/runs", json=body).status_code == 202
    error = typed_error(
        http.post(
            "/runs",
            content=('{"agent": "echo", "input": ' + nested(65) + "}").encode(),
            headers={"Content-Type": "application/json"},
        ),
        422,
        "invalid_request",
    )
    assert "nested more than 64 levels" in error["message"]
    assert error["details"]["errors"][0]["loc"] == ["body", "input"]
    nan = typed_error(
        http.post(
            "/runs",
            content=b'{"agent": "echo", "input": {"x": NaN}}',
            headers={"Content-Type": "application/json"},
        ),
        422,
    )
    assert "NaN" in nan["message"]


def test_a_refused_value_is_never_stored_and_the_store_goes_on(http: httpx.Client) -> None:
    """After NaN and surrogate inputs are refused, no run holds them and new runs work."""
    before = http.get("/runs", params={"limit": 1000}).json()["runs"]
    for raw in (
        '{"agent": "echo", "input": NaN}',
        '{"agent": "echo", "input": "\\ud800"}',
        '{"agent": "echo", "input": "x", "metadata": {"m": "\\udc00"}}',
    ):
        refused = http.post(
            "/runs", content=raw.encode(), headers={"Content-Type": "application/json"}
        )
        typed_error(refused, 422)
    after = http.get("/runs", params={"limit": 1000}).json()["runs"]
    assert [r["run_id"] for r in after] == [r["run_id"] for r in before]
    run = http.post("/runs", json={"agent": "echo", "input": "still fine"}).json()
    result = http.get(f"/runs/{run['run_id']}/result", params={"wait": 30}).json()
    assert result["output"] == "echo:still fine"


def test_bodies_over_the_limit_are_413_and_the_connection_survives(http: httpx.Client) -> None:
    """2 MiB declared or streamed (chunked) is a typed 413, and the next request works."""
    big = b'{"agent": "echo", "input": "' + b"x" * 2_097_152 + b'"}'
    declared = http.post("/runs", content=big, headers={"Content-Type": "application/json"})
    typed_error(declared, 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = http.post("/runs", content=chunks(), headers={"Content-Type": "application/json"})
    typed_error(streamed, 413, "payload_too_large")
    assert http.get("/agents").status_code == 200


def test_a_busy_store_is_a_503_with_retry_after(served: Hostile, http: httpx.Client) -> None:
    """While another process holds SQLite's write lock, starting a run is `503 store_busy`."""
    assert http.post("/runs", json={"agent": "echo", "input": "warm"}).status_code == 202
    holder = sqlite3.connect(served.db, timeout=30, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        response = http.post("/runs", json={"agent": "echo", "input": "blocked"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    error = typed_error(response, 503, "store_busy")
    assert response.headers["retry-after"] == "1"
    assert "busy_timeout" in error["message"]
    run = http.post("/runs", json={"agent": "echo", "input": "after"}).json()
    assert http.get(f"/runs/{run['run_id']}/result", params={"wait": 30}).status_code == 200


def test_wrong_methods_get_405_with_an_allow_header(http: httpx.Client) -> None:
    """A 405 lists every method the path answers, in `Allow` and in the error."""
    for method, path, allowed in (
        ("PUT", "/runs", {"GET", "POST"}),
        ("DELETE", "/runs/abc", {"GET"}),
        ("GET", "/runs/abc/cancel", {"POST"}),
        ("POST", "/usage", {"GET"}),
    ):
        response = http.request(method, path)
        error = typed_error(response, 405, "method_not_allowed")
        assert set(response.headers["allow"].split(", ")) == allowed, (method, path)
        assert set(error["details"]["allow"]) == allowed


@pytest.mark.parametrize("path", ["/usage", "/tools"])
def test_time_bounds_are_iso_8601_date_times_as_the_schema_says(
    http: httpx.Client, path: str
) -> None:
    """`until=0.5` or `since=1700000000` is a 422; ISO 8601 date-times are accepted."""
    for params in ({"until": "0.5"}, {"since": "1700000000"}, {"since": "-1e3"}, {"until": "x"}):
        typed_error(http.get(path, params=params), 422, "invalid_request")
    for params in (
        {"until": "2026-01-01T00:00:00Z"},
        {"since": "2026-01-01T00:00:00+02:00", "until": "2030-01-01T00:00:00"},
    ):
        assert http.get(path, params=params).status_code == 200


def test_murmur_client_sends_time_bounds_as_iso_8601(served: Hostile) -> None:
    """`MurmurClient.usage(since=<Unix seconds>)` still works: it sends ISO 8601."""

    async def usage() -> int:
        async with MurmurClient(served.url, token=TOKEN) as client:
            report = await client.usage(since=time.time() - 3600, until=time.time() + 60)
            return report.total.runs

    assert asyncio.run(usage()) >= 0


def test_a_non_ascii_token_matches_utf8_and_nothing_else(served: Hostile) -> None:
    """The token's UTF-8 bytes match; its Latin-1 bytes (or a prefix) do not."""
    with httpx.Client(base_url=served.url, timeout=30) as raw:
        ok = raw.get("/agents", headers={b"Authorization": f"Bearer {TOKEN}".encode()})
        assert ok.status_code == 200
        latin1 = f"Bearer {TOKEN}".encode("latin-1", "replace")
        typed_error(raw.get("/agents", headers={b"Authorization": latin1}), 401, "unauthorized")

    async def agents() -> list[str]:
        async with MurmurClient(served.url, token=TOKEN) as client:
            return [a.name for a in await client.agents()]

    assert "echo" in asyncio.run(agents())


def test_repeated_wrong_tokens_are_throttled_per_client(served: Hostile) -> None:
    """After 10 wrong tokens a client gets 429 with Retry-After, even with the right token;
    another client address is not affected."""
    guesser = httpx.Client(
        base_url=served.url,
        timeout=30,
        transport=httpx.HTTPTransport(local_address="127.0.0.3"),
    )
    bystander = httpx.Client(
        base_url=served.url,
        headers=AUTH,
        timeout=30,
        transport=httpx.HTTPTransport(local_address="127.0.0.4"),
    )
    with guesser, bystander:
        for attempt in range(10):
            wrong = {"Authorization": f"Bearer guess-{attempt}"}
            typed_error(guesser.get("/agents", headers=wrong), 401, "unauthorized")
        throttled = guesser.get("/agents", headers={"Authorization": "Bearer guess-10"})
        error = typed_error(throttled, 429, "too_many_auth_failures")
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        assert error["details"]["retry_after"] == int(throttled.headers["retry-after"])
        right = guesser.get("/agents", headers=AUTH)
        typed_error(right, 429, "too_many_auth_failures")
        assert guesser.get("/healthz").status_code == 200  # the open path stays open
        assert bystander.get("/agents").status_code == 200


def test_murmur_serve_refuses_a_short_token_beyond_loopback() -> None:
    """`murmur serve --host 0.0.0.0 --token <15 chars>` exits 2 and says why."""
    done = subprocess.run(
        murmur("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--token", "x" * 15),
        env={**cli_env(), "MURMUR_SERVER_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "15-character token" in done.stderr
    assert "guess a short token" in done.stderr
    assert "at least 16 characters" in done.stderr


def test_sse_resume_from_an_unknown_id_is_a_typed_404(served: Hostile) -> None:
    """`Last-Event-ID` / `?after=` the store never held: 404 `event_not_found`, at once, for
    20 subscribers at a time, and the server stays responsive."""
    with served.client() as http:
        run = http.post("/runs", json={"agent": "echo", "input": "an event"}).json()
        http.get(f"/runs/{run['run_id']}/result", params={"wait": 30})

    async def subscribe(i: int) -> httpx.Response:
        async with httpx.AsyncClient(base_url=served.url, headers=AUTH, timeout=30) as client:
            if i % 2:
                return await client.get("/events/stream", headers={"Last-Event-ID": f"nope-{i}"})
            return await client.get("/events/stream", params={"after": f"nope-{i}"})

    async def all_at_once() -> tuple[list[httpx.Response], int]:
        responses = await asyncio.gather(*(subscribe(i) for i in range(20)))
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            health = await client.get("/healthz")
        return list(responses), health.status_code

    responses, health = asyncio.run(all_at_once())
    assert health == 200
    for response in responses:
        error = typed_error(response, 404, "event_not_found")
        assert "reconnect without Last-Event-ID" in error["message"]


REQUEST_PATH = [
    "plugins/murmur-client/src",
    "plugins/murmur-server/src",
    "plugins/murmur-sqlite/src",
    "plugins/murmur-rocksdb/src",
    "plugins/murmur-redis/src/murmur_redis/_store.py",
    "plugins/murmur-redis/src/murmur_redis/_store_client.py",
    "plugins/murmur-redis/src/murmur_redis/_run_store.py",
    "plugins/murmur-redis/src/murmur_redis/_event_store.py",
    "murmur-core/src/murmur/runs",
]
NOT_RESPONSES = {
    "all_failed": "how a gather ended: in RunResult.error, not a response",
    "cancelled": "how a run ended: in RunResult.error, not a response",
    "wait_timeout": "raised by RuntimeClient.wait itself, on the client side",
}


def test_every_error_code_on_the_request_path_has_one_status() -> None:
    """Each code the client, server and stores raise is mapped in STATUS_BY_CODE: store and
    broker faults are 5xx with Retry-After where retrying helps, bad requests 4xx."""
    from murmur_server._errors import RETRY_AFTER_SECONDS, STATUS_BY_CODE, http_status

    from murmur.core.errors import MurmurError, RegistryError

    root = HERE.parents[2]
    codes: set[str] = set()
    for entry in REQUEST_PATH:
        files = [root / entry] if entry.endswith(".py") else (root / entry).rglob("*.py")
        for file in files:
            codes.update(re.findall(r'code="([a-z_0-9]+)"', file.read_text()))
    assert codes - set(NOT_RESPONSES) <= set(STATUS_BY_CODE), codes - set(STATUS_BY_CODE)
    for code in ("store_error", "store_busy", "store_unavailable", "store_locked"):
        assert http_status(RegistryError("x", code=code)) == 503
    assert http_status(RegistryError("x", code="store_timeout")) == 504
    assert http_status(MurmurError("x", code="store_something_new")) == 503
    assert http_status(MurmurError("x", code="never_heard_of_it")) == 500
    assert set(RETRY_AFTER_SECONDS) <= {
        c for c, s in STATUS_BY_CODE.items() if s in (429, 503, 504)
    }


def test_an_unreachable_store_is_a_503_with_retry_after() -> None:
    """`murmur serve --store redis://<nothing listening>`: starting a run is `503
    store_unavailable` with Retry-After, and /readyz says not ready; never a 400."""
    server = Served(free_port(), f"redis://127.0.0.1:{free_port()}/0?timeout=2", token=TOKEN)
    try:
        with server_client(server) as http:
            response = http.post("/runs", json={"agent": "echo", "input": "x"})
            typed_error(response, 503, "store_unavailable")  # refused at once: not a timeout
            assert response.headers["retry-after"] == "2"
            assert http.get("/readyz").status_code == 503
            assert http.get("/healthz").status_code == 200
    finally:
        server.stop()


def server_client(server: Served) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=AUTH, timeout=60)
