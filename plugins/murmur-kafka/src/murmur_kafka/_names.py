"""Broker-side names: `Transport.name(...)` made safe for Kafka topics and group ids."""

from __future__ import annotations

import hashlib
import re
import zlib

__all__ = ["partition_for", "topic_name"]

_TOPIC_BAD = re.compile(r"[^A-Za-z0-9._-]")
_MAX_LEN = 200  # Kafka allows 249; leave room for a digest


def topic_name(name: str) -> str:
    """A legal topic name (`[A-Za-z0-9._-]`, <= 249 chars) for `name`.

    `:` (murmur's separator) becomes `.`; any other character Kafka refuses becomes `_`, and
    then a digest of the original keeps distinct names distinct.
    """
    dotted = name.replace(":", ".")
    cleaned = _TOPIC_BAD.sub("_", dotted)
    if cleaned == dotted and len(cleaned) <= _MAX_LEN:
        return cleaned
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{cleaned[: _MAX_LEN - 11]}-{digest}"


def partition_for(key: str, partitions: int) -> int:
    """The partition a reply channel lives on: a stable hash, the same in every process."""
    return zlib.crc32(key.encode()) % max(1, partitions)
