"""The Open Inference Protocol (KServe v2) on the wire: REST JSON both ways, binary tensor data,
metadata documents. Layer 1: imports core only; no I/O, no frameworks."""

__all__: list[str] = []
