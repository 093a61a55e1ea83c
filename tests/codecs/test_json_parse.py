"""Request parsing and RapidJSON text: what TF Serving's RapidJSON 1.1.0 accepts and says.

The expected messages, offsets and debug strings were produced by RapidJSON 1.1.0 itself, parsing
with json_tensor.cc's flags and printing with its JsonValueToDebugString.
"""

from __future__ import annotations

import math

import pytest

from shiba.codecs._json_parse import _Parser, parse_json
from shiba.codecs._rapidjson import debug_string, double_text, quote
from shiba.core.errors import InvalidArgument


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b" ", "JSON Parse error: The document is empty. at offset: 1"),
        (b"\x00", "JSON Parse error: The document is empty. at offset: 0"),
        (b"]", "JSON Parse error: The document is empty. at offset: 0"),
        (b"{", "JSON Parse error: Missing a name for object member. at offset: 1"),
        (b"[1", "JSON Parse error: Missing a comma or ']' after an array element. at offset: 2"),
        (b"[1,]", "JSON Parse error: Invalid value. at offset: 3"),
        (b"[1 2]", "JSON Parse error: Missing a comma or ']' after an array element. at offset: 3"),
        (
            b'{"a" 1}',
            "JSON Parse error: Missing a colon after a name of object member. at offset: 5",
        ),
        (b'{"a":1,}', "JSON Parse error: Missing a name for object member. at offset: 7"),
        (b"{1:2}", "JSON Parse error: Missing a name for object member. at offset: 1"),
        (
            b'{"a":1 "b":2}',
            "JSON Parse error: Missing a comma or '}' after an object member. at offset: 7",
        ),
        (b'"abc', "JSON Parse error: Missing a closing quotation mark in string. at offset: 4"),
        (b'"a\\x"', "JSON Parse error: Invalid escape character in string. at offset: 2"),
        (
            b'"a\\u12G4"',
            "JSON Parse error: Incorrect hex digit after \\u escape in string. at offset: 2",
        ),
        (b'"\\ud800"', "JSON Parse error: The surrogate pair in string is invalid. at offset: 1"),
        (b'"a\x01b"', "JSON Parse error: Invalid escape character in string. at offset: 2"),
        (b"tru", "JSON Parse error: Invalid value. at offset: 3"),
        (b"nulx", "JSON Parse error: Invalid value. at offset: 3"),
        (b"-", "JSON Parse error: Invalid value. at offset: 1"),
        (b"1.", "JSON Parse error: Miss fraction part in number. at offset: 2"),
        (b"1e+", "JSON Parse error: Miss exponent in number. at offset: 3"),
        (b"Nan", "JSON Parse error: Invalid value. at offset: 2"),
        (b"Infin", "JSON Parse error: Invalid value. at offset: 5"),
        (b"1e309", "JSON Parse error: Number too big to be stored in double. at offset: 0"),
        (b"instances = [1, 2]", "JSON Parse error: Invalid value. at offset: 0"),
        (b'{"instances": [1,]}', "JSON Parse error: Invalid value. at offset: 17"),
        (b"", "JSON Parse error: The document is empty"),
    ],
)
def test_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_json(body)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b"[NaN, -NaN, Inf, -Inf, Infinity, -Infinity]", None),
        (b'{"a": 1} trailing', {"a": 1}),
        (b"[1] [2]", [1]),
        (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),
        (b'{"a":1}\x00garbage', {"a": 1}),
        (
            b"[-0, 2147483648, 9223372036854775808, 18446744073709551615]",
            [0, 2**31, 2**63, 2**64 - 1],
        ),
        (b"[18446744073709551616, -9223372036854775809]", [2.0**64, -(2.0**63)]),
        (b'["\\/\\b\\f\\n\\r\\t", "\\uD83D\\uDE00"]', ["/\b\f\n\r\t", "\U0001f600"]),
        (b'["\xff\xfe"]', ["\udcff\udcfe"]),
        (b'["\\udc00"]', ["\udced\udcb0\udc80"]),
        (b"[NaN.5, -Infe3]", [0.5, -0.0]),
    ],
)
def test_accepted_as_rapidjson_does(body: bytes, value: object) -> None:
    parsed = parse_json(body)
    if value is None:
        assert isinstance(parsed, list)
        assert math.isnan(parsed[0]) and math.isnan(parsed[1])
        assert parsed[2:] == [math.inf, -math.inf, math.inf, -math.inf]
    else:
        assert parsed == value
        assert [type(item) for item in _items(parsed)] == [type(item) for item in _items(value)]


def _items(value: object) -> list[object]:
    return list(value.values()) if isinstance(value, dict) else list(value)  # type: ignore[call-overload]


def test_deep_nesting() -> None:
    depth = 200_000
    parsed = parse_json(b"[" * depth + b"]" * depth)
    for _ in range(depth - 1):
        assert isinstance(parsed, list)
        parsed = parsed[0]
    assert parsed == []


def test_tiers_agree_with_the_exact_parser() -> None:
    bodies = [
        b'{"x": [1.5, NaN, Infinity, -Infinity], "y": "caf\xc3\xa9"} tail',
        b'{"x": [1, 2.0, "\\u00e9"], "dup": 1, "dup": 2}',
        b'  {"s": "\xff"}',
    ]
    for body in bodies:
        assert repr(parse_json(body)) == repr(_Parser(body).parse())


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (
            b'{"instances": [1], "inputs": [2]}',
            '{\n    "instances": [1],\n    "inputs": [2]\n}',
        ),
        (
            b'{"a": {"b": [1, {"c": "x\\ny"}]}, "d": []}',
            '{\n    "a": {\n        "b": [1, {\n                "c": "x\\ny"\n            }]\n'
            '    },\n    "d": []\n}',
        ),
        (
            b"[0.1, 1e21, 1e-7, 123.456, 1e20, 100.0, -0.0, 0.000001, 1234567.125, 1.5e300]",
            "[0.1, 1e21, 1e-7, 123.456, 100000000000000000000.0, 100.0, -0.0, 0.000001,"
            " 1234567.125, 1.5e300]",
        ),
        (b"[1, NaN, 2]", "[1, "),
        (
            b'{"k": "' + b"x" * 300 + b'"}',
            '{\n    "k": "' + "x" * 300 + '"',
        ),
        (
            b"[" + b"12345, " * 60 + b"1]",
            "[" + ", ".join(["12345"] * 37),
        ),
        (
            b'{"a": {}, "b": [[]], "c": [{}], "e": "\\u0001\\"\\\\/"}',
            '{\n    "a": {},\n    "b": [[]],\n    "c": [{}],\n    "e": "\\u0001\\"\\\\/"\n}',
        ),
        (
            b"[true, false, null, -9223372036854775808, 18446744073709551615]",
            "[true, false, null, -9223372036854775808, 18446744073709551615]",
        ),
    ],
)
def test_debug_string(body: bytes, text: str) -> None:
    assert debug_string(parse_json(body)) == text


def test_debug_string_of_deep_values() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert debug_string(deep) == "[" * 256


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e308"),
        (123456789012.5, "123456789012.5"),
        (1e-6, "0.000001"),
        (1.25e-7, "1.25e-7"),
        (math.nan, None),
        (-math.inf, None),
    ],
)
def test_double_text(value: float, text: str | None) -> None:
    assert double_text(value) == text


def test_quote() -> None:
    assert quote('a"\\\x00\x1f\x7f/é\udcff') == '"a\\"\\\\\\u0000\\u001F\x7f/é\udcff"'
