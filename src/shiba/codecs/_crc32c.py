"""CRC-32C (Castagnoli) and TFRecord's masked form, without a compiled dependency.

Short inputs go through the classic table loop, one byte a step (:func:`crc32c_reference`).
Long ones are cut into 256-byte lanes that numpy advances together, one byte of every lane a step;
the lanes' registers are then chained with the linear map "append 256 zero bytes" (a CRC register
is linear over GF(2)). Measured on this project's machine on 4 MB: 122 ms per MB for the loop,
7 ms per MB for the lanes; it matters for warm-up files of images, read at every load.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["crc32c", "crc32c_reference", "masked_crc32c"]

_POLY = 0x82F63B78  # CRC-32C, reflected
_LANE = 256  # bytes per lane
_MIN_LANES = 64  # below 16 KB the table loop is as fast


def _byte_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _byte_table()
_TABLE_NP: npt.NDArray[np.uint32] = np.array(_TABLE, dtype=np.uint32)


def _advance(register: int, data: bytes | memoryview) -> int:
    """The register after ``data`` (no initial value or final XOR applied)."""
    table = _TABLE
    for byte in data:
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


def _shift_tables() -> tuple[list[int], ...]:
    # Appending _LANE zero bytes maps a register linearly; column i is the image of bit i. Four
    # byte-indexed tables apply the map to a whole register in four look-ups.
    zeros = bytes(_LANE)
    columns = [_advance(1 << bit, zeros) for bit in range(32)]
    tables = []
    for first in range(0, 32, 8):
        table = []
        for value in range(256):
            image = 0
            for bit in range(8):
                if value >> bit & 1:
                    image ^= columns[first + bit]
            table.append(image)
        tables.append(table)
    return tuple(tables)


_SHIFT = _shift_tables()


def crc32c_reference(data: bytes | memoryview) -> int:
    """The CRC-32C of ``data``, one byte a step (``crc32c(b"123456789") == 0xE3069283``)."""
    return _advance(0xFFFFFFFF, data) ^ 0xFFFFFFFF


def crc32c(data: bytes) -> int:
    """The CRC-32C of ``data``; equal to :func:`crc32c_reference`, faster on long inputs."""
    lanes = len(data) // _LANE
    if lanes < _MIN_LANES:
        return crc32c_reference(data)
    block = np.frombuffer(data, np.uint8, lanes * _LANE).reshape(lanes, _LANE).T.copy()
    registers = np.zeros(lanes, np.uint32)
    registers[0] = 0xFFFFFFFF
    for column in block:  # byte j of every lane
        registers = _TABLE_NP[(registers ^ column) & 0xFF] ^ (registers >> 8)
    # Chain the lanes: register(A + B) = shift_|B|(register(A)) ^ register_from_zero(B).
    t0, t1, t2, t3 = _SHIFT
    register = int(registers[0])
    for lane in registers[1:].tolist():
        register = (
            t0[register & 0xFF]
            ^ t1[(register >> 8) & 0xFF]
            ^ t2[(register >> 16) & 0xFF]
            ^ t3[register >> 24]
            ^ lane
        )
    return _advance(register, memoryview(data)[lanes * _LANE :]) ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: the CRC-32C rotated right by 15 bits plus a constant
    (tensorflow/core/lib/hash/crc32c.h ``Mask``)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
