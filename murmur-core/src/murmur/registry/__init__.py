"""Specs: YAML <-> Python for agents and groups, and directories of specs.

```python
researcher = Agent.from_yaml("specs/researcher.yaml")
print(researcher.to_yaml())

runtime.load_specs("specs/")                # every agent and group, by name
await runtime.run("researcher", TaskSpec(input="What is NATS JetStream?"))
```

`murmur validate specs/` checks a directory from the command line.
"""

from __future__ import annotations

from murmur.registry._agent import (
    AGENT_FIELDS,
    agent_from_dict,
    agent_from_yaml,
    agent_to_dict,
    agent_to_yaml,
)
from murmur.registry._group import (
    GROUP_FIELDS,
    group_from_dict,
    group_from_yaml,
    group_to_dict,
    group_to_yaml,
)
from murmur.registry._loader import Registry, SpecProblem, load_specs, spec_files, validate_specs
from murmur.registry._paths import import_model, import_object, object_path

__all__ = [
    "AGENT_FIELDS",
    "GROUP_FIELDS",
    "Registry",
    "SpecProblem",
    "agent_from_dict",
    "agent_from_yaml",
    "agent_to_dict",
    "agent_to_yaml",
    "group_from_dict",
    "group_from_yaml",
    "group_to_dict",
    "group_to_yaml",
    "import_model",
    "import_object",
    "load_specs",
    "object_path",
    "spec_files",
    "validate_specs",
]
