"""Property tests: malformed input only ever raises InvalidArgument; fast paths equal references."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiba.codecs._json_parse import _Parser, parse_json
from shiba.codecs._predict_inputs import _instances_reference, decode_instances
from shiba.codecs._rapidjson import debug_string
from shiba.codecs._tensor_build import array_from_leaves, build_array, walk
from shiba.codecs.tfs_json import decode_examples, decode_predict
from shiba.core.errors import InvalidArgument, ShibaError
from shiba.core.tensors import DType
from tests.codecs._signatures import lookup, signature

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUPPORTED = [
    DType.DT_FLOAT,
    DType.DT_DOUBLE,
    DType.DT_INT32,
    DType.DT_UINT8,
    DType.DT_INT16,
    DType.DT_INT8,
    DType.DT_STRING,
    DType.DT_INT64,
    DType.DT_BOOL,
    DType.DT_UINT32,
    DType.DT_UINT64,
]

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**65),
    st.floats(),
    st.text(max_size=5),
    st.sampled_from([{"b64": "aGk="}, {"b64": "!"}, {"b64": 1}, {}]),
)
JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "b64", "x"]), children, max_size=3)
    ),
    max_leaves=30,
)
# Nested lists of one numeric kind: what clients send, and where numpy's fast path applies.
_NUMBERS = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.integers(min_value=-(2**64), max_value=2**65),
    st.floats(),
)


def _nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaves, lambda children: st.lists(children, max_size=3), max_leaves=24)


def _dumps(value: object) -> bytes:
    """JSON text of ``value`` that may hold NaN/Infinity tokens, as TF Serving clients write."""
    if isinstance(value, float) and not math.isfinite(value):
        return b"NaN" if math.isnan(value) else (b"Infinity" if value > 0 else b"-Infinity")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode()
    if isinstance(value, list):
        return b"[" + b", ".join(_dumps(item) for item in value) + b"]"
    if isinstance(value, dict):
        return (
            b"{" + b", ".join(orjson.dumps(k) + b": " + _dumps(v) for k, v in value.items()) + b"}"
        )
    return orjson.dumps(value)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        result = call()
    except ShibaError as error:
        return ("error", (type(error), error.message))
    return ("ok", result)


def _may_hold_bools(value: object) -> bool:
    text = repr(value)
    return "True" in text or "False" in text


def _reference_array(value: object, dtype: DType) -> npt.NDArray[Any]:
    shape, leaves = walk(value, dtype)
    return array_from_leaves(leaves, shape, dtype)


def _same_arrays(left: dict[str, npt.NDArray[Any]], right: dict[str, npt.NDArray[Any]]) -> bool:
    return list(left) == list(right) and all(
        left[name].dtype == right[name].dtype
        and left[name].shape == right[name].shape
        and np.array_equal(left[name], right[name], equal_nan=left[name].dtype.kind == "f")
        for name in left
    )


@given(st.binary(max_size=200))
@SETTINGS
def test_arbitrary_bytes(body: bytes) -> None:
    for decoder in (
        lambda: decode_predict(body, lookup(signature(x=DType.DT_FLOAT))),
        lambda: decode_examples(body),
    ):
        with contextlib.suppress(InvalidArgument):
            decoder()


@given(
    JSON,
    st.sampled_from(["instances", "inputs", "examples", "context"]),
    st.sampled_from(SUPPORTED),
    st.booleans(),
)
@SETTINGS
def test_arbitrary_json(value: object, key: str, dtype: DType, two_inputs: bool) -> None:
    sig = signature(a=dtype, b=DType.DT_INT32) if two_inputs else signature(a=dtype)
    body = _dumps({key: value, "signature_name": ""})
    try:
        request = decode_predict(body, lookup(sig))
    except InvalidArgument:
        pass
    else:
        for name, array in request.inputs.items():
            assert array.dtype == sig.inputs[name].dtype.numpy
    try:
        examples = decode_examples(body)
    except InvalidArgument:
        pass
    else:
        assert all(isinstance(example, bytes) for example in examples.examples)


@given(st.one_of(JSON, _nested(_NUMBERS)), st.sampled_from(SUPPORTED))
@SETTINGS
def test_build_array_fast_path_equals_the_walk(value: object, dtype: DType) -> None:
    if _may_hold_bools(value):
        return  # booleans are what may_hold_bools=False rules out
    fast = _outcome(lambda: build_array(value, dtype, may_hold_bools=False))
    reference = _outcome(lambda: _reference_array(value, dtype))
    assert fast[0] == reference[0], (fast, reference)
    if fast[0] == "error":
        assert fast == reference
    else:
        assert _same_arrays({"x": fast[1]}, {"x": reference[1]})


@given(
    st.lists(
        st.one_of(
            JSON,
            _nested(_NUMBERS),
            st.fixed_dictionaries({"a": _nested(_NUMBERS), "b": _nested(_NUMBERS)}),
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(SUPPORTED),
    st.booleans(),
)
@SETTINGS
def test_instances_fast_path_equals_the_reference(
    instances: list[object], dtype: DType, two: bool
) -> None:
    specs = (signature(a=dtype, b=DType.DT_DOUBLE) if two else signature(a=dtype)).inputs
    may_hold_bools = _may_hold_bools(instances)
    fast = _outcome(lambda: decode_instances(instances, specs, build_array, may_hold_bools))
    reference = _outcome(lambda: _instances_reference(instances, specs))
    assert fast[0] == reference[0], (fast, reference)
    if fast[0] == "error":
        assert fast == reference
    else:
        assert _same_arrays(fast[1], reference[1])


@given(JSON)
@SETTINGS
def test_parser_tiers_agree(value: object) -> None:
    body = _dumps({"v": value}) + b" trailing"
    assert repr(parse_json(body)) == repr(_Parser(body).parse())


@given(JSON)
@SETTINGS
def test_debug_string_is_bounded(value: object) -> None:
    text = debug_string(value)
    assert len(text.encode("utf-8", "surrogateescape")) < 256 + 64
