"""The client's exceptions: one type per canonical code, each carrying the server's own message.

Every exception the client raises on purpose is a :class:`ClientError`, a
:class:`~shiba.core.errors.ShibaError`, so ``exc.code`` (a :class:`~shiba.core.errors.Code`) and
``exc.message`` are always there. An answer from the server is a :class:`ServerError` (or one of
its subclasses, chosen by code); ``http_status`` is the REST answer's status (``None`` over gRPC).
A server that could not be reached is :class:`ConnectionFailed` (``UNAVAILABLE``) and a call that
ran out of time is :class:`TimedOut` (``DEADLINE_EXCEEDED``); neither has an ``http_status``.
"""

from __future__ import annotations

from shiba.core.errors import Code, ShibaError

__all__ = [
    "ClientError",
    "ServerError",
    "InvalidArgumentError",
    "NotFoundError",
    "UnavailableError",
    "UnauthenticatedError",
    "ConnectionFailed",
    "TimedOut",
    "server_error",
    "code_of_http_status",
]


class ClientError(ShibaError):
    """Base of the client's errors; ``code`` and ``message`` say what happened."""

    http_status: int | None = None


class ServerError(ClientError):
    """The server answered with an error; ``message`` is the server's, as it sent it."""

    def __init__(self, message: str, *, code: Code, http_status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status

    def __str__(self) -> str:
        where = f"HTTP {self.http_status}, " if self.http_status is not None else ""
        return f"{self.message} ({where}{self.code.name})"


class InvalidArgumentError(ServerError):
    """The request was refused as malformed (a wrong input name, shape or type)."""


class NotFoundError(ServerError):
    """No such model, version, label or signature."""


class UnavailableError(ServerError):
    """The server cannot answer now (a model still loading, a server shutting down)."""


class UnauthenticatedError(ServerError):
    """The server wants a token (``token=``) or refused the one sent."""


class ConnectionFailed(ClientError):
    """The server could not be reached (nothing listening, a TLS failure, a reset connection)."""

    code = Code.UNAVAILABLE


class TimedOut(ClientError):
    """The call took longer than its timeout."""

    code = Code.DEADLINE_EXCEEDED


_BY_CODE: dict[Code, type[ServerError]] = {
    Code.INVALID_ARGUMENT: InvalidArgumentError,
    Code.FAILED_PRECONDITION: InvalidArgumentError,
    Code.NOT_FOUND: NotFoundError,
    Code.UNAVAILABLE: UnavailableError,
    Code.UNAUTHENTICATED: UnauthenticatedError,
}

# TensorFlow Serving's HTTP statuses read back as codes; where two codes share a status (400 is
# INVALID_ARGUMENT, FAILED_PRECONDITION and OUT_OF_RANGE), the commonest is taken.
_HTTP_CODES: dict[int, Code] = {
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    409: Code.ABORTED,
    413: Code.RESOURCE_EXHAUSTED,
    429: Code.RESOURCE_EXHAUSTED,
    499: Code.CANCELLED,
    500: Code.INTERNAL,
    501: Code.UNIMPLEMENTED,
    503: Code.UNAVAILABLE,
    504: Code.DEADLINE_EXCEEDED,
}


def code_of_http_status(status: int) -> Code:
    """The canonical code an HTTP error status stands for (``UNKNOWN`` for one no table has)."""
    return _HTTP_CODES.get(status, Code.UNKNOWN)


def server_error(message: str, code: Code, http_status: int | None = None) -> ServerError:
    """The :class:`ServerError` subclass for ``code``, carrying ``message`` unchanged."""
    return _BY_CODE.get(code, ServerError)(message, code=code, http_status=http_status)
