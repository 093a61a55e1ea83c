"""The gRPC clients' shells, for TF Serving's API and the Open Inference Protocol's alike.

:class:`SyncGrpc` (``grpc``) and :class:`AsyncGrpc` (``grpc.aio``) hold one channel (TLS when
``tls``, with ``root_certificates`` PEM bytes or the system's; for mutual TLS the client's
``private_key`` and ``certificate_chain`` PEM bytes, which, like ``root_certificates``, imply
``tls``), send ``authorization: Bearer
<token>`` metadata when given a token, give every call ``timeout`` seconds, and call the methods a
subclass lists in ``METHODS`` (name -> (``/service/Method`` path, response message type)). An
idempotent call is tried again up to ``retries`` times after ``UNAVAILABLE``
(:func:`retry_allowed`); others are sent once. Failures are :mod:`shiba.client.errors`
(:func:`rpc_error`).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import grpc
import grpc.aio

from shiba.client._shell import AsyncShell, Remembered, SyncShell, backoff
from shiba.client.errors import ClientError, ConnectionFailed, TimedOut, server_error
from shiba.core.errors import Code

__all__ = [
    "DEFAULT_TARGET",
    "GRPC_OPTIONS",
    "SyncGrpc",
    "AsyncGrpc",
    "methods",
    "retry_allowed",
    "rpc_error",
]

DEFAULT_TARGET = "localhost:8500"
#: How gRPC's core begins the details of a call whose channel could not connect.
_NOT_CONNECTED = "failed to connect to all addresses"
#: No size limit on messages either way (the server sets its own).
GRPC_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def methods(service: str, responses: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """``METHODS`` for ``service``'s methods, given each one's response message type."""
    return {name: (f"/{service}/{name}", response) for name, response in responses.items()}


def _code(exc: grpc.RpcError) -> grpc.StatusCode:
    if isinstance(exc, grpc.Call | grpc.aio.AioRpcError):
        return exc.code()
    return grpc.StatusCode.UNKNOWN


def rpc_error(exc: grpc.RpcError, target: str) -> ClientError:
    """The client error for a failed call: :class:`TimedOut` for ``DEADLINE_EXCEEDED``, else the
    :class:`~shiba.client.errors.ServerError` for the code, with the server's details; a channel that
    never connected (nothing listening, a TLS handshake refused) is :class:`ConnectionFailed`."""
    code = Code(_code(exc).value[0])
    details = exc.details() if isinstance(exc, grpc.Call | grpc.aio.AioRpcError) else str(exc)
    message = details or f"gRPC {code.name} from {target}"
    if code is Code.DEADLINE_EXCEEDED:
        return TimedOut(f"no answer from {target} in time: {message}")
    if code is Code.UNAVAILABLE and message.startswith(_NOT_CONNECTED):
        return ConnectionFailed(f"cannot connect to {target}: {message}")
    return server_error(message, code)


def retry_allowed(exc: grpc.RpcError, attempt: int, retries: int, *, idempotent: bool) -> bool:
    """Whether failed attempt number ``attempt`` (0-based) may be followed by another: only an
    idempotent call, only after ``UNAVAILABLE``, at most ``retries`` times."""
    return idempotent and attempt < retries and _code(exc) is grpc.StatusCode.UNAVAILABLE


class _GrpcBase(Remembered, ABC):
    #: The methods the client calls: name -> (``/service/Method``, response message type).
    METHODS: ClassVar[Mapping[str, tuple[str, Any]]]

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
    ) -> None:
        super().__init__()
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        if (private_key is None) != (certificate_chain is None):
            raise ValueError("give private_key and certificate_chain together (mutual TLS)")
        credentials = None
        if tls or root_certificates is not None or private_key is not None:
            credentials = grpc.ssl_channel_credentials(
                root_certificates, private_key, certificate_chain
            )
        self._channel = self._open(target, credentials)
        self._stubs: dict[str, Callable[..., Any]] = {
            name: self._channel.unary_unary(
                path,
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=response.FromString,
            )
            for name, (path, response) in self.METHODS.items()
        }

    @abstractmethod
    def _open(self, target: str, credentials: grpc.ChannelCredentials | None) -> Any:
        """The channel to ``target`` (TLS with ``credentials``, plain without)."""


class SyncGrpc(_GrpcBase, SyncShell):
    """The blocking shell: a ``grpc`` channel, ``_call`` with the retry policy; thread-safe."""

    def _open(self, target: str, credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
        if credentials is None:
            return grpc.insecure_channel(target, GRPC_OPTIONS)
        return grpc.secure_channel(target, credentials, GRPC_OPTIONS)

    def _call(self, method: str, request: Any, idempotent: bool) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return self._stubs[method](request, timeout=self.timeout, metadata=self._metadata)
            except grpc.RpcError as exc:
                if not retry_allowed(exc, attempt, self.retries, idempotent=idempotent):
                    raise rpc_error(exc, self.target) from None
            time.sleep(backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def close(self) -> None:
        self._channel.close()


class AsyncGrpc(_GrpcBase, AsyncShell):
    """The asyncio shell: a ``grpc.aio`` channel (create it inside the running event loop),
    ``_call`` with the retry policy."""

    def _open(self, target: str, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
        if credentials is None:
            return grpc.aio.insecure_channel(target, GRPC_OPTIONS)
        return grpc.aio.secure_channel(target, credentials, GRPC_OPTIONS)

    async def _call(self, method: str, request: Any, idempotent: bool) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return await self._stubs[method](
                    request, timeout=self.timeout, metadata=self._metadata
                )
            except grpc.RpcError as exc:
                if not retry_allowed(exc, attempt, self.retries, idempotent=idempotent):
                    raise rpc_error(exc, self.target) from None
            await asyncio.sleep(backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        await self._channel.close()
