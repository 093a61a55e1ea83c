"""RapidJSON 1.1.0 as TensorFlow Serving drives it: string quoting, number text, debug strings.

TF Serving writes every REST answer with ``rapidjson::PrettyWriter`` and quotes request values in
its error messages with ``JsonValueToDebugString`` (``tensorflow_serving/util/json_tensor.cc``).
These helpers reproduce both on the Python values that orjson (or :mod:`._json_parse`) gives.

Text convention shared by the codec modules: JSON text is built as ``str`` in which bytes that are
not UTF-8 travel as lone surrogates (Python's ``surrogateescape``), because RapidJSON neither
validates nor repairs UTF-8 and writes string bytes out as they are. :func:`to_bytes` turns such
text into the bytes TF Serving would send.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

__all__ = [
    "debug_string",
    "double_text",
    "json_type_name",
    "quote",
    "text_of",
    "to_bytes",
    "utf8",
]

# rapidjson::Writer::WriteString escapes '"', '\\' and the C0 controls (short forms where JSON has
# them, else \u00XX with upper-case hex); everything else, '/' and DEL included, is copied as is.
_ESCAPES: dict[int, str] = {code: f"\\u{code:04X}" for code in range(0x20)}
_ESCAPES.update(
    {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
)

#: JsonWriterWithLimit's budget: the debug writer stops once its buffer holds this many bytes.
_DEBUG_LIMIT = 256


def utf8(text: str) -> bytes:
    """The bytes of ``text``: UTF-8, with ``surrogateescape``'d bytes restored (lossless)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def text_of(value: str | bytes) -> str:
    """``value`` in the module's text convention (see the module docstring)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if value.isascii():
        return value
    return utf8(value).decode("utf-8", "surrogateescape")


def to_bytes(text: str) -> bytes:
    """Encode text built by these helpers (surrogate-escaped bytes go out raw, as RapidJSON's)."""
    return text.encode("utf-8", "surrogateescape")


def quote(text: str) -> str:
    """``text`` (already in the text convention) as a RapidJSON-quoted JSON string."""
    return '"' + text.translate(_ESCAPES) + '"'


def double_text(value: float) -> str | None:
    """How ``rapidjson::Writer::Double`` prints ``value``; ``None`` for NaN and infinities.

    RapidJSON prints the shortest round-trip digits (Grisu2) laid out by its ``Prettify``: ``1.0``,
    ``0.001``, ``1e21``, ``1.5e-7``, ``-0.0``. Without ``kWriteNanAndInfFlag`` it refuses
    non-finite values, which makes the caller stop writing.
    """
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if not math.isfinite(value):
        return None
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    k = int(exponent or "0") - len(fraction)
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    length = len(digits)
    kk = length + k
    if k >= 0 and kk <= 21:
        text = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        text = digits[:kk] + "." + digits[kk:]
    elif -6 < kk <= 0:
        text = "0." + "0" * -kk + digits
    elif length == 1:
        text = digits + "e" + str(kk - 1)
    else:
        text = digits[0] + "." + digits[1:] + "e" + str(kk - 1)
    return sign + text


def json_type_name(value: object) -> str:
    """json_tensor.cc's ``JsonTypeString``: the RapidJSON type of a parsed value."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


class _DebugWriter:
    """``PrettyWriter`` with ``kFormatSingleLineArray`` behind ``JsonWriterWithLimit(256)``.

    Every event is refused once 256 bytes are written, and a refused event ends the walk, so the
    text may stop mid-value exactly where TF Serving's does.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        # One [in_array, value_count] per open container, as RapidJSON's level stack.
        self._levels: list[list[int]] = []

    def text(self) -> str:
        return "".join(self._parts)

    def _put(self, piece: str) -> None:
        self._parts.append(piece)
        self._size += len(to_bytes(piece)) if not piece.isascii() else len(piece)

    def _prefix(self) -> None:
        if not self._levels:
            return
        level = self._levels[-1]
        if level[0]:
            if level[1] > 0:
                self._put(", ")
        else:
            if level[1] == 0:
                self._put("\n")
            else:
                self._put(",\n" if level[1] % 2 == 0 else ": ")
            if level[1] % 2 == 0:
                self._put(" " * (4 * len(self._levels)))
        level[1] += 1

    def scalar(self, token: str | None) -> bool:
        if self._size >= _DEBUG_LIMIT:
            return False
        self._prefix()
        if token is None:
            return False
        self._put(token)
        return True

    def start(self, in_array: bool) -> bool:
        if self._size >= _DEBUG_LIMIT:
            return False
        self._prefix()
        self._levels.append([int(in_array), 0])
        self._put("[" if in_array else "{")
        return True

    def end(self) -> bool:
        if self._size >= _DEBUG_LIMIT:
            return False
        in_array, count = self._levels.pop()
        if count and not in_array:
            self._put("\n" + " " * (4 * len(self._levels)))
        self._put("]" if in_array else "}")
        return True


def _scalar_token(value: object) -> str | None:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return double_text(value)
    return quote(text_of(str(value)))


_DONE = object()


def _visit(writer: _DebugWriter, value: object, stack: list[tuple[bool, Iterator[Any]]]) -> bool:
    if isinstance(value, dict):
        if not writer.start(in_array=False):
            return False
        stack.append((True, iter(value.items())))
        return True
    if isinstance(value, list):
        if not writer.start(in_array=True):
            return False
        stack.append((False, iter(value)))
        return True
    return writer.scalar(_scalar_token(value))


def debug_string(value: object) -> str:
    """json_tensor.cc's ``JsonValueToDebugString``: ``value`` as TF Serving quotes it in errors.

    Objects are laid out over lines with 4-space indents, arrays on one line (``[1, 2]``), and the
    text is cut at the first event after 256 bytes or at the first non-finite number. The walk is
    iterative, so arbitrarily deep values are safe.
    """
    writer = _DebugWriter()
    stack: list[tuple[bool, Iterator[Any]]] = []
    if not _visit(writer, value, stack):
        return writer.text()
    while stack:
        is_object, items = stack[-1]
        item: Any = next(items, _DONE)
        if item is _DONE:
            stack.pop()
            if not writer.end():
                break
        elif is_object:
            key, member = item
            if not writer.scalar(quote(key)) or not _visit(writer, member, stack):
                break
        elif not _visit(writer, item, stack):
            break
    return writer.text()
