"""`RuntimeOptions`: the knobs of the runtime's pipeline stages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from murmur.core.budget import TokenBudget
from murmur.core.errors import SpawnError

__all__ = ["RuntimeOptions"]


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """Knobs for the runtime's middleware.

    Args:
        timeout_seconds: wall-clock limit per attempt (None: no limit).
        retry_max_attempts: attempts per run on transient failures (1: no retry).
        retry_backoff_factor: delay before attempt n+1 is `factor * 2 ** (n - 1)` seconds.
        token_budget: a runtime-wide `TokenBudget` every run is charged to.
        max_spawn_depth: deepest nesting of runs spawned by runs (top level is depth 0).
        max_total_spawns: cap on every run this runtime dispatches (None: no cap).
        broker_signing_key: HMAC key(s) for signed task envelopes on a broker.
        default_max_concurrency: bound for `gather` when the call gives none.
    """

    timeout_seconds: float | None = None
    retry_max_attempts: int = 1
    retry_backoff_factor: float = 0.5
    token_budget: TokenBudget | None = None
    max_spawn_depth: int | None = 8
    max_total_spawns: int | None = None
    broker_signing_key: str | bytes | Sequence[str | bytes] | None = None
    default_max_concurrency: int = 64

    def __post_init__(self) -> None:
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise SpawnError("RuntimeOptions.timeout_seconds must be > 0", code="invalid_options")
        if self.retry_max_attempts < 1:
            raise SpawnError(
                "RuntimeOptions.retry_max_attempts must be >= 1", code="invalid_options"
            )
        if self.max_spawn_depth is not None and self.max_spawn_depth < 0:
            raise SpawnError("RuntimeOptions.max_spawn_depth must be >= 0", code="invalid_options")
        if self.max_total_spawns is not None and self.max_total_spawns < 0:
            raise SpawnError("RuntimeOptions.max_total_spawns must be >= 0", code="invalid_options")
