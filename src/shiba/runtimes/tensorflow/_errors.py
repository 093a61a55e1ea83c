"""TensorFlow's errors as shiba errors: TensorFlow's status codes already use the canonical numbering."""

from __future__ import annotations

from shiba.core.errors import (
    Cancelled,
    Code,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    ShibaError,
    Unavailable,
    Unimplemented,
)

__all__ = ["from_tf_error", "install_hint"]

_BY_CODE: dict[Code, type[ShibaError]] = {
    Code.CANCELLED: Cancelled,
    Code.INVALID_ARGUMENT: InvalidArgument,
    Code.DEADLINE_EXCEEDED: DeadlineExceeded,
    Code.NOT_FOUND: NotFound,
    Code.RESOURCE_EXHAUSTED: ResourceExhausted,
    Code.FAILED_PRECONDITION: FailedPrecondition,
    Code.UNIMPLEMENTED: Unimplemented,
    Code.INTERNAL: Internal,
    Code.UNAVAILABLE: Unavailable,
}


def from_tf_error(err: BaseException) -> ShibaError:
    """A ``tf.errors.OpError`` as the ShibaError of the same code, with TensorFlow's message as is.

    TensorFlow Serving passes a session's status through unchanged, so an input the graph rejects is
    INVALID_ARGUMENT with TensorFlow's own words.
    """
    message = getattr(err, "message", None) or str(err)
    try:
        code = Code(int(getattr(err, "error_code", Code.UNKNOWN)))
    except ValueError:
        code = Code.UNKNOWN
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(message)
    return ShibaError(message, code=code)


def install_hint(err: ImportError) -> FailedPrecondition:
    return FailedPrecondition(
        f"the tensorflow runtime needs TensorFlow, which cannot be imported ({err}): "
        "install it with: pip install 'shiba[tensorflow]'"
    )
