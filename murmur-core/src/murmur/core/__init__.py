"""The kernel's dependency-free core: errors and execution context."""
