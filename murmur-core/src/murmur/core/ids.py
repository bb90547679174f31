"""Identifiers: task ids, trace ids, run ids."""

from __future__ import annotations

import uuid

__all__ = ["new_id"]


def new_id() -> str:
    """A fresh 32-hex-digit id (also a valid W3C trace id)."""
    return uuid.uuid4().hex
