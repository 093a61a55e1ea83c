"""The model lifecycle and the protocol-neutral service.

Layer 0: imports only the standard library and numpy; never a framework, HTTP or gRPC.
"""

__all__: list[str] = []
