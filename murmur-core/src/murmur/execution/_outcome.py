"""`ExecutionOutcome`: what the Execute stage returns for one attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ExecutionOutcome"]


@dataclass(slots=True)
class ExecutionOutcome:
    """What a backend returns for one executed attempt: the validated output and usage."""

    output: Any
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    tool_calls: int = 0
    cost_usd: float | None = None
    model: str | None = None
    messages: list[Any] | None = None
