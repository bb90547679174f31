"""The client side of live-run control: find live runs, send them requests (for `murmur ps`).

Blocking sockets and the standard library only: the CLI imports this, and stays fast.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from murmur.core.errors import RegistryError, SpawnError, error_from_dict
from murmur.processes._home import runtimes_dir

__all__ = ["LiveRun", "live_runs", "request", "resolve_run", "stream"]

_CONNECT_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class LiveRun:
    """A run whose root process listens on a control socket."""

    execution_id: str
    socket: Path


def live_runs(*, clean: bool = True) -> list[LiveRun]:
    """The runs listening now, by execution id; stale sockets (nobody listening) removed."""
    directory = runtimes_dir()
    if not directory.is_dir():
        return []
    runs = []
    for path in sorted(directory.glob("*.sock")):
        if _listening(path):
            runs.append(LiveRun(path.stem, path))
        elif clean:
            with contextlib.suppress(OSError):
                path.unlink()
    return runs


def _listening(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(_CONNECT_TIMEOUT_S)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def resolve_run(prefix: str | None) -> LiveRun:
    """The live run whose execution id starts with `prefix` (any prefix when only one runs).

    Raises:
        RegistryError: no live run, no match, or several matches (the message lists them).
    """
    runs = live_runs()
    if not runs:
        raise RegistryError("no live run: start a program whose root is an @agent_process")
    matches = [r for r in runs if prefix is None or r.execution_id.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    ids = ", ".join(r.execution_id for r in runs)
    if not matches:
        raise RegistryError(f"no live run id starts with {prefix!r} (live: {ids})")
    raise RegistryError(
        f"{len(matches)} live runs match; pick one with --id PREFIX (live: {ids})",
        code="ambiguous",
    )


def _connect(run: LiveRun, payload: dict[str, Any], timeout: float | None) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(str(run.socket))
        conn.sendall(json.dumps(payload).encode() + b"\n")
    except OSError as exc:
        conn.close()
        raise SpawnError(
            f"run {run.execution_id} did not answer on {run.socket}: {exc}; it may have ended",
            code="connection_error",
        ) from exc
    return conn


def request(run: LiveRun, payload: dict[str, Any], *, timeout: float | None = 300.0) -> Any:
    """Send one request to a live run and return its result.

    Raises:
        MurmurError: the run answered with an error (rebuilt with its type and code).
    """
    conn = _connect(run, payload, timeout)
    with conn, conn.makefile("rb") as reader:
        line = reader.readline()
    if not line:
        raise SpawnError(f"run {run.execution_id} hung up without answering", code="no_answer")
    answer = json.loads(line)
    if not answer.get("ok"):
        raise error_from_dict(answer.get("error") or {})
    return answer.get("result")


def stream(run: LiveRun, payload: dict[str, Any]) -> Iterator[Any]:
    """Send a streaming request (`tail`) and yield each item until the run ends."""
    conn = _connect(run, payload, None)
    with conn, conn.makefile("rb") as reader:
        for line in reader:
            item = json.loads(line)
            if isinstance(item, dict) and item.get("ok") is False:
                raise error_from_dict(item.get("error") or {})
            yield item
