"""Schemathesis fuzzes the API from its own OpenAPI schema against a live server: no 5xx."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from murmur_server import create_app
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ._agents import TOKEN, build_runtime, pipeline_group

MAX_EXAMPLES = 60
CASES: Counter[str] = Counter()
AUTH = {"Authorization": f"Bearer {TOKEN}"}

schema = schemathesis.openapi.from_dict(create_app(build_runtime(), token=TOKEN).openapi()).exclude(
    path="/events/stream"
)  # an endless stream: covered by test_events.py
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """The app served by uvicorn on its own thread (schemathesis calls are synchronous)."""
    app = create_app(
        build_runtime(), token=TOKEN, groups=[pipeline_group()], max_auth_failures=10**9
    )  # negative cases send wrong tokens; throttling them has its own test
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="critical", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)
    print(f"\nfuzzed: {sum(CASES.values())} requests, no 5xx: {dict(CASES)}", file=sys.stderr)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
)
def test_the_api_never_answers_5xx(case: schemathesis.Case, live_url: str) -> None:
    """Any request the schema allows (and many it does not) gets a typed answer, never a 5xx."""
    response = case.call(base_url=live_url, headers=AUTH, timeout=30)
    CASES[case.operation.label] += 1
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["type"]
        assert error["code"]
        assert error["message"]


def test_the_schema_documents_every_route() -> None:
    """The OpenAPI schema has every route of the API, with typed responses."""
    paths = create_app(build_runtime(), token=TOKEN).openapi()["paths"]
    assert set(paths) == {
        "/healthz",
        "/readyz",
        "/agents",
        "/groups",
        "/runs",
        "/runs/gather",
        "/runs/group",
        "/runs/{run_id}",
        "/runs/{run_id}/result",
        "/runs/{run_id}/tree",
        "/runs/{run_id}/cancel",
        "/events/stream",
        "/runtime/stats",
        "/usage",
        "/tools",
    }
    assert httpx is not None


_TEXT = st.text(
    st.characters(exclude_categories=()) | st.sampled_from(["\ud800", "\udfff", "\ud83d"]),
    max_size=12,
)
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _TEXT
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=24,
)


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[str, bytes]:
    """A start request whose input / metadata may hold surrogates, NaN, deep nesting,
    megabytes of padding, or broken JSON."""
    depth = draw(st.sampled_from([0, 0, 1, 63, 64, 65, 255, 256, 1000, 5000]))
    value = json.dumps(draw(_VALUES), allow_nan=True)
    value = "[" * depth + value + "]" * depth  # nested as text: json.dumps would recurse
    padding = draw(st.sampled_from([0, 0, 0, 1000, 1_048_000, 1_100_000, 3_000_000]))
    metadata = draw(st.dictionaries(_TEXT, _VALUES, max_size=3))
    if padding:
        metadata["pad"] = "x" * padding
    path = draw(st.sampled_from(["/runs", "/runs/gather", "/runs/group"]))
    meta = json.dumps(metadata, allow_nan=True)  # \ud800 escapes, NaN literals
    if path == "/runs/gather":
        other = json.dumps(draw(_VALUES), allow_nan=True)
        text = f'{{"agent": "echo", "inputs": [{value}, {other}], "metadata": {meta}}}'
    elif path == "/runs/group":
        text = f'{{"group": "pipeline", "input": {value}, "metadata": {meta}}}'
    else:
        text = f'{{"agent": "echo", "input": {value}, "metadata": {meta}}}'
    raw = text.encode()
    cut = draw(st.sampled_from([None, None, None, 1, 7, -1, -3]))
    if cut is not None:
        raw = raw[:cut]
    if draw(st.booleans()) and draw(st.booleans()):
        raw = raw.replace(b"\\ud800", b"\xed\xa0\x80")  # an encoded surrogate: not UTF-8
    return path, raw


@given(request=hostile_requests())
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
)
def test_hostile_bodies_get_a_typed_answer_on_a_live_connection(
    request: tuple[str, bytes], live_url: str
) -> None:
    """Generated bodies with lone surrogates, NaN / Infinity, deep nesting, megabytes or
    broken JSON: 202, or a typed 4xx; never a 5xx, never a dropped connection."""
    path, raw = request
    with httpx.Client(base_url=live_url, headers=AUTH, timeout=60) as http:
        response = http.post(path, content=raw, headers={"Content-Type": "application/json"})
        CASES[f"hostile POST {path} -> {response.status_code}"] += 1
        assert response.status_code < 500, response.text[:300]
        if response.status_code >= 400:
            error = json.loads(response.content.decode("utf-8"))["error"]
            assert error["code"]
            assert error["message"]
        else:
            assert response.status_code == 202, response.text[:300]
        assert response.headers.get("connection") != "close"
        assert http.get("/healthz").status_code == 200  # the same connection
