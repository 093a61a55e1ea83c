"""Protobuf's base-128 varint, for the codecs that write wire format by hand."""

from __future__ import annotations

__all__ = ["varint"]

_UINT64_MASK = 2**64 - 1


def varint(number: int) -> bytes:
    """``number`` as a varint; a negative int64 takes ten bytes, as protobuf writes it."""
    number &= _UINT64_MASK
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)
