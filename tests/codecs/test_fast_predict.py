"""The compiled fast path of decode_predict gives exactly the reference path's answers."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiba.codecs import _fast, _fast_predict, tfs_json
from shiba.core.errors import ShibaError
from shiba.core.tensors import DType, Signature, TensorSpec

pytestmark = pytest.mark.skipif(not _fast.AVAILABLE, reason=str(_fast.UNAVAILABLE_REASON))

DTYPES = [
    DType.DT_FLOAT,
    DType.DT_DOUBLE,
    DType.DT_INT32,
    DType.DT_INT64,
    DType.DT_UINT8,
    DType.DT_INT8,
    DType.DT_UINT32,
    DType.DT_BOOL,
]


def signature(dtypes: dict[str, DType]) -> Signature:
    return Signature({name: TensorSpec(dtype, None) for name, dtype in dtypes.items()}, {})


def reference(body: bytes, sig: Signature) -> Any:
    """decode_predict with the fast path switched off: what the reference path answers."""
    with mock.patch.object(_fast_predict, "decode", return_value=None):
        try:
            return tfs_json.decode_predict(body, lambda _: sig)
        except ShibaError as exc:
            return type(exc), exc.message


def same(fast: Any, ref: Any) -> None:
    assert not isinstance(ref, tuple), (fast, ref)  # the fast path answered where TF complains
    assert fast.signature_name == ref.signature_name
    assert fast.columnar == ref.columnar
    assert fast.inputs.keys() == ref.inputs.keys()
    for name in ref.inputs:
        a, b = fast.inputs[name], ref.inputs[name]
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b)
        if a.dtype.kind == "f":
            assert np.array_equal(np.signbit(a), np.signbit(b))


def check(body: bytes, sig: Signature) -> None:
    decoded = _fast_predict.decode(body, lambda _: sig)
    ref = reference(body, sig)
    if decoded is None:
        return
    name, columnar, inputs = decoded
    same(tfs_json.PredictRequest(name, columnar, inputs), ref)


numbers = st.one_of(
    st.integers(-(2**40), 2**40),
    st.integers(-300, 300),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)


@st.composite
def nests(draw: st.DrawFn) -> Any:
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    size = int(np.prod(shape))
    flat = draw(st.lists(numbers, min_size=size, max_size=size))
    array = np.empty(size, dtype=object)
    array[:] = flat
    return array.reshape(shape).tolist()


@settings(max_examples=300, deadline=None)
@given(nest=nests(), dtype=st.sampled_from(DTYPES), columnar=st.booleans())
def test_one_input(nest: Any, dtype: DType, columnar: bool) -> None:
    key = "inputs" if columnar else "instances"
    check(json.dumps({key: nest}).encode(), signature({"x": dtype}))
    check(json.dumps({"signature_name": "", key: {"x": nest}}).encode(), signature({"x": dtype}))


@settings(max_examples=200, deadline=None)
@given(a=nests(), b=nests(), dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)))
def test_two_inputs(a: Any, b: Any, dtypes: tuple[DType, DType]) -> None:
    sig = signature({"a": dtypes[0], "b": dtypes[1]})
    check(json.dumps({"inputs": {"a": a, "b": b}}).encode(), sig)
    rows = [{"a": a, "b": b}, {"a": a, "b": b}]
    check(json.dumps({"instances": rows}).encode(), sig)


def test_the_w1_body_takes_the_fast_path() -> None:
    image = np.random.default_rng(0).integers(0, 256, size=(1, 32, 32, 3))
    body = json.dumps({"signature_name": "serving_default", "instances": image.tolist()}).encode()
    sig = signature({"images": DType.DT_FLOAT})
    decoded = _fast_predict.decode(body, lambda _: sig)
    assert decoded is not None
    np.testing.assert_array_equal(decoded[2]["images"], image.astype(np.float32))
    same(tfs_json.decode_predict(body, lambda _: sig), reference(body, sig))


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [1.5], "inputs": [1]}',
        b'{"instances": []}',
        b'{"instances": [[1], [1, 2]]}',
        b'{"instances": [true]}',
        b'{"signature_name": 3, "instances": [1]}',
        b'{"instances": [1, "a"]}',
        b'{"inputs": {"y": [1]}}',
        b'{"instances": [1.5]}',
    ],
)
def test_bodies_the_reference_must_judge(body: bytes) -> None:
    sig = signature({"x": DType.DT_INT32})
    assert _fast_predict.decode(body, lambda _: sig) is None or not isinstance(
        reference(body, sig), tuple
    )
