"""The compiled JSON reader for request bodies, when it was built; ``None`` answers otherwise.

``shiba.codecs._fastjson`` (``_fastjson.c``, an optional extension: ``setup.py`` skips it with a
warning where it cannot be compiled) reads a JSON document into the values ``orjson.loads``
gives, except that every array that is a rectangular nest of numbers comes back as a
:class:`~shiba.codecs._fastjson.FastArray`, its numbers written straight into an int64 or
float64 buffer: no Python object per number. :func:`to_ndarray` makes it an ndarray without a
copy.

The reader answers ``None`` for anything it does not read exactly as the reference path
(:func:`shiba.codecs._json_parse.parse_json` and numpy's conversion of its lists) would:
invalid JSON, trailing data, a byte order mark, strings that are not UTF-8, lone surrogate
escapes, repeated keys, integer literals outside int64, nesting deeper than 64, ragged numeric
nests, arrays mixing numbers with other values, finite literals beyond double's range. When it
answers, the values are the reference's: doubles correctly rounded, ``-0.0`` signed, and in a
nest holding any non-integer token every integer becomes ``float(int)``. When the extension is
missing, :data:`AVAILABLE` is False and :func:`loads` always answers ``None``; so callers write
``fast = loads(body)`` and take the reference path when it is ``None``.

Thread safety: pure functions; the reader keeps no state between calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeGuard

import numpy as np
import numpy.typing as npt

__all__ = [
    "AVAILABLE",
    "UNAVAILABLE_REASON",
    "float32_texts",
    "is_fast_array",
    "loads",
    "loads_with_arrays",
    "materialize",
    "to_ndarray",
]

_compiled_float32_texts: Callable[[Any], list[str]] | None
try:
    from shiba.codecs._fastjson import FastArray
    from shiba.codecs._fastjson import float32_texts as _compiled_float32_texts
    from shiba.codecs._fastjson import loads as _compiled_loads
except ImportError as error:  # built without a C compiler: the reference path does the work
    _REASON: str | None = f"shiba.codecs._fastjson is not built ({error})"
    _compiled_float32_texts = None
else:
    _REASON = None

#: Whether the compiled reader is there.
AVAILABLE: Final[bool] = _REASON is None
#: Why it is not (the import error), or ``None``.
UNAVAILABLE_REASON: Final[str | None] = _REASON


def loads(body: bytes | bytearray | memoryview) -> object | None:
    """The document in ``body`` with numeric nests as :class:`FastArray`; ``None`` if not read.

    ``None`` also whenever the extension is not built, and for the document ``null`` (which the
    reference reads as ``None`` too). Never raises for any content of ``body``.
    """
    if not AVAILABLE:
        return None
    return _compiled_loads(body)


def float32_texts(values: npt.NDArray[np.float32]) -> list[str] | None:
    """Each value as TF Serving prints a float32 (``shiba.codecs._decimal``'s rules), in C
    (row-major) order, written in C; ``None`` when the extension is not built."""
    if _compiled_float32_texts is None:
        return None
    texts: list[str] = _compiled_float32_texts(np.ascontiguousarray(values, dtype=np.float32))
    return texts


def is_fast_array(value: object) -> TypeGuard[FastArray]:
    """Whether ``value`` is a :class:`FastArray` that :func:`loads` returned."""
    return AVAILABLE and type(value) is FastArray


def to_ndarray(array: FastArray) -> npt.NDArray[np.int64] | npt.NDArray[np.float64]:
    """The ndarray of ``array``: int64 when ``array.is_int``, else float64; shares its buffer.

    The result is writable, C-contiguous and keeps the buffer alive.
    """
    if array.is_int:
        return np.frombuffer(array.buffer, dtype=np.int64).reshape(array.shape)
    return np.frombuffer(array.buffer, dtype=np.float64).reshape(array.shape)


def materialize(value: object) -> Any:
    """``value`` (from :func:`loads`) with every :class:`FastArray` replaced by its ndarray.

    Dicts and lists holding none are returned as they are; others are rebuilt (a FastArray is
    never an element of a list: :func:`loads` refuses arrays mixing numbers and other values).
    """
    if type(value) is dict:
        items = {key: materialize(item) for key, item in value.items()}
        if all(items[key] is item for key, item in value.items()):
            return value
        return items
    if type(value) is list:
        elements = [materialize(element) for element in value]
        if all(new is old for new, old in zip(elements, value, strict=True)):
            return value
        return elements
    if is_fast_array(value):
        return to_ndarray(value)
    return value


def loads_with_arrays(body: bytes | bytearray | memoryview) -> object | None:
    """:func:`loads` with its numeric nests as ndarrays (:func:`materialize`); ``None`` if not read."""
    document = loads(body)
    return None if document is None else materialize(document)
