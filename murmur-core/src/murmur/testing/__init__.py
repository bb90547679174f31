"""murmur's public test kit: contract suites every implementation of an interface passes.

Subclass a suite and provide its factory fixture; the suite's tests then run against your
implementation (core runs them against the in-memory concretes, every plugin against its
real service):

```python
from murmur.testing.emitters import EmitterContract

class TestMyEmitter(EmitterContract):
    @pytest.fixture
    def emitter(self):
        return MyEmitter()
```
"""

from __future__ import annotations

from murmur.testing._services import require_service, services_required

__all__ = ["require_service", "services_required"]
