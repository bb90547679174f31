"""What the CLI tests serve: `murmur serve --app _serve_app:served` (this directory on the path)."""

from __future__ import annotations

from typing import Any

from _agents import Finding, echo_model, finding_model, pipeline_group

from murmur import Agent


def served() -> list[Any]:
    """Two agents and a group."""
    return [
        Agent(name="echo", model=echo_model()),
        Agent(name="finder", model=finding_model(), output_type=Finding),
        pipeline_group(),
    ]
