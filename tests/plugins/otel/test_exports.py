"""murmur-otel's public face, and how a runtime, `murmur.events` and the CLI find it (or say
what to install)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any, cast

import murmur_otel
import pytest
from click.testing import CliRunner

import murmur.events
from murmur import AgentRuntime
from murmur.core.errors import RegistryError, SpawnError
from murmur.events import MultiEventEmitter
from murmur.plugins import PluginHost, PluginIndex

EXPORTED = {
    "SEMCONV_GENAI_COMMIT",
    "SEMCONV_GENAI_REPOSITORY",
    "MurmurRunSpans",
    "OTelContextMiddleware",
    "OTelEmitter",
    "OTelMetricsEmitter",
    "OTelTraceEmitter",
    "configure_from_env",
    "instrument_pydantic_ai",
    "pydantic_ai_instrumented",
    "traceparent_of",
}


def _kernel_only() -> PluginHost:
    kernel = [d for d in PluginIndex.scan(disabled=()).distributions if d.name == "murmur-core"]
    return PluginHost(index=PluginIndex(kernel))


def test_the_exported_names_are_exactly_the_intended_ones() -> None:
    """murmur_otel.__all__ is deliberate, and every name in it exists."""
    assert set(murmur_otel.__all__) == EXPORTED
    assert all(hasattr(murmur_otel, name) for name in EXPORTED)


def test_the_emitters_import_from_murmur_events_through_their_entry_points() -> None:
    """`from murmur.events import OTel...` finds the classes the entry points name."""
    from murmur.events import OTelEmitter, OTelMetricsEmitter, OTelTraceEmitter

    assert (OTelEmitter, OTelMetricsEmitter, OTelTraceEmitter) == (
        murmur_otel.OTelEmitter,
        murmur_otel.OTelMetricsEmitter,
        murmur_otel.OTelTraceEmitter,
    )


def test_without_the_plugin_murmur_events_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no murmur.emitters entry point naming it, the import error names the package."""
    real = importlib.metadata.entry_points

    def without_otel(**select: str) -> importlib.metadata.EntryPoints:
        found = cast("list[importlib.metadata.EntryPoint]", list(real(**select)))
        return importlib.metadata.EntryPoints(
            e for e in found if getattr(e.dist, "name", None) != "murmur-otel"
        )

    monkeypatch.setattr(importlib.metadata, "entry_points", without_otel)
    with pytest.raises(
        ImportError, match=r"provided by the murmur-otel distribution: pip install murmur-otel"
    ):
        murmur.events.OTelTraceEmitter  # noqa: B018


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("otel", murmur_otel.OTelEmitter),
        ("otel-metrics", murmur_otel.OTelMetricsEmitter),
        ("otel-traces", murmur_otel.OTelTraceEmitter),
    ],
)
def test_a_string_emitter_resolves_through_the_plugin_host(name: str, kind: type) -> None:
    """AgentRuntime(event_emitter="otel") gets the plugin's emitter, not a string."""
    runtime = AgentRuntime(event_emitter=name)
    assert isinstance(runtime.event_emitter, kind)


def test_a_string_emitter_without_the_plugin_is_refused_at_construction() -> None:
    """No plugin, no runtime: the error says what to install (not a failure per event)."""
    with pytest.raises(RegistryError) as info:
        AgentRuntime(event_emitter="otel", plugins=_kernel_only())
    assert str(info.value).startswith('no emitter named "otel": pip install murmur-otel')


def test_an_object_without_emit_is_refused_at_construction() -> None:
    """Anything but an emitter or an emitter name is a typed error at construction."""
    with pytest.raises(SpawnError, match="event_emitter must be an emitter"):
        AgentRuntime(event_emitter=cast("Any", 42))


def test_worker_start_emitter_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """`murmur worker start --emitter otel` with the plugin disabled fails before starting,
    saying why."""
    from murmur.cli.worker import worker_group

    monkeypatch.setenv("MURMUR_DISABLE_PLUGINS", "murmur-otel")
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    result = CliRunner().invoke(
        worker_group,
        ["start", "--agents", "child", "--broker", "memory://x", "--emitter", "otel",
         "--app", "_otel_fleet_app:runtime"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert 'no emitter named "otel": murmur-otel provides it but is disabled' in result.output


def test_worker_start_and_serve_resolve_emitters_by_name() -> None:
    """--emitter otel becomes an OTelEmitter next to the runtime's own emitter."""
    from murmur_server._serve import ServeOptions, build_runtime

    from murmur.cli.worker import resolve_emitters

    (emitter,) = resolve_emitters(["otel"])
    assert isinstance(emitter, murmur_otel.OTelEmitter)
    runtime = build_runtime(ServeOptions(emitters=("otel",)))
    assert isinstance(runtime.event_emitter, MultiEventEmitter)
    assert any(isinstance(e, murmur_otel.OTelEmitter) for e in runtime.event_emitter.emitters)
