"""``--enable_grpc_healthcheck_service``: the standard ``grpc.health.v1.Health`` service.

As TensorFlow Serving's (gRPC's default health check service), it answers SERVING for the server
as a whole (service ``""``) and for each of TensorFlow Serving's services while the server runs,
and NOT_SERVING from the moment it starts to shut down, so that a load balancer stops sending
calls while the calls in flight finish. It answers without a token under ``--auth_token_file``.
The implementation is grpcio-health-checking's.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from shiba import _proto

__all__ = ["HealthService", "add_health_service"]


class HealthService:
    """The servicer on a ``grpc.aio`` server; ``await shutting_down()`` turns it NOT_SERVING."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, server)

    async def serving(self) -> None:
        """Marks the server and TF Serving's services SERVING (once the server has started)."""
        for name in ("", _proto.PREDICTION_SERVICE, _proto.MODEL_SERVICE):
            await self._servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def shutting_down(self) -> None:
        """Every service NOT_SERVING from now on."""
        await self._servicer.enter_graceful_shutdown()


def add_health_service(server: grpc.aio.Server) -> HealthService:
    """Registers ``grpc.health.v1.Health`` on ``server`` (before it starts)."""
    return HealthService(server)
