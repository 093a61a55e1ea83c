"""The model lifecycle and the protocol-neutral service.

Layer 0: imports only the standard library and numpy (and prometheus_client, which ``metrics``
imports when a ``Metrics`` is made); never a framework, HTTP or gRPC.
"""

__all__: list[str] = []
