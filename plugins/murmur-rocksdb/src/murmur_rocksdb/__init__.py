r"""RocksDB run and event stores for murmur: `AgentRuntime(store="rocksdb:///runs")`.

A high-throughput, single-host store: every write is one atomic RocksDB write batch
(memtable + write-ahead log), indexes are key prefixes, and one process at a time owns a
directory. The key layout (documented in `murmur_rocksdb._keys` and docs/stores.md):

```
meta/schema_version                          -> b"1"
run/<run_id>                                 -> RunRecord JSON
run-created/<created:f8><run_id>             -> b""
run-{status,agent,parent,kind}/<value>\0<created:f8><run_id> -> b""
ckpt/<run_id>\0<key>                         -> checkpoint JSON
ev/<seq:u8>                                  -> RuntimeEvent JSON
ev-id/<event_id>                             -> <seq:u8>
ev-{trace,parent,agent,type}/<value>\0<seq:u8> -> b""
ev-time/<timestamp:f8><seq:u8>               -> b""
```

A directory with a newer layout version, a corrupt one, or one holding other data raises a
`RegistryError` and is left untouched.
"""

from __future__ import annotations

from murmur_rocksdb._database import SCHEMA_VERSION, RocksDatabase
from murmur_rocksdb._stores import (
    RocksDBEventStore,
    RocksDBRunStore,
    parse_rocksdb_url,
    rocksdb_store_factory,
)

__all__ = [
    "SCHEMA_VERSION",
    "RocksDBEventStore",
    "RocksDBRunStore",
    "RocksDatabase",
    "parse_rocksdb_url",
    "rocksdb_store_factory",
]
