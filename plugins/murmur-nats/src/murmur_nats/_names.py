"""Broker-side names: `Transport.name(...)` made safe for NATS subjects and stream names."""

from __future__ import annotations

import hashlib
import re

__all__ = ["kv_key", "stream_name", "subject"]

_SUBJECT_BAD = re.compile(r"[\s.*>]")
_STREAM_BAD = re.compile(r"[^A-Za-z0-9_-]")
_KV_KEY_OK = re.compile(r"^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$")
_MAX_LEN = 200


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:10]


def _safe(name: str, bad: re.Pattern[str]) -> str:
    cleaned = bad.sub("_", name)
    if cleaned == name and len(name) <= _MAX_LEN:
        return name
    # Something was replaced or cut: a digest of the original keeps distinct names distinct.
    return f"{cleaned[: _MAX_LEN - 11]}-{_digest(name)}"


def subject(name: str) -> str:
    """A core NATS subject for `name` (one token: no `.`, `*`, `>` or whitespace)."""
    return _safe(name, _SUBJECT_BAD)


def stream_name(name: str) -> str:
    """A JetStream stream / consumer / bucket name for `name` (`[A-Za-z0-9_-]`)."""
    return _safe(name.replace(":", "_"), _STREAM_BAD)


def kv_key(key: str) -> str:
    """A valid KV key: `key` itself when allowed, else its digest."""
    if _KV_KEY_OK.match(key) and len(key) <= _MAX_LEN:
        return key
    return hashlib.sha256(key.encode()).hexdigest()
