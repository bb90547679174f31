"""Schemathesis fuzzes the API from its own OpenAPI schema against a live server: no 5xx."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, settings
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
    print(
        f"\nschemathesis: {sum(CASES.values())} cases over {len(CASES)} operations, no 5xx",
        file=sys.stderr,
    )


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
