"""Wire formats to numpy and back. Layer 1: imports core only; no I/O, no frameworks."""

__all__: list[str] = []
