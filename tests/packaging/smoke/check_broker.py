"""A broker plugin alone on murmur-core: one task through a `murmur worker start` process.

python broker.py DISTRIBUTION URL
"""

from __future__ import annotations

import sys
import uuid

from _smoke import one_task_through_a_worker_process, plugins_ok

distribution, url = sys.argv[1], sys.argv[2]
plugins_ok(distribution)
separator = "&" if "?" in url else "?"
one_task_through_a_worker_process(f"{url}{separator}namespace=matrix-{uuid.uuid4().hex[:12]}")
print(f"{distribution}: one task through a worker process on {url.split('://')[0]}://")
