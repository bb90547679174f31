"""The agents the install-matrix smoke scripts serve (`--app smoke_app:agents`)."""

from __future__ import annotations

from murmur import Agent

agents = {"echo": Agent(name="echo", model="test")}
