"""`{{ cookiecutter.entry_name }}://<dir>`: run and event stores in JSON-lines files.

As baked, each store keeps everything in memory (murmur's in-memory stores answer the
queries) and appends every write to a JSON-lines file, which it replays when it is opened
again: small, dependency-free, and durable across restarts. It is a working starting point;
for a real database, implement `murmur.runs.RunStore` / `EventStore` directly and keep the
contract tests (`murmur.testing.stores`) passing.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from murmur.events import RuntimeEvent
from murmur.runs import (
    InMemoryEventStore,
    InMemoryRunStore,
    RunRecord,
    Stores,
    encode_event,
    encode_record,
)

__all__ = ["JsonLinesEventStore", "JsonLinesRunStore", "open_stores"]


class _Log:
    """An append-only JSON-lines file (one writer per process; each line flushed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: Any = None

    def lines(self) -> list[str]:
        if not self.path.exists():
            return []
        # A line cut short by a crash mid-write is the last one: skip it.
        return [line for line in self.path.read_text("utf-8").splitlines() if line.endswith("}")]

    def append(self, line: str) -> None:
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class JsonLinesRunStore(InMemoryRunStore):
    """Run records and checkpoints, replayed from `path` when opened."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._log = _Log(Path(path))
        for line in self._log.lines():
            entry = json.loads(line)
            if entry["kind"] == "run":
                record = RunRecord.model_validate(entry["record"])
                self._runs[record.run_id] = record
            else:
                self._checkpoints.setdefault(entry["run_id"], {})[entry["key"]] = entry["value"]

    async def put(self, record: RunRecord) -> None:
        """Insert or replace a run (refused before anything is written when not JSON)."""
        encoded = encode_record(record)
        await super().put(record)
        self._log.append('{"kind":"run","record":' + encoded + "}")

    async def put_checkpoint(self, run_id: str, key: str, value: Any) -> None:
        """Save one checkpoint."""
        line = json.dumps({"kind": "checkpoint", "run_id": run_id, "key": key, "value": value})
        await super().put_checkpoint(run_id, key, value)
        self._log.append(line)

    async def aclose(self) -> None:
        """Close the file."""
        self._log.close()


class JsonLinesEventStore(InMemoryEventStore):
    """Events in append order, replayed from `path` when opened."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._log = _Log(Path(path))
        for line in self._log.lines():
            event = RuntimeEvent.from_json(line)
            self._index[event.id] = len(self._events)
            self._events.append(event)
            if event.parent_trace_id is not None:
                self._by_parent.setdefault(event.parent_trace_id, []).append(event)

    async def append(self, event: RuntimeEvent) -> None:
        """Append one event (refused before anything is written when not JSON)."""
        encoded = encode_event(event)
        await super().append(event)
        self._log.append(encoded)

    async def aclose(self) -> None:
        """Close the file."""
        self._log.close()


def open_stores(url: str) -> Stores:
    """The run and event stores of the directory a `{{ cookiecutter.entry_name }}://` URL names."""
    parts = urlsplit(url)
    directory = Path(parts.netloc + parts.path) if parts.netloc else Path(parts.path or ".")
    return Stores(
        runs=JsonLinesRunStore(directory / "runs.jsonl"),
        events=JsonLinesEventStore(directory / "events.jsonl"),
    )
