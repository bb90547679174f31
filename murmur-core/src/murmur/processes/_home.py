"""Where live runs put their control sockets and logs (`$MURMUR_HOME`, default `~/.murmur`).

Light on purpose: the `murmur ps` command imports it, and `murmur --help` must stay fast.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["logs_dir", "murmur_home", "runtimes_dir", "socket_path"]


def murmur_home() -> Path:
    """`$MURMUR_HOME`, or `~/.murmur` when it is not set."""
    value = os.environ.get("MURMUR_HOME")
    return Path(value).expanduser() if value else Path.home() / ".murmur"


def runtimes_dir() -> Path:
    """The directory of live runs' control sockets."""
    return murmur_home() / "runtimes"


def socket_path(execution_id: str) -> Path:
    """The control socket of the live run `execution_id`."""
    return runtimes_dir() / f"{execution_id}.sock"


def logs_dir(execution_id: str) -> Path:
    """The JSONL log directory of the run `execution_id` (kept after the run ends)."""
    return murmur_home() / "logs" / execution_id
