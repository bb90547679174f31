"""What the Fleet test's `murmur worker start` processes serve: one agent, light to import.

The workers never receive a task; they are there for their heartbeats.
"""

from __future__ import annotations

from murmur import Agent

agents = [Agent(name="idle", model="test", description="Waits for tasks that never come.")]
