"""Identifiers: task ids, trace ids, run ids."""

from __future__ import annotations

import os

__all__ = ["new_id"]


def new_id() -> str:
    """A fresh 32-hex-digit id (also a valid W3C trace id): 128 bits from the OS's CSPRNG.

    Four times cheaper than `uuid.uuid4().hex` (a run makes several), as unpredictable, and
    fork-safe (no state in the process).
    """
    return os.urandom(16).hex()
