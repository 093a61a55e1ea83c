"""One error type carrying a canonical code (gRPC/absl numbering).

Front ends map :class:`Code` to their wire status exactly once (``shiba.protocols.status``); nothing
else in shiba knows an HTTP or gRPC status.
"""

from __future__ import annotations

import enum
from typing import ClassVar

__all__ = [
    "Code",
    "ShibaError",
    "InvalidArgument",
    "NotFound",
    "FailedPrecondition",
    "Unavailable",
    "Internal",
    "Unimplemented",
    "ResourceExhausted",
    "DeadlineExceeded",
    "Cancelled",
    "DataLoss",
]


class Code(enum.IntEnum):
    """Canonical error codes, numbered as gRPC's and absl's."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class ShibaError(Exception):
    """Base of every error shiba raises on purpose; ``code`` decides the wire status.

    ``message`` is shown to the client as is, so it says what went wrong and what to do.
    """

    code: ClassVar[Code] = Code.INTERNAL

    def __init__(self, message: str, *, code: Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}: {self.message!r})"


class InvalidArgument(ShibaError):
    code = Code.INVALID_ARGUMENT


class NotFound(ShibaError):
    code = Code.NOT_FOUND


class FailedPrecondition(ShibaError):
    code = Code.FAILED_PRECONDITION


class Unavailable(ShibaError):
    code = Code.UNAVAILABLE


class Internal(ShibaError):
    code = Code.INTERNAL


class Unimplemented(ShibaError):
    code = Code.UNIMPLEMENTED


class ResourceExhausted(ShibaError):
    code = Code.RESOURCE_EXHAUSTED


class DeadlineExceeded(ShibaError):
    code = Code.DEADLINE_EXCEEDED


class Cancelled(ShibaError):
    code = Code.CANCELLED


class DataLoss(ShibaError):
    code = Code.DATA_LOSS
