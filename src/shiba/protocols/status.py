"""Canonical code -> wire status: the only place shiba maps errors to HTTP and to gRPC."""

from __future__ import annotations

import grpc

from shiba.core.errors import Code

__all__ = ["http_status", "grpc_status", "grpc_details"]

# TensorFlow Serving's ToHTTPStatusCode (tensorflow_serving/util/net_http/...), code by code.
_HTTP: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


def http_status(code: Code) -> int:
    return _HTTP.get(code, 500)


# gRPC's codes carry the same numbers as shiba's (both are the canonical codes); TF Serving's
# ToGRPCStatus (model_servers/grpc_status_util.cc) casts one to the other.
_GRPC: dict[Code, grpc.StatusCode] = {code: grpc.StatusCode[code.name] for code in Code}

# ToGRPCStatus cuts an error message at this many characters and marks the cut.
_GRPC_MESSAGE_LIMIT = 1024


def grpc_status(code: Code) -> grpc.StatusCode:
    return _GRPC[code]


def grpc_details(message: str) -> str:
    """An error message as TF Serving sends it over gRPC: at most 1024 characters, then a mark."""
    if len(message) > _GRPC_MESSAGE_LIMIT:
        return message[:_GRPC_MESSAGE_LIMIT] + "...TRUNCATED"
    return message
