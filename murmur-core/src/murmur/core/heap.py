"""Taking a long-lived process's start-up heap out of the cyclic garbage collector's walks.

A full collection walks every tracked object. In a process that imported PydanticAI, pydantic
and a broker client, about 90,000 of them are modules, classes, validators and schemas that
live as long as the process, and one full collection takes tens of milliseconds walking them
(about 78 ms on the 2-core machine of `benchmarks/README.md`), several times per thousand
runs. `gc.freeze()` moves them to the collector's permanent generation: collections then walk
only what the runs allocate. Only for processes murmur owns (`murmur worker start`,
`murmur serve`): freezing someone else's process would keep its own cyclic garbage of the
moment from ever being collected.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> int:
    """Import what runs need, collect, and freeze every object alive now; the number frozen.

    Call it once, after start-up and before serving: an object alive at that moment that
    later becomes part of a garbage cycle is never collected. Objects freed by reference
    counting are freed as before. `gc.unfreeze()` undoes it.
    """
    # Every run needs PydanticAI, which murmur imports at the first run: imported now, its
    # objects are frozen with the rest.
    import pydantic_ai  # noqa: F401

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
