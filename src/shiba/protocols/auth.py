"""Bearer-token auth (``--auth_token_file``, shiba's own), the same for every protocol.

:class:`TokenFile` holds the tokens of a file, one a line (blank lines and lines starting with
``#`` are skipped, surrounding spaces ignored), and re-reads it when its modification time or size
changes, so tokens are added and revoked without a restart. ``check`` takes the raw
``Authorization`` value (``Bearer <token>``, the scheme in any case) and compares the token with
every known one with ``hmac.compare_digest``, so the time taken does not tell how much of a token
was right. Tokens are never logged: a file that becomes unreadable or empty keeps the last tokens
and logs a warning naming only the file.

It implements the HTTP router's ``Authenticator`` protocol as it is. For gRPC,
:func:`grpc_auth_interceptor` checks the ``authorization`` metadata of every call but the health
service's and answers UNAUTHENTICATED; the REST side answers 401 with ``www-authenticate: Bearer``.
Neither answer says anything about the models.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from shiba.protocols.http.routes import UNAUTHENTICATED_MESSAGE

__all__ = [
    "TokenFile",
    "TokenFileError",
    "UNAUTHENTICATED_MESSAGE",
    "grpc_auth_interceptor",
    "HEALTH_SERVICE",
]

log = logging.getLogger(__name__)

#: The gRPC service that answers without a token (load balancers' probes carry none).
HEALTH_SERVICE = "grpc.health.v1.Health"

_BEARER = b"bearer "


class TokenFileError(ValueError):
    """The token file cannot be read or holds no token (at start-up)."""


def _read_tokens(path: Path) -> tuple[bytes, ...]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise TokenFileError(f"cannot read --auth_token_file {path}: {exc.strerror}") from None
    tokens = tuple(
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith(b"#")
    )
    if not tokens:
        raise TokenFileError(f"--auth_token_file {path} holds no token (one token a line)")
    return tokens


class TokenFile:
    """The tokens of ``path``, re-read when the file changes. Thread-safe.

    Raises ``TokenFileError`` when constructed on a file that cannot be read or holds no token.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._tokens = _read_tokens(path)

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def tokens(self) -> tuple[bytes, ...]:
        """The current tokens, after re-reading the file if it changed."""
        stamp = self._stat()
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._stamp = stamp
                    try:
                        self._tokens = _read_tokens(self.path)
                        log.info("Re-read the tokens of %s", self.path)
                    except TokenFileError as exc:
                        log.warning("%s; keeping the tokens read before", exc)
        return self._tokens

    def check(self, authorization: bytes | None) -> bool:
        """Whether ``authorization`` (the raw header or metadata value) carries a known token."""
        if not authorization or authorization[: len(_BEARER)].lower() != _BEARER:
            return False
        token = authorization[len(_BEARER) :].strip()
        found = False
        for known in self.tokens():
            # Every token is compared, so the time does not depend on which one matched.
            found |= hmac.compare_digest(token, known)
        return found


def _refuse() -> grpc.RpcMethodHandler[Any, Any]:
    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)

    return grpc.unary_unary_rpc_method_handler(refuse)


class _AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: TokenFile) -> None:
        self._tokens = tokens
        self._refuse = _refuse()

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = handler_call_details.method
        if method.startswith(f"/{HEALTH_SERVICE}/"):
            return await continuation(handler_call_details)
        value: str | bytes | None = None
        for key, item in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                value = item
                break
        raw = value.encode("latin-1") if isinstance(value, str) else value
        if self._tokens.check(raw):
            return await continuation(handler_call_details)
        return self._refuse


def grpc_auth_interceptor(tokens: TokenFile) -> grpc.aio.ServerInterceptor:
    """A ``grpc.aio`` server interceptor: calls without a known token (except to the health
    service) are answered UNAUTHENTICATED before any handler runs."""
    return _AuthInterceptor(tokens)
