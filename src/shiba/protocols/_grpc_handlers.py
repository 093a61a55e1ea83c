"""Registering gRPC handlers that take and return bytes: the top of every gRPC front end.

Shared by TensorFlow Serving's services (``tfserving/grpc.py``), the Open Inference Protocol's
(``v2/grpc.py``) and the Ray front end. A ``ShibaError`` a handler raises becomes the RPC's
status (``protocols.status``; INTERNAL and UNKNOWN ones are logged); anything else is logged with
its traceback and answered INTERNAL. :func:`error_status` is that decision, for a streaming
handler that answers a failed request inside the stream rather than ending it.

Registered with ``deadlines=True`` (the Ray front end, which forwards each call to another
process), a handler also knows when its call must be answered by: :func:`rpc_deadline`, read from
``context.time_remaining()`` as the call starts. Without it a call's deadline is grpc.aio's alone:
when it passes, grpc.aio cancels the handler and the client gets DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

import grpc

from shiba.core.errors import Code, ShibaError
from shiba.protocols.status import grpc_details, grpc_status

__all__ = ["Handler", "StreamHandler", "add_handlers", "error_status", "rpc_deadline"]

log = logging.getLogger(__name__)

#: One RPC: the serialized request in, the serialized response out (or a ``ShibaError``).
Handler = Callable[[bytes], Awaitable[bytes]]
#: One bidirectional streaming RPC: serialized requests in, serialized responses out. A
#: ``ShibaError`` it raises ends the stream with that status.
StreamHandler = Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]

#: The deadline of the call the current task answers (``time.monotonic()`` seconds), if any.
_DEADLINE: ContextVar[float | None] = ContextVar("shiba_grpc_deadline", default=None)


def rpc_deadline() -> float | None:
    """When the gRPC call being answered must be answered by, in ``time.monotonic()`` seconds;
    None when its client set no deadline, or outside a handler registered with
    ``deadlines=True``. For a stream, the stream's deadline."""
    return _DEADLINE.get()


def _set_deadline(context: grpc.aio.ServicerContext[bytes, bytes]) -> None:
    remaining: float | None = context.time_remaining()
    # grpc.aio runs each call in a task of its own, so the value is the call's alone.
    _DEADLINE.set(None if remaining is None else time.monotonic() + remaining)


def add_handlers(
    server: grpc.aio.Server,
    table: Mapping[str, Mapping[str, Handler]],
    streams: Mapping[str, Mapping[str, StreamHandler]] | None = None,
    *,
    deadlines: bool = False,
) -> None:
    """Registers ``table``'s unary handlers and ``streams``' stream-stream handlers (each
    service -> method -> handler) on ``server``, before it starts: a ``ShibaError`` a handler
    raises becomes the RPC's status, anything else INTERNAL. With ``deadlines``, each handler
    can read its call's deadline with :func:`rpc_deadline`."""
    streams = streams or {}
    for service_name in dict.fromkeys([*table, *streams]):
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            name: grpc.unary_unary_rpc_method_handler(
                _rpc(f"{service_name}/{name}", handler, deadlines)
            )
            for name, handler in table.get(service_name, {}).items()
        }
        for name, stream in streams.get(service_name, {}).items():
            handlers[name] = grpc.stream_stream_rpc_method_handler(
                _stream_rpc(f"{service_name}/{name}", stream, deadlines)
            )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service_name, handlers),)
        )
        # As generated code does since grpcio 1.62: registered methods skip the name lookup.
        server.add_registered_method_handlers(service_name, handlers)


def error_status(method: str, exc: Exception) -> tuple[Code, str]:
    """The status and message ``exc``, raised while answering ``method``, is answered with:
    a ``ShibaError``'s own (logged if INTERNAL or UNKNOWN), anything else INTERNAL (logged
    with its traceback)."""
    if isinstance(exc, ShibaError):
        if exc.code in (Code.INTERNAL, Code.UNKNOWN):
            log.error("%s failed: %s", method, exc.message)
        return exc.code, exc.message
    log.error("%s failed", method, exc_info=exc)
    return Code.INTERNAL, f"Internal error: {exc}"


def _rpc(
    method: str, handler: Handler, deadlines: bool = False
) -> Callable[[bytes, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[bytes]]:
    """The top of the front end: runs ``handler`` and turns any error into the RPC's status."""

    async def rpc(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        if deadlines:
            _set_deadline(context)
        try:
            return await handler(request)
        except Exception as exc:
            code, message = error_status(method, exc)
        await context.abort(grpc_status(code), grpc_details(message))

    return rpc


def _stream_rpc(
    method: str, handler: StreamHandler, deadlines: bool = False
) -> Callable[[AsyncIterator[bytes], grpc.aio.ServicerContext[bytes, bytes]], AsyncIterator[bytes]]:
    """As :func:`_rpc` for a stream: an error ``handler`` raises ends the stream with its
    status."""

    async def rpc(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[bytes, bytes]
    ) -> AsyncIterator[bytes]:
        if deadlines:
            _set_deadline(context)
        try:
            async for answer in handler(requests):
                yield answer
            return
        except Exception as exc:
            code, message = error_status(method, exc)
        await context.abort(grpc_status(code), grpc_details(message))

    return rpc
