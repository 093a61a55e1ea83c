"""Request JSON parsing with TensorFlow Serving's RapidJSON settings, orjson first.

TF Serving parses request bodies with RapidJSON 1.1.0 and the flags ``kParseIterativeFlag |
kParseNanAndInfFlag | kParseStopWhenDoneFlag`` (``ParseJson`` in json_tensor.cc). So on top of
strict JSON it accepts ``NaN``, ``Inf``, ``Infinity`` (signed or not), nesting of any depth,
anything after the first complete value, a leading byte order mark, and string bytes that are
not UTF-8. orjson accepts none of those. :func:`parse_json` therefore reads a body in up to three
steps, each giving the same values as the next: orjson (strict JSON, fast); then, if orjson
refuses, the standard library's C scanner where it provably reads as RapidJSON does (NaN and
Infinity tokens, trailing data, bad UTF-8); then the iterative parser below, which accepts exactly
what RapidJSON accepts and rejects the rest with RapidJSON's message and offset
(``JSON Parse error: Invalid value. at offset: 0``).

Values come back as orjson gives them: ``dict`` (document order, a repeated key keeps its last
value where RapidJSON's lookups would take the first), ``list``, ``str``, ``int`` (integer
literals in the int64/uint64 range), ``float`` (other numbers), ``bool`` and ``None``. Strings
carry bytes that are not UTF-8 as ``surrogateescape`` surrogates. Doubles are correctly rounded;
RapidJSON's default (not full precision) reading can be one unit in the last place off for
literals with more than 17 digits or large exponents.
"""

from __future__ import annotations

import json
import math
import re
from typing import NoReturn

import orjson

from shiba.core.errors import InvalidArgument

__all__ = ["parse_json"]

_WHITESPACE = re.compile(rb"[ \t\n\r]*")
_PLAIN_CHARS = re.compile(rb'[^"\\\x00-\x1f]*')
_DIGITS = re.compile(rb"[0-9]*")
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
_SIMPLE_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}
_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1

# RapidJSON's GetParseError_En texts, for the errors this parser can meet.
_EMPTY = "The document is empty."
_MISS_NAME = "Missing a name for object member."
_MISS_COLON = "Missing a colon after a name of object member."
_MISS_COMMA_OR_BRACE = "Missing a comma or '}' after an object member."
_MISS_COMMA_OR_BRACKET = "Missing a comma or ']' after an array element."
_INVALID_VALUE = "Invalid value."
_BAD_HEX = "Incorrect hex digit after \\u escape in string."
_BAD_SURROGATE = "The surrogate pair in string is invalid."
_BAD_ESCAPE = "Invalid escape character in string."
_MISS_QUOTE = "Missing a closing quotation mark in string."
_TOO_BIG = "Number too big to be stored in double."
_MISS_FRACTION = "Miss fraction part in number."
_MISS_EXPONENT = "Miss exponent in number."

# States of RapidJSON's iterative parser that matter for its error messages.
_START = 0
_OBJECT_INITIAL = 1  # after '{': a name or '}'
_MEMBER_KEY = 2  # after a name: ':'
_KEY_VALUE_DELIMITER = 3  # after ':': a value
_MEMBER_VALUE = 4  # after a member's value: ',' or '}'
_MEMBER_DELIMITER = 5  # after ',' in an object: a name
_ARRAY_INITIAL = 6  # after '[': a value or ']'
_ELEMENT = 7  # after an element: ',' or ']'
_ELEMENT_DELIMITER = 8  # after ',' in an array: a value

# RapidJSON's HandleError: which message a state gives for a token it cannot take.
_STATE_ERRORS = {
    _START: _EMPTY,
    _OBJECT_INITIAL: _MISS_NAME,
    _MEMBER_DELIMITER: _MISS_NAME,
    _MEMBER_KEY: _MISS_COLON,
    _MEMBER_VALUE: _MISS_COMMA_OR_BRACE,
    _KEY_VALUE_DELIMITER: _INVALID_VALUE,
    _ARRAY_INITIAL: _INVALID_VALUE,
    _ELEMENT_DELIMITER: _INVALID_VALUE,
    _ELEMENT: _MISS_COMMA_OR_BRACKET,
}


def parse_json(body: bytes) -> object:
    """Parse a request body as TF Serving does; raise :class:`InvalidArgument` if it cannot.

    An empty body gives TF Serving's own ``JSON Parse error: The document is empty`` (no offset);
    other failures give ``JSON Parse error: <RapidJSON message> at offset: <n>``.
    """
    if not body:
        raise InvalidArgument("JSON Parse error: The document is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    value = _standard_library_parse(body)
    if value is not _REFUSED:
        return value
    return _Parser(body).parse()


_REFUSED = object()
# Text on which the standard library's reading would differ from RapidJSON's: integer literals
# that may leave the int64/uint64 range, exponents that may overflow a double, escaped surrogates
# (RapidJSON refuses a lone high one), and Inf/-NaN tokens (which the standard library lacks).
_STDLIB_UNSAFE = re.compile(rb"[0-9]{19}|[eE][+-]?[0-9]{3}|\\u[dD][89a-fA-F]|Inf(?!inity)|-NaN")
_DECODER = json.JSONDecoder()


def _standard_library_parse(body: bytes) -> object:
    """The common fallback, at C speed: NaN and Infinity tokens, trailing data, bad UTF-8.

    The standard library's scanner reads NaN/Infinity/-Infinity, types numbers as RapidJSON does
    and, through ``raw_decode``, stops after the first value. It is used only where it provably
    agrees with RapidJSON; it gives :data:`_REFUSED` otherwise (or on any error), and the exact
    parser decides.
    """
    if _STDLIB_UNSAFE.search(body) is not None:
        return _REFUSED
    text = body.decode("utf-8", "surrogateescape").lstrip(" \t\n\r")
    try:
        value = _DECODER.raw_decode(text)[0]
    except (ValueError, RecursionError):
        return _REFUSED
    # raw_decode stops before the bad tail of a root number ("1." is 1); RapidJSON reports it.
    return value if isinstance(value, (dict, list)) else _REFUSED


def _run_end(pattern: re.Pattern[bytes], data: bytes, at: int) -> int:
    """Where a run of ``pattern`` (which also matches the empty string) starting at ``at`` ends."""
    match = pattern.match(data, at)
    assert match is not None
    return match.end()


def _fail(message: str, offset: int) -> NoReturn:
    raise InvalidArgument(f"JSON Parse error: {message} at offset: {offset}")


class _Parser:
    """RapidJSON's iterative parser, on bytes, building Python values. Slow path only."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._end = len(data)

    def _peek(self, at: int) -> int:
        # RapidJSON reads '\0' at the end of its input and treats a NUL byte the same way.
        return self._data[at] if at < self._end else 0

    def parse(self) -> object:
        stack: list[dict[str, object] | list[object]] = []
        keys: list[str] = []
        state = _START
        # RapidJSON's UTF-8 input stream drops a leading byte order mark (offsets still count it).
        at = 3 if self._data.startswith(b"\xef\xbb\xbf") else 0
        while True:
            at = _run_end(_WHITESPACE, self._data, at)
            char = self._peek(at)
            if char == 0:
                _fail(_STATE_ERRORS[state], at)
            value: object
            if state in (_OBJECT_INITIAL, _MEMBER_DELIMITER):
                if char == ord("}") and state == _OBJECT_INITIAL:
                    value = stack.pop()
                    at += 1
                elif char == ord('"'):
                    key, at = self._string(at)
                    keys.append(key)
                    state = _MEMBER_KEY
                    continue
                else:
                    _fail(_MISS_NAME, at)
            elif state == _MEMBER_KEY:
                if char != ord(":"):
                    _fail(_MISS_COLON, at)
                state = _KEY_VALUE_DELIMITER
                at += 1
                continue
            elif state == _MEMBER_VALUE:
                if char == ord(","):
                    state = _MEMBER_DELIMITER
                    at += 1
                    continue
                if char != ord("}"):
                    _fail(_MISS_COMMA_OR_BRACE, at)
                value = stack.pop()
                at += 1
            elif state == _ELEMENT:
                if char == ord(","):
                    state = _ELEMENT_DELIMITER
                    at += 1
                    continue
                if char != ord("]"):
                    _fail(_MISS_COMMA_OR_BRACKET, at)
                value = stack.pop()
                at += 1
            elif char == ord("]") and state == _ARRAY_INITIAL:
                value = stack.pop()
                at += 1
            elif char == ord("{"):
                stack.append({})
                state = _OBJECT_INITIAL
                at += 1
                continue
            elif char == ord("["):
                stack.append([])
                state = _ARRAY_INITIAL
                at += 1
                continue
            elif char in b"]},:":
                _fail(_STATE_ERRORS[state], at)
            else:
                value, at = self._scalar(at, char)

            # A value is complete: attach it to its container, or stop at the root.
            if not stack:
                return value
            container = stack[-1]
            if isinstance(container, dict):
                container[keys.pop()] = value
                state = _MEMBER_VALUE
            else:
                container.append(value)
                state = _ELEMENT

    def _scalar(self, at: int, char: int) -> tuple[object, int]:
        if char == ord('"'):
            return self._string(at)
        for word, literal in ((b"true", True), (b"false", False), (b"null", None)):
            if char == word[0]:
                matched = 1
                while matched < len(word) and self._peek(at + matched) == word[matched]:
                    matched += 1
                if matched < len(word):
                    _fail(_INVALID_VALUE, at + matched)
                return literal, at + len(word)
        return self._number(at)

    def _number(self, start: int) -> tuple[object, int]:
        at = start
        negative = self._peek(at) == ord("-")
        if negative:
            at += 1
        char = self._peek(at)
        special: float | None = None
        if char == ord("0"):
            at += 1
        elif ord("1") <= char <= ord("9"):
            at = _run_end(_DIGITS, self._data, at + 1)
        elif char == ord("N"):
            if not self._data.startswith(b"NaN", at):
                _fail(_INVALID_VALUE, at + (2 if self._data.startswith(b"Na", at) else 1))
            special = math.nan
            at += 3
        elif char == ord("I"):
            if not self._data.startswith(b"Inf", at):
                _fail(_INVALID_VALUE, at + (2 if self._data.startswith(b"In", at) else 1))
            special = -math.inf if negative else math.inf
            at += 3
            if self._peek(at) == ord("i"):
                for expected in b"inity":
                    if self._peek(at) != expected:
                        _fail(_INVALID_VALUE, at)
                    at += 1
        else:
            _fail(_INVALID_VALUE, at)
        digits_end = at
        is_double = False
        if self._peek(at) == ord("."):
            at += 1
            if not ord("0") <= self._peek(at) <= ord("9"):
                _fail(_MISS_FRACTION, at)
            at = _run_end(_DIGITS, self._data, at)
            is_double = True
        if self._peek(at) in (ord("e"), ord("E")):
            at += 1
            if self._peek(at) in (ord("+"), ord("-")):
                at += 1
            if not ord("0") <= self._peek(at) <= ord("9"):
                _fail(_MISS_EXPONENT, at)
            at = _run_end(_DIGITS, self._data, at)
            is_double = True
        if special is not None:
            if not is_double:
                return special, at
            # RapidJSON 1.1.0 reads on after NaN/Inf: "NaN.5" is 0.5 and "-Infe3" is -0.0.
            text = (b"-0" if negative else b"0") + self._data[digits_end:at]
        else:
            text = self._data[start:at]
        if not is_double:
            number = int(text)
            if _INT64_MIN <= number <= _UINT64_MAX:
                return number, at
        # Integers outside int64/uint64 become doubles, as in RapidJSON (and orjson).
        result = float(text)
        if math.isinf(result):
            _fail(_TOO_BIG, start)
        return result, at

    def _string(self, start: int) -> tuple[str, int]:
        pieces: list[bytes] = []
        at = start + 1
        while True:
            run_end = _run_end(_PLAIN_CHARS, self._data, at)
            pieces.append(self._data[at:run_end])
            at = run_end
            char = self._peek(at)
            if char == ord('"'):
                return b"".join(pieces).decode("utf-8", "surrogateescape"), at + 1
            if char == 0:
                _fail(_MISS_QUOTE, at)
            if char != ord("\\"):
                _fail(_BAD_ESCAPE, at)
            escape_at = at
            kind = self._peek(at + 1)
            if kind in _SIMPLE_ESCAPES:
                pieces.append(_SIMPLE_ESCAPES[kind])
                at += 2
                continue
            if kind != ord("u"):
                _fail(_BAD_ESCAPE, escape_at)
            code, at = self._hex4(at + 2, escape_at)
            if 0xD800 <= code <= 0xDBFF:
                # A high surrogate must be followed by an escaped low one. RapidJSON 1.1.0 lets a
                # lone low surrogate through and writes its 3-byte form, as surrogatepass does.
                if self._data[at : at + 2] != b"\\u":
                    _fail(_BAD_SURROGATE, escape_at)
                low, at = self._hex4(at + 2, escape_at)
                if not 0xDC00 <= low <= 0xDFFF:
                    _fail(_BAD_SURROGATE, escape_at)
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            pieces.append(chr(code).encode("utf-8", "surrogatepass"))

    def _hex4(self, at: int, escape_at: int) -> tuple[int, int]:
        if _HEX4.match(self._data, at) is None:
            _fail(_BAD_HEX, escape_at)
        return int(self._data[at : at + 4], 16), at + 4
