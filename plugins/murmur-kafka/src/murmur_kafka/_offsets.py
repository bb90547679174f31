"""What a group member tracks per partition: in-hand offsets, the commit point, commit metadata.

The commit metadata tells the next owner which offsets are redeliveries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["META_PREFIX", "Buffered", "Held", "PartitionState", "commit_metadata", "parse_meta"]

META_PREFIX = "murmur:1:"


def parse_meta(metadata: str | None) -> tuple[int, int]:
    """`(high, count)` from commit metadata (-1, 0 when absent or foreign)."""
    if not metadata or not metadata.startswith(META_PREFIX):
        return -1, 0
    try:
        high, count = metadata[len(META_PREFIX) :].split(":")
        return int(high), int(count)
    except ValueError:
        return -1, 0


@dataclass(slots=True)
class PartitionState:
    """What this member knows about one partition it owns (one ownership session)."""

    epoch: int
    prior_high: int  # offsets <= this were handed out by a previous owner
    prior_count: int
    high: int
    max_count: int
    outstanding: dict[int, int] = field(default_factory=dict)  # offset -> delivery count
    next_offset: int | None = None
    committed: int | None = None

    def commit_offset(self) -> int | None:
        """The offset to commit: the lowest still in hand, else the next one to read."""
        if self.outstanding:
            return min(self.outstanding)
        return self.next_offset


@dataclass(slots=True)
class Buffered:
    """A fetched message not yet handed out."""

    partition: int
    offset: int
    epoch: int
    value: bytes
    count: int


@dataclass(slots=True)
class Held:
    """A handed-out message, until ack or nack."""

    partition: int
    offset: int
    epoch: int
    value: bytes


def commit_metadata(part: PartitionState) -> str:
    """The metadata committed with `part`'s offset: `murmur:1:<high>:<count>`."""
    return f"{META_PREFIX}{part.high}:{part.max_count}"
