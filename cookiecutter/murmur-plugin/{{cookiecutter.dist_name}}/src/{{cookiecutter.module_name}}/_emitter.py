"""`event_emitter="{{ cookiecutter.entry_name }}"`: every runtime event as one JSON line in a file.

An emitter is any object with `async emit(event)`. It is called in the path of the run, so
it must be quick and must not raise: this one appends to a file (a local write), and counts
and reports a failed write instead of raising it.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

from murmur.events import RuntimeEvent

__all__ = ["JsonLinesEmitter"]

ENV_PATH = "MURMUR_{{ cookiecutter.entry_name|upper|replace('-', '_') }}_PATH"
"""The variable that names the file when no `path` is given."""


class JsonLinesEmitter:
    """Appends each `RuntimeEvent` to `path` as one JSON object per line.

    Args:
        path: The file (created with its directory). Default: `$MURMUR_{{ cookiecutter.entry_name|upper|replace('-', '_') }}_PATH`, else
            `murmur-events.jsonl` in the working directory.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path or os.environ.get(ENV_PATH) or "murmur-events.jsonl")
        self.failed = 0
        self._lock = threading.Lock()
        self._file: Any = None

    async def emit(self, event: RuntimeEvent) -> None:
        """Append one event; a failed write is counted and reported, never raised."""
        try:
            line = event.to_json()
            with self._lock:
                if self._file is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._file = self.path.open("a", encoding="utf-8")
                self._file.write(line + "\n")
                self._file.flush()
        except Exception as exc:
            self.failed += 1
            print(f"{self.path}: event {event.id} not written: {exc}", file=sys.stderr)

    def close(self) -> None:
        """Close the file (the next event opens it again)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __repr__(self) -> str:
        return f"JsonLinesEmitter(path={str(self.path)!r})"
