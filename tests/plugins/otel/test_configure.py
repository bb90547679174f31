"""`--emitter otel` in a process with no providers: SDK providers from the OTEL_* variables,
or none at all when the environment names no exporter. Fresh interpreters, since global
providers can be set once per process."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
from opentelemetry import metrics, trace
from murmur.cli.worker import resolve_emitters
resolve_emitters(["otel"])
tracer_provider = trace.get_tracer_provider()
print(type(tracer_provider).__module__, type(tracer_provider).__name__)
print(type(metrics.get_meter_provider()).__name__)
resource = getattr(tracer_provider, "resource", None)
print(resource.attributes.get("service.name") if resource is not None else None)
"""


def _probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.splitlines()


def test_otel_variables_configure_sdk_providers() -> None:
    """OTEL_SERVICE_NAME and OTEL_*_EXPORTER build the SDK providers the emitter uses."""
    lines = _probe(
        OTEL_SERVICE_NAME="probe-worker",
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
    )
    assert lines == [
        "opentelemetry.sdk.trace TracerProvider",
        "_ProxyMeterProvider",
        "probe-worker",
    ]


def test_without_otel_variables_the_global_providers_are_left_alone() -> None:
    """No exporter named: nothing is configured behind the application's back."""
    lines = _probe()
    assert lines[:2] == ["opentelemetry.trace ProxyTracerProvider", "_ProxyMeterProvider"]
