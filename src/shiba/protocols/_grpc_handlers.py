"""Registering gRPC handlers that take and return bytes: the top of every gRPC front end.

Shared by TensorFlow Serving's services (``tfserving/grpc.py``), the Open Inference Protocol's
(``v2/grpc.py``) and the Ray front end. A ``ShibaError`` a handler raises becomes the RPC's
status (``protocols.status``; INTERNAL and UNKNOWN ones are logged); anything else is logged with
its traceback and answered INTERNAL.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc

from shiba.core.errors import Code, ShibaError
from shiba.protocols.status import grpc_details, grpc_status

__all__ = ["Handler", "add_handlers"]

log = logging.getLogger(__name__)

#: One RPC: the serialized request in, the serialized response out (or a ``ShibaError``).
Handler = Callable[[bytes], Awaitable[bytes]]


def add_handlers(server: grpc.aio.Server, table: Mapping[str, Mapping[str, Handler]]) -> None:
    """Registers ``table``'s handlers (service -> method -> handler) on ``server``, before it
    starts: a ``ShibaError`` a handler raises becomes the RPC's status, anything else INTERNAL."""
    for service_name, methods in table.items():
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            name: grpc.unary_unary_rpc_method_handler(_rpc(f"{service_name}/{name}", handler))
            for name, handler in methods.items()
        }
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service_name, handlers),)
        )
        # As generated code does since grpcio 1.62: registered methods skip the name lookup.
        server.add_registered_method_handlers(service_name, handlers)


def _rpc(
    method: str, handler: Handler
) -> Callable[[bytes, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[bytes]]:
    """The top of the front end: runs ``handler`` and turns any error into the RPC's status."""

    async def rpc(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        try:
            return await handler(request)
        except ShibaError as exc:
            code, message = exc.code, exc.message
            if code in (Code.INTERNAL, Code.UNKNOWN):
                log.error("%s failed: %s", method, message)
        except Exception as exc:
            log.exception("%s failed", method)
            code, message = Code.INTERNAL, f"Internal error: {exc}"
        await context.abort(grpc_status(code), grpc_details(message))

    return rpc
