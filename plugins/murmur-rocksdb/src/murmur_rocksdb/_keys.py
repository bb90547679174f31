r"""The RocksDB key layout: one keyspace, prefixes per record kind, order-preserving numbers.

```
meta/schema_version                          -> b"1"                (ASCII int)
run/<run_id>                                 -> RunRecord JSON
run-created/<created:f8><run_id>             -> b""   every run, by creation time
run-status/<status>\0<created:f8><run_id>    -> b""   runs by status
run-agent/<agent_name>\0<created:f8><run_id> -> b""   runs by agent
run-parent/<parent>\0<created:f8><run_id>    -> b""   runs by parent trace id
run-kind/<kind>\0<created:f8><run_id>        -> b""   runs by kind
ckpt/<run_id>\0<key>                         -> checkpoint JSON
ev/<seq:u8>                                  -> RuntimeEvent JSON (append order)
ev-id/<event_id>                             -> <seq:u8>
ev-trace/<trace_id>\0<seq:u8>                -> b""
ev-parent/<parent_trace_id>\0<seq:u8>        -> b""
ev-agent/<agent_name>\0<seq:u8>              -> b""
ev-type/<event_type>\0<seq:u8>               -> b""
ev-time/<timestamp:f8><seq:u8>               -> b""
```

`<seq:u8>` is the event's append sequence number as 8 big-endian bytes; `<created:f8>` and
`<timestamp:f8>` are float64s encoded so byte order is numeric order. Strings are UTF-8;
`\0` separates a variable-length field from what follows, so ids must not contain NUL.
Listing newest-first iterates an index backwards; every index scan is a prefix range.
"""

from __future__ import annotations

import struct

__all__ = [
    "CHECKPOINT",
    "EVENT",
    "EVENT_AGENT",
    "EVENT_ID",
    "EVENT_PARENT",
    "EVENT_TIME",
    "EVENT_TRACE",
    "EVENT_TYPE",
    "RUN",
    "RUN_CREATED",
    "RUN_INDEXES",
    "SCHEMA_KEY",
    "decode_seq",
    "encode_float",
    "encode_seq",
    "field_prefix",
    "successor",
]

SCHEMA_KEY = b"meta/schema_version"
RUN = b"run/"
RUN_CREATED = b"run-created/"
RUN_INDEXES: dict[str, bytes] = {
    "status": b"run-status/",
    "agent_name": b"run-agent/",
    "parent_trace_id": b"run-parent/",
    "kind": b"run-kind/",
}
"""RunRecord field -> index prefix (the field's value, NUL, created, run id)."""
CHECKPOINT = b"ckpt/"
EVENT = b"ev/"
EVENT_ID = b"ev-id/"
EVENT_TRACE = b"ev-trace/"
EVENT_PARENT = b"ev-parent/"
EVENT_AGENT = b"ev-agent/"
EVENT_TYPE = b"ev-type/"
EVENT_TIME = b"ev-time/"

_SEQ = struct.Struct(">Q")
_F64 = struct.Struct(">d")
_SIGN = 1 << 63
_ALL = (1 << 64) - 1


def encode_seq(seq: int) -> bytes:
    """A sequence number as 8 big-endian bytes."""
    return _SEQ.pack(seq)


def decode_seq(data: bytes) -> int:
    """The sequence number in the last 8 bytes of `data`."""
    return _SEQ.unpack(data[-8:])[0]


def encode_float(value: float) -> bytes:
    """A float64 as 8 bytes whose lexicographic order is numeric order."""
    (bits,) = _SEQ.unpack(_F64.pack(value))
    bits = bits ^ _ALL if bits & _SIGN else bits | _SIGN
    return _SEQ.pack(bits)


def field_prefix(prefix: bytes, value: str) -> bytes:
    """`prefix` + the UTF-8 value + NUL: the range of one value in an index."""
    return prefix + value.encode() + b"\0"


def successor(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix`."""
    return prefix[:-1] + bytes([prefix[-1] + 1])
