"""The compiled JSON reader: the reference parser's values, or ``None``; never a crash.

Every answer of :func:`shiba.codecs._fast.loads` is checked against
:func:`shiba.codecs._json_parse.parse_json` (the reference, with TF Serving's error messages):
where the reference raises, the reader must answer ``None``; where the reader answers, its
values must equal the reference's, exactly (floats bit for bit, NaN equal to NaN), with each
:class:`FastArray` equal to ``np.asarray`` of the reference's nested lists.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import struct
import sys
import tracemalloc
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shiba.codecs import _fast
from shiba.codecs._json_parse import parse_json
from shiba.core.errors import InvalidArgument

pytestmark = pytest.mark.skipif(
    not _fast.AVAILABLE,
    reason=f"the compiled JSON reader is not built: {_fast.UNAVAILABLE_REASON}",
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


# -- comparing with the reference ------------------------------------------------------------


def _same_float(got: float, want: float) -> bool:
    if math.isnan(got) or math.isnan(want):
        return math.isnan(got) and math.isnan(want)
    return struct.pack("<d", got) == struct.pack("<d", want)


def _reference_nest(value: object) -> npt.NDArray[Any]:
    """``np.asarray`` of a reference value that must be a rectangular nest of numbers."""
    pending = [value]
    while pending:
        node = pending.pop()
        if type(node) is list:
            assert node, "an empty list in a nest"
            pending.extend(node)
        else:
            assert type(node) in (int, float), f"a {type(node).__name__} leaf in a nest"
    array = np.asarray(value)
    assert array.dtype in (np.int64, np.float64), array.dtype
    return array


def _same_arrays(got: npt.NDArray[Any], want: npt.NDArray[Any]) -> bool:
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    if got.dtype == np.int64:
        return bool(np.array_equal(got, want))
    both_nan = np.isnan(got) & np.isnan(want)
    return bool(np.all((got.view(np.uint64) == want.view(np.uint64)) | both_nan))


def assert_same(got: object, want: object) -> None:
    """``got`` (the reader's) is ``want`` (the reference's): same types, same values."""
    if _fast.is_fast_array(got):
        assert isinstance(got.buffer, bytearray)
        assert type(got.shape) is tuple
        assert all(type(size) is int and size > 0 for size in got.shape)
        assert len(got.buffer) == 8 * math.prod(got.shape)
        array = _fast.to_ndarray(got)
        expected = _reference_nest(want)
        assert got.is_int == (expected.dtype == np.int64)
        assert _same_arrays(array, expected), (array, expected)
        return
    assert type(got) is type(want), (got, want)
    if type(want) is dict:
        assert isinstance(got, dict)
        assert list(got) == list(want)
        for key, value in want.items():
            assert_same(got[key], value)
    elif type(want) is list:
        assert isinstance(got, list)
        assert len(got) == len(want)
        for got_item, want_item in zip(got, want, strict=True):
            assert not _fast.is_fast_array(got_item), "a FastArray inside a list"
            assert_same(got_item, want_item)
    elif type(want) is float:
        assert isinstance(got, float)
        assert _same_float(got, want), (got, want)
    else:
        assert got == want, (got, want)


def reference(body: bytes) -> tuple[bool, object]:
    """(True, value) if the reference reads ``body``, (False, None) if it raises."""
    try:
        return True, parse_json(body)
    except InvalidArgument:
        return False, None
    except RecursionError:  # the standard library's scanner on pathological nesting
        return False, None


def check(body: bytes) -> object:
    """The reader's answer to ``body``, after checking it against the reference."""
    got = _fast.loads(body)
    ok, want = reference(body)
    if not ok:
        assert got is None, body[:200]
    elif got is not None:
        assert_same(got, want)
    return got


def read(body: bytes) -> object:
    """The reader's answer to ``body``, which must be a value (and the reference's)."""
    got = check(body)
    assert got is not None, body[:200]
    return got


# -- writing JSON in many ways ---------------------------------------------------------------

_SPACES = ["", " ", "  ", "\n", "\n    ", "\t", "\r\n", " \n\t "]


def _float_text(value: float, rng: random.Random) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    style = rng.randrange(9)
    if style == 0:
        return repr(value)
    if style == 1:
        return f"{value:.17e}"
    if style == 2:
        return f"{value:.{rng.randrange(0, 26)}e}".replace("e", rng.choice("eE"))
    if style == 3:  # exact decimal expansion: long mantissas, strtod's territory
        text = str(Decimal(value))
        return text if any(c in text for c in ".eE") else text + ".0"
    if style == 4 and abs(value) < 1e22:
        return f"{value:.{rng.randrange(0, 25)}f}"
    if style == 5:  # 20-digit mantissa, explicit exponent sign
        mantissa, _, exponent = f"{value:.19e}".partition("e")
        return f"{mantissa}E{int(exponent):+d}"
    if style == 6:  # leading fraction zeros moved into the exponent
        mantissa, _, exponent = f"{value:.16e}".partition("e")
        sign = "-" if mantissa.startswith("-") else ""
        digits = mantissa.lstrip("-").replace(".", "")
        zeros = rng.randrange(0, 8)
        return f"{sign}0.{'0' * zeros}{digits}e{int(exponent) + zeros + 1}"
    return json.dumps(value)


def _int_text(value: int, rng: random.Random) -> str:
    style = rng.randrange(6)
    if style == 0:
        return f"{value}.0"  # a float literal
    if style == 1:
        return f"{value}e0"
    if style == 2:
        return f"{value}E+{rng.randrange(0, 3)}"
    return str(value)


def _string_text(value: str, rng: random.Random) -> str:
    style = rng.randrange(4)
    if style == 0:
        return json.dumps(value, ensure_ascii=True)
    if style == 1:
        return json.dumps(value, ensure_ascii=False)
    # Escape some characters by hand: \/ and \uXXXX in either case, pairs for astral ones.
    pieces = ['"']
    for char in value:
        code = ord(char)
        choice = rng.randrange(4)
        if char == "/" and choice == 0:
            pieces.append("\\/")
        elif choice == 0 or code < 0x20 or char in '"\\':
            units = [code]
            if code >= 0x10000:
                code -= 0x10000
                units = [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]
            for unit in units:
                hex_text = f"{unit:04x}"
                pieces.append("\\u" + (hex_text.upper() if rng.random() < 0.5 else hex_text))
        else:
            pieces.append(char)
    pieces.append('"')
    return "".join(pieces)


def render(value: object, rng: random.Random) -> str:
    """``value`` as JSON text, numbers, strings and whitespace written in varied ways."""

    def space() -> str:
        return rng.choice(_SPACES)

    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return _int_text(value, rng)
    if type(value) is float:
        return _float_text(value, rng)
    if type(value) is str:
        return _string_text(value, rng)
    if type(value) is list:
        inner = ("," + space()).join(space() + render(item, rng) + space() for item in value)
        return "[" + inner + space() + "]"
    assert type(value) is dict
    members = (
        space() + _string_text(key, rng) + space() + ":" + space() + render(item, rng)
        for key, item in value.items()
    )
    return "{" + ("," + space()).join(members) + space() + "}"


def serializations(value: object, rng: random.Random) -> list[bytes]:
    """Several texts of ``value``: orjson, json.dumps (compact, indented), :func:`render`."""
    bodies = [render(value, rng).encode(), render(value, rng).encode()]
    bodies.append(json.dumps(value).encode())
    indents: list[int | str] = [1, 2, 4, "\t"]
    indent = rng.choice(indents)
    bodies.append(json.dumps(value, indent=indent).encode())
    bodies.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    with contextlib.suppress(TypeError):  # orjson refuses integers beyond 64 bits
        bodies.append(orjson.dumps(value))
    return bodies


# -- strategies ------------------------------------------------------------------------------

_ints = st.one_of(
    st.integers(-1000, 1000),
    st.integers(INT64_MIN, INT64_MAX),
    st.integers(INT64_MIN - 5, INT64_MIN + 5),
    st.integers(INT64_MAX - 5, INT64_MAX + 5),
    st.integers(-(2**70), 2**70),
)
_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-300, max_value=1e-300),  # subnormals and tiny
    st.floats(width=32).map(float),
    st.sampled_from(
        [0.0, -0.0, 0.1, 1e22, 1e23, 9007199254740993.0, 5e-324, 1.7976931348623157e308]
    ),
)
_text = st.text(max_size=12) | st.sampled_from(["", "é", "😀", "\u2028", "\x00", "a\\b", '"', "/"])
_scalars = st.none() | st.booleans() | _ints | _floats | _text


def _nest(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """Rectangular nested lists of ``leaves``: rank 1 to 4, every size at least 1."""

    @st.composite
    def build(draw: st.DrawFn) -> list[Any]:
        shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))

        def fill(level: int) -> list[Any]:
            if level == len(shape) - 1:
                return [draw(leaves) for _ in range(shape[level])]
            return [fill(level + 1) for _ in range(shape[level])]

        return fill(0)

    return build()


_numeric_nests = _nest(st.integers(INT64_MIN, INT64_MAX)) | _nest(_floats) | _nest(_ints | _floats)
_values = st.recursive(
    _scalars | _numeric_nests,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_text, children, max_size=5),
    max_leaves=30,
)


_INTEGER_LITERAL = re.compile(rb"(?<![0-9.eE+-])-?[0-9]+(?![0-9.eE])")


def _is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def _is_nest(value: list[Any]) -> bool:
    """Whether a reference list is a rectangular nest of numbers (at least one)."""
    pending: list[object] = [value]
    while pending:
        node = pending.pop()
        if type(node) is list:
            pending.extend(node)
        elif not _is_number(node):
            return False
    try:
        return np.asarray(value).size > 0
    except ValueError:  # ragged
        return False


def _holds_numbers(value: object) -> bool:
    """Whether a number sits in ``value`` or in the lists inside it (not inside objects)."""
    if type(value) is list:
        return any(_holds_numbers(item) for item in value)
    return _is_number(value)


def _must_read(body: bytes, value: object) -> bool:
    """Whether the reader must answer (not ``None``) for a body the reference reads as ``value``.

    It must unless the text has an integer literal outside int64 (the reference reads those as
    doubles, the reader refuses them), or a list that is not a nest of numbers holds numbers
    (the reader refuses ragged and mixed arrays). Bodies here nest less than 64 deep and have no
    repeated keys.
    """
    literals = (int(token) for token in _INTEGER_LITERAL.findall(body))
    if not all(INT64_MIN <= literal <= INT64_MAX for literal in literals):
        return False
    pending = [value]
    while pending:
        node = pending.pop()
        if type(node) is dict:
            pending.extend(node.values())
        elif type(node) is list and not _is_nest(node):
            if any(_holds_numbers(item) for item in node):
                return False
            pending.extend(node)
    return True


# -- properties ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_values, rng=st.randoms(use_true_random=False))
def test_any_document_reads_as_the_reference_or_not_at_all(
    value: object, rng: random.Random
) -> None:
    for body in serializations(value, rng):
        got = check(body)
        ok, want = reference(body)
        if ok and want is not None and _must_read(body, want):  # "null" reads as None
            assert got is not None, body[:200]


@settings(max_examples=200, deadline=None)
@given(nest=_numeric_nests, rng=st.randoms(use_true_random=False))
def test_rectangular_nests_are_read(nest: list[Any], rng: random.Random) -> None:
    for body in serializations(nest, rng):
        got = check(body)
        ok, want = reference(body)
        if ok and type(want) is list and _is_nest(want) and _must_read(body, want):
            assert _fast.is_fast_array(got), body[:200]


@settings(max_examples=200, deadline=None)
@given(
    array=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6),
        elements=st.floats(allow_nan=True, allow_infinity=True),
    )
)
def test_float_arrays_match_numpy(array: npt.NDArray[np.float64]) -> None:
    body = json.dumps({"instances": array.tolist()}).encode()
    document = read(body)
    assert isinstance(document, dict)
    got = _fast.to_ndarray(document["instances"])
    assert _same_arrays(got, np.asarray(json.loads(body)["instances"]))


@settings(max_examples=200, deadline=None)
@given(array=hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6)))
def test_int_arrays_match_numpy(array: npt.NDArray[np.int64]) -> None:
    body = orjson.dumps({"instances": array.tolist()})
    document = read(body)
    assert isinstance(document, dict)
    got = _fast.to_ndarray(document["instances"])
    assert got.dtype == np.int64
    assert np.array_equal(got, array)


@settings(max_examples=500, deadline=None)
@given(
    mantissa=st.integers(1, 10**25),
    exponent=st.integers(-400, 330),
    point=st.integers(0, 30),
    negative=st.booleans(),
)
def test_decimal_literals_are_correctly_rounded(
    mantissa: int, exponent: int, point: int, negative: bool
) -> None:
    digits = str(mantissa)
    point = min(point, len(digits))
    text = (digits[:point] or "0") + "." + (digits[point:] or "0") + f"e{exponent}"
    text = ("-" if negative else "") + text
    expected = float(text)
    got = _fast.loads(f"[{text}]".encode())
    if math.isinf(expected):
        assert got is None
        return
    assert _fast.is_fast_array(got)
    assert _same_float(float(_fast.to_ndarray(got)[0]), expected), text


@settings(max_examples=500, deadline=None)
@given(bits=st.integers(0, 2**64 - 1), precision=st.integers(0, 20))
def test_double_texts_round_trip(bits: int, precision: int) -> None:
    number = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if not math.isfinite(number):
        return
    for text in (repr(number), f"{number:.17e}", f"{number:.{precision}e}"):
        got = _fast.loads(f"[{text}]".encode())
        assert _fast.is_fast_array(got)
        assert _same_float(float(_fast.to_ndarray(got)[0]), float(text)), text


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(body: bytes) -> None:
    check(body)


_JSON_BYTES = list(b' \t\n\r[]{}:,"\\-+.eE0123456789aflnrstuINy\x00\xc3\xa9\xff\xed\xa0\x80')


@settings(max_examples=500, deadline=None)
@given(
    value=_values,
    rng=st.randoms(use_true_random=False),
    edits=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.sampled_from(_JSON_BYTES)),
        min_size=1,
        max_size=4,
    ),
)
def test_damaged_documents_never_crash(
    value: object, rng: random.Random, edits: list[tuple[int, int, int]]
) -> None:
    body = bytearray(render(value, rng).encode())
    for operation, position, byte in edits:
        at = position % (len(body) + 1)
        if operation == 0:
            body.insert(at, byte)
        elif operation == 1 and at < len(body):
            del body[at]
        elif at < len(body):
            body[at] = byte
    check(bytes(body))


# -- specific cases --------------------------------------------------------------------------


def test_fast_array_attributes() -> None:
    got = read(b'{"instances": [[[1, 2, 3], [4, 5, 6]]], "signature_name": "serving_default"}')
    assert isinstance(got, dict)
    array = got["instances"]
    assert _fast.is_fast_array(array)
    assert array.shape == (1, 2, 3)
    assert array.is_int is True
    assert type(array.buffer) is bytearray
    assert repr(array) == "FastArray(shape=(1, 2, 3), is_int=True)"
    values = _fast.to_ndarray(array)
    assert values.dtype == np.int64
    assert values.flags.c_contiguous
    assert values.flags.writeable
    assert values.base is not None
    assert values.tolist() == [[[1, 2, 3], [4, 5, 6]]]
    assert got["signature_name"] == "serving_default"


def test_fast_array_cannot_be_built_or_changed() -> None:
    array = _fast.loads(b"[1]")
    assert _fast.is_fast_array(array)
    with pytest.raises(TypeError):
        type(array)()
    with pytest.raises(AttributeError):
        array.shape = (2,)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "values", "is_int"),
    [
        (b"[1, 2.5, -0]", [1.0, 2.5, 0.0], False),
        (b"[-0]", [0], True),
        (b"[-0.0, 0.0, -0e0, -0E-5]", [-0.0, 0.0, -0.0, -0.0], False),
        (b"[1E+2, 0.000001e-3, 1e-400, -1e-400]", [100.0, 1e-9, 0.0, -0.0], False),
        (b"[NaN, Infinity, -Infinity]", [math.nan, math.inf, -math.inf], False),
        (b"[1.5, 9007199254740993]", [1.5, 9007199254740992.0], False),
        (b"[9007199254740993, 1.5]", [9007199254740992.0, 1.5], False),
        (b"[[1, 2], [3.5, 4]]", [[1.0, 2.0], [3.5, 4.0]], False),
        (b"[1.00000000000000000000000000001]", [1.0], False),
        (b"[0e999999999999999999999]", [0.0], False),
        (
            b"[4.9e-324, 2.4703282292062328e-324, 2.4703282292062327e-324]",
            [5e-324, 5e-324, 0.0],
            False,
        ),
        (b"[1.7976931348623157e308, 1.7976931348623158e308]", [1.7976931348623157e308] * 2, False),
    ],
)
def test_numbers(body: bytes, values: list[Any], is_int: bool) -> None:
    got = read(body)
    assert _fast.is_fast_array(got)
    assert got.is_int is is_int
    expected = np.asarray(values, dtype=np.int64 if is_int else np.float64)
    assert _same_arrays(_fast.to_ndarray(got), expected)


def test_int64_bounds() -> None:
    got = read(b"[9223372036854775807, -9223372036854775808]")
    assert _fast.is_fast_array(got)
    assert _fast.to_ndarray(got).tolist() == [INT64_MAX, INT64_MIN]
    assert read(b'{"a": -9223372036854775808, "b": 9223372036854775807}') == {
        "a": INT64_MIN,
        "b": INT64_MAX,
    }
    for body in (
        b"[9223372036854775808]",
        b"[-9223372036854775809]",
        b"[1.5, 18446744073709551615]",
        b"[100000000000000000000]",
        b'{"a": 9223372036854775808}',
        b"18446744073709551616",
    ):
        assert check(body) is None, body


@pytest.mark.parametrize(
    "body",
    [
        b"[[1, 2], [3]]",
        b"[[1], [2, 3]]",
        b"[[1, 2], 3]",
        b"[1, [2]]",
        b"[[[1]], [2]]",
        b"[[1], [[2]]]",
        b"[[], [1]]",
        b"[[1], []]",
        b'[["a"], [1]]',
        b'[[1], ["a"]]',
        b'[1, "a"]',
        b'["a", 1]',
        b"[1, null]",
        b"[true, 1]",
        b"[1, true]",
        b'[{"a": 1}, 1]',
        b"[1, {}]",
        b"[[[1, 2], [3, 4]], [[5, 6], [7]]]",
        b"[[[1, 2], [3, 4]], [[5, 6]]]",
    ],
)
def test_ragged_or_mixed_arrays_are_not_read(body: bytes) -> None:
    assert check(body) is None


def test_arrays_without_numbers_stay_lists() -> None:
    assert read(b"[]") == []
    assert read(b"[[], []]") == [[], []]
    assert read(b'[["a", "b"], ["c"]]') == [["a", "b"], ["c"]]
    assert read(b"[true, false, null]") == [True, False, None]
    assert read(b'[{"a": [1, 2]}, {"a": [3]}]') is not None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"\xef\xbb\xbf[1]",
        b"[1] x",
        b"[1] [2]",
        b'{"a": 1}\x00',
        b"[1,]",
        b"[01]",
        b"[1.]",
        b"[.5]",
        b"[1e]",
        b"[+1]",
        b"[-]",
        b"[NaN.5]",
        b"[-NaN]",
        b"[Inf]",
        b"[-Inf]",
        b"[Infinit]",
        b"[nan]",
        b"[1e309]",
        b"[-1e400]",
        b'{"a": 1, "a": 2}',
        b'{"a": 1,}',
        b'"\\ud800"',
        b'"\\udc00"',
        b'"\\ud800\\u0041"',
        b'"\\ud800x"',
        b'"\\x"',
        b'"\\u12G4"',
        b'"\xff"',
        b'"\xc3"',
        b'"\xed\xa0\x80"',
        b'"\xc0\xaf"',
        b'"\xf4\x90\x80\x80"',
        b'"a\x01b"',
        b'"abc',
        b"tru",
        b"nul",
        b"[true",
        b"{",
        b"[",
        b"[1",
        b'{"a"',
        b'{"a":',
    ],
)
def test_refused(body: bytes) -> None:
    assert check(body) is None


def test_strings() -> None:
    assert read(b'"h\\u00e9llo \\ud83d\\ude00 \\/\\b\\f\\n\\r\\t\\"\\\\"') == (
        'h\u00e9llo \U0001f600 /\b\f\n\r\t"\\'
    )
    assert read(b'"\\u0000\x7f"') == "\x00\x7f"
    assert read('{"clé": "😀", "": ""}'.encode()) == {"clé": "😀", "": ""}
    long_text = "x" * 100_000 + "\\n" + "é" * 1000
    assert read(f'["{long_text}"]'.encode()) == ["x" * 100_000 + "\n" + "é" * 1000]


def test_scalars_at_the_root() -> None:
    assert read(b" 12 ") == 12
    assert read(b"-1.5") == -1.5
    assert read(b"NaN") is not None
    assert check(b"null") is None  # null reads as None, which is also "not read"
    assert read(b"true") is True
    assert read(b'"a"') == "a"


def test_nesting_depth() -> None:
    assert _fast.loads(b"[" * 64 + b"]" * 64) is not None
    assert _fast.loads(b"[" * 65 + b"]" * 65) is None
    deep_numbers = read(b"[" * 64 + b"7" + b"]" * 64)
    assert _fast.is_fast_array(deep_numbers)
    assert deep_numbers.shape == (1,) * 64
    assert _fast.loads(b"[" * 65 + b"7" + b"]" * 65) is None
    assert check(b'{"a":' * 64 + b"1" + b"}" * 64) is not None
    assert _fast.loads(b'{"a":' * 65 + b"1" + b"}" * 65) is None
    assert check(b'{"a":' * 62 + b"[[1]]" + b"}" * 62) is not None
    assert _fast.loads(b'{"a":' * 63 + b"[[1]]" + b"}" * 63) is None
    assert _fast.loads(b"[" * 100_000) is None


def test_huge_bodies() -> None:
    rng = np.random.default_rng(1)
    integers = rng.integers(INT64_MIN, INT64_MAX, size=(500, 1000), endpoint=True)
    got = read(orjson.dumps({"instances": integers.tolist()}))
    assert isinstance(got, dict)
    assert np.array_equal(_fast.to_ndarray(got["instances"]), integers)
    floats = rng.standard_normal(300_000) * 10.0 ** rng.integers(-300, 300, 300_000)
    got = _fast.loads(json.dumps(floats.tolist()).encode())
    assert _fast.is_fast_array(got)
    assert _same_arrays(_fast.to_ndarray(got), floats)
    many_strings = read(orjson.dumps([f"s{i}" for i in range(100_000)]))
    assert isinstance(many_strings, list)
    assert len(many_strings) == 100_000


def _image_body(side: int, floats: bool, writer: str) -> bytes:
    rng = np.random.default_rng(side)
    image = rng.integers(0, 256, size=(1, side, side, 3))
    values = image.astype(np.float32).astype(np.float64) / 255.0 if floats else image
    document = {"signature_name": "serving_default", "instances": values.tolist()}
    return orjson.dumps(document) if writer == "orjson" else json.dumps(document).encode()


@pytest.mark.parametrize("side", [32, 224])
@pytest.mark.parametrize("floats", [False, True])
@pytest.mark.parametrize("writer", ["orjson", "json"])
def test_image_bodies(side: int, floats: bool, writer: str) -> None:
    body = _image_body(side, floats, writer)
    document = _fast.loads_with_arrays(body)
    assert isinstance(document, dict)
    expected = np.asarray(orjson.loads(body)["instances"])
    got = document["instances"]
    assert isinstance(got, np.ndarray)
    assert got.shape == (1, side, side, 3)
    assert _same_arrays(got, expected)
    assert document["signature_name"] == "serving_default"


def test_materialize() -> None:
    document = _fast.loads(b'{"a": [1, 2], "b": [{"c": [[1.5]]}, "d"], "e": "f"}')
    untouched = _fast.loads(b'{"a": ["x"], "b": [true]}')
    arrays = _fast.materialize(document)
    assert isinstance(arrays["a"], np.ndarray)
    assert arrays["a"].tolist() == [1, 2]
    assert isinstance(arrays["b"][0]["c"], np.ndarray)
    assert arrays["b"][0]["c"].dtype == np.float64
    assert arrays["b"][1] == "d"
    assert arrays["e"] == "f"
    assert _fast.materialize(untouched) is untouched


def test_bytes_like_bodies() -> None:
    assert _fast.is_fast_array(_fast.loads(bytearray(b"[1, 2]")))
    assert _fast.is_fast_array(_fast.loads(memoryview(b"x[1, 2]")[1:]))
    with pytest.raises(TypeError):
        _fast.loads("[1]")  # type: ignore[arg-type]


def test_memory_stays_flat() -> None:
    image = _image_body(32, False, "orjson")
    bodies = [
        image,
        _image_body(32, True, "json"),
        b'{"a": "\\u00e9\\ud83d\\ude00", "b": [true, null, "x"], "c": {"d": -1.5e300}}',
        b'{"a": [[1, 2], [3]]}',  # fails inside a nest
        b'{"a": [1, 2.5], "a": 3}',  # fails at a repeated key
        b'{"a": "\\ud800"}',  # fails in a string
        b'["x", 1]',
        b"[1e400]",
        b"[" * 70,
        b"[1.0000000000000000000000001, 123456789012345678901234567890.5]",
    ]

    def run(times: int) -> None:
        for _ in range(times):
            for body in bodies:
                _fast.loads(body)

    run(200)
    tracemalloc.start()
    try:
        run(100)
        before, _ = tracemalloc.get_traced_memory()
        blocks = sys.getallocatedblocks()
        run(1000)
        after, _ = tracemalloc.get_traced_memory()
        grown_blocks = sys.getallocatedblocks() - blocks
    finally:
        tracemalloc.stop()
    assert after - before < 64 * 1024
    assert grown_blocks < 500
