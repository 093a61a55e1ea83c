"""Just enough of the protobuf wire format to walk a SavedModel without parsing its graph.

Python's protobuf (upb) iterates map fields in hash order, which changes from one process to the next;
reading the map entries off the wire keeps signatures, inputs and outputs in the order they are stored.
It also lets shiba find the serving meta graph and its signatures without decoding the GraphDef.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["WireError", "fields", "messages", "strings", "has_field"]

_VARINT = 0
_FIXED64 = 1
_LEN = 2
_FIXED32 = 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def fields(buf: memoryview) -> Iterator[tuple[int, memoryview | None]]:
    """Yields ``(field number, payload)`` for each field of one message, in wire order.

    ``payload`` is the bytes of a length-delimited field (string, bytes, message, packed repeated) and
    ``None`` for scalar fields, which this reader never needs to decode.
    """
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == _LEN:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise WireError(f"field {number} runs past the end of its message")
            yield number, buf[pos : pos + size]
            pos += size
            continue
        if wire_type == _VARINT:
            _, pos = _varint(buf, pos)
        elif wire_type == _FIXED64:
            pos += 8
        elif wire_type == _FIXED32:
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire_type} in field {number}")
        if pos > end:
            raise WireError(f"field {number} runs past the end of its message")
        yield number, None


def messages(buf: memoryview, number: int) -> list[memoryview]:
    """The payloads of every occurrence of length-delimited field ``number``, in wire order."""
    return [payload for n, payload in fields(buf) if n == number and payload is not None]


def strings(buf: memoryview, number: int) -> list[str]:
    """Every occurrence of string field ``number``, decoded as UTF-8."""
    try:
        return [bytes(payload).decode() for payload in messages(buf, number)]
    except UnicodeDecodeError as err:
        raise WireError(f"field {number} is not UTF-8 text") from err


def has_field(buf: memoryview, number: int) -> bool:
    return any(n == number for n, _ in fields(buf))
