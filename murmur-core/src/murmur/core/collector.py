"""Young garbage collections spaced out while a fan-out has many runs in flight.

CPython's cyclic collector scans its youngest generation each time the tracked objects
allocated since the last scan outnumber those freed by 700 (CPython 3.11 and 3.12). One
agent run allocates thousands of tracked objects, and a fan-out keeps dozens of runs in
flight, each suspended for as long as the others take their turn. So at that threshold
nearly every young scan finds the in-flight runs' objects still alive, walks them, and
promotes them. Promoted, they are walked again by the middle generation and, once enough
pile up there, by a full collection, which also walks every object the process imported
(over 100,000 with PydanticAI). In a gather of 1,000 no-work runs, 50 at a time, the
collector takes about a fifth of the CPU time.

While at least one fan-out (`murmur.core.fanout`) runs, the young threshold is raised to
`MURMUR_FANOUT_GC_THRESHOLD` (default 20,000; `0` leaves the collector alone): most of a
run's objects are then freed by reference counting before any scan sees them, and far
fewer reach the older generations. Cyclic garbage still is collected, only after more
allocations (at most that many objects). When the last fan-out ends, the thresholds the
process had are put back, and the young generation is collected at once if it has grown
past them, so the fan-out pays for its own scans and the code after it does not.

The process's own choices win: nothing changes when the collector is disabled, when
automatic collection is off (threshold 0) or already spaced wider, and the thresholds are
not put back if something else changed them meanwhile. The state is per process, counted
across threads and event loops.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Generator
from contextlib import contextmanager

from murmur.core.logs import get_logger

__all__ = ["DEFAULT_FANOUT_THRESHOLD", "fanout_threshold", "spaced_collections"]

DEFAULT_FANOUT_THRESHOLD = 20_000
"""The young-generation threshold while a fan-out runs, unless the environment sets one."""

_lock = threading.Lock()
_holders = 0
_restore: tuple[int, ...] | None = None  # the thresholds to put back; None: not changed
_raised: tuple[int, ...] = ()  # the thresholds murmur set in their place
_warned: set[str] = set()  # the unreadable settings already reported
log = get_logger(__name__)


def fanout_threshold() -> int:
    """The young threshold for fan-outs: `MURMUR_FANOUT_GC_THRESHOLD`, else the default.

    `0` turns the policy off, and so does a value that is not a whole number of at least 0
    (logged once as a warning, since a gather should not fail over it).
    """
    value = os.environ.get("MURMUR_FANOUT_GC_THRESHOLD")
    if value is None:
        return DEFAULT_FANOUT_THRESHOLD
    try:
        threshold = int(value)
    except ValueError:
        threshold = -1
    if threshold >= 0:
        return threshold
    if value not in _warned:
        _warned.add(value)
        log.warning(
            "MURMUR_FANOUT_GC_THRESHOLD is not a whole number of at least 0; fan-outs leave "
            "the garbage collector as it is. Set it to a number such as 20000, or to 0.",
            value=value,
        )
    return 0


@contextmanager
def spaced_collections() -> Generator[None]:
    """Raise the collector's young threshold while the block runs (see the module)."""
    global _holders, _restore, _raised
    with _lock:
        if _holders == 0 and gc.isenabled():
            current = gc.get_threshold()
            wanted = fanout_threshold()
            if 0 < current[0] < wanted:
                _restore, _raised = current, (wanted, *current[1:])
                gc.set_threshold(*_raised)
        _holders += 1
    try:
        yield
    finally:
        collect = False
        with _lock:
            _holders -= 1
            if _holders == 0 and _restore is not None:
                restore, _restore = _restore, None
                if gc.get_threshold() == _raised:  # not changed by anyone else since
                    gc.set_threshold(*restore)
                    collect = gc.isenabled() and gc.get_count()[0] > restore[0]
        if collect:
            gc.collect(0)
