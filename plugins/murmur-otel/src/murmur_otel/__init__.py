"""murmur-otel: OpenTelemetry metrics and traces for murmur runtimes and worker fleets.

```python
from murmur import AgentRuntime
from murmur.events import OTelEmitter, OTelMetricsEmitter, OTelTraceEmitter

runtime = AgentRuntime(event_emitter="otel")  # both, with the global providers
runtime = AgentRuntime(event_emitter=OTelMetricsEmitter(meter_provider=meter_provider))
```

The emitters are `murmur.emitters` entry points (`otel`, `otel-metrics`, `otel-traces`), so
they also resolve by name (`event_emitter="otel"`, `murmur worker start --emitter otel`) and
import from `murmur.events`. See `docs/otel.md`.
"""

from __future__ import annotations

from murmur_otel._configure import configure_from_env
from murmur_otel._context import OTelContextMiddleware
from murmur_otel._emitter import OTelEmitter
from murmur_otel._metrics import OTelMetricsEmitter, pydantic_ai_instrumented
from murmur_otel._pydantic_ai import MurmurRunSpans, instrument_pydantic_ai
from murmur_otel._semconv import SEMCONV_GENAI_COMMIT, SEMCONV_GENAI_REPOSITORY
from murmur_otel._traces import OTelTraceEmitter, traceparent_of

__all__ = [
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
]
