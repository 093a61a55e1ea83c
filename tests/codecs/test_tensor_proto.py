"""The TensorProto codec: round trips over every dtype and shape, TensorFlow's reading rules, errors,
and agreement with TensorFlow's own ``make_tensor_proto`` / ``make_ndarray`` / ``Tensor::FromProto``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shiba._proto import PredictResponse, TensorProto
from shiba.codecs.tensor_proto import SUPPORTED_DTYPES, fill, from_numpy, to_numpy
from shiba.core.errors import InvalidArgument
from shiba.core.tensors import DType

NUMERIC = [d for d in SUPPORTED_DTYPES if d is not DType.DT_STRING]
ALL = sorted(SUPPORTED_DTYPES)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


def _elements(dtype: DType) -> st.SearchStrategy[Any]:
    if dtype is DType.DT_STRING:
        return st.binary(max_size=12)
    return hnp.from_dtype(dtype.numpy)


@st.composite
def arrays(draw: st.DrawFn, dtypes: tuple[DType, ...] = tuple(ALL)) -> npt.NDArray[Any]:
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(SHAPES)
    if dtype is DType.DT_STRING:
        flat = draw(
            st.lists(
                st.binary(max_size=12), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))
            )
        )
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    result: npt.NDArray[Any] = draw(hnp.arrays(dtype.numpy, shape, elements=_elements(dtype)))
    return result


def _wire(proto: TensorProto) -> TensorProto:
    """What the other side of a connection parses."""
    return TensorProto.FromString(proto.SerializeToString())


def _same(got: npt.NDArray[Any], want: npt.NDArray[Any]) -> None:
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    if want.dtype.kind in "fc":
        # Bit for bit, so that NaN payloads and signed zeros survive too.
        np.testing.assert_array_equal(
            np.ascontiguousarray(got).reshape(-1).view(np.uint8),
            np.ascontiguousarray(want).reshape(-1).view(np.uint8),
        )
    else:
        np.testing.assert_array_equal(got, want)


def _proto(dtype: DType, shape: tuple[int, ...], **fields: Any) -> TensorProto:
    proto = TensorProto(dtype=int(dtype), **fields)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


# -- round trips -----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(array=arrays(), as_content=st.booleans())
def test_round_trip_over_dtypes_and_shapes(array: npt.NDArray[Any], as_content: bool) -> None:
    _same(to_numpy(_wire(from_numpy(array, as_content=as_content))), array)


@pytest.mark.parametrize("dtype", ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("as_content", [True, False])
def test_each_dtype_uses_the_field_tensorflow_uses(dtype: DType, as_content: bool) -> None:
    array = (
        np.array([[b"a", b"b"]], dtype=object)
        if dtype is DType.DT_STRING
        else np.ones((1, 2), dtype.numpy)
    )
    proto = from_numpy(array, as_content=as_content)
    assert proto.dtype == int(dtype)
    assert [d.size for d in proto.tensor_shape.dim] == [1, 2]
    written = {field.name for field, _ in proto.ListFields()} - {"dtype", "tensor_shape"}
    expected = {
        DType.DT_FLOAT: "float_val",
        DType.DT_DOUBLE: "double_val",
        DType.DT_INT32: "int_val",
        DType.DT_UINT8: "int_val",
        DType.DT_INT16: "int_val",
        DType.DT_INT8: "int_val",
        DType.DT_UINT16: "int_val",
        DType.DT_INT64: "int64_val",
        DType.DT_UINT32: "uint32_val",
        DType.DT_UINT64: "uint64_val",
        DType.DT_BOOL: "bool_val",
        DType.DT_HALF: "half_val",
        DType.DT_COMPLEX64: "scomplex_val",
        DType.DT_COMPLEX128: "dcomplex_val",
        DType.DT_STRING: "string_val",
    }[dtype]
    if as_content and dtype is not DType.DT_STRING:
        expected = "tensor_content"
    assert written == {expected}


def test_half_val_holds_the_bits_of_float16() -> None:
    proto = from_numpy(np.array([1.0, -2.0], np.float16), as_content=False)
    assert list(proto.half_val) == [0x3C00, 0xC000]
    assert to_numpy(_proto(DType.DT_HALF, (2,), half_val=[0x3C00, 0x7E00])).tolist()[0] == 1.0


def test_complex_values_are_real_imaginary_pairs() -> None:
    proto = from_numpy(np.array([1 + 2j, 3 - 4j], np.complex64), as_content=False)
    assert list(proto.scomplex_val) == [1.0, 2.0, 3.0, -4.0]
    odd = _proto(DType.DT_COMPLEX128, (1,), dcomplex_val=[1.0, 2.0, 3.0])
    with pytest.raises(
        InvalidArgument, match=r"dcomplex_val holds 3 numbers; expected \(real, imaginary\) pairs"
    ):
        to_numpy(odd)


def test_strings_from_str_and_numpy_string_arrays() -> None:
    assert list(from_numpy(np.array(["é", "b"])).string_val) == ["é".encode(), b"b"]
    assert list(from_numpy(np.array([b"x", b"yz"])).string_val) == [b"x", b"yz"]
    mixed = np.array(["a", b"b"], dtype=object)
    assert list(from_numpy(mixed).string_val) == [b"a", b"b"]
    with pytest.raises(InvalidArgument, match="holds a int value; expected bytes or str"):
        from_numpy(np.array([1, 2], dtype=object))


def test_an_explicit_dtype_casts_and_unsupported_ones_are_refused() -> None:
    proto = from_numpy(np.array([1, 2], np.int64), DType.DT_FLOAT)
    assert proto.dtype == DType.DT_FLOAT
    _same(to_numpy(proto), np.array([1.0, 2.0], np.float32))
    with pytest.raises(InvalidArgument, match="DT_BFLOAT16 is not supported"):
        from_numpy(np.zeros(2, np.float32), DType.DT_BFLOAT16)
    with pytest.raises(InvalidArgument, match="numpy dtype datetime64"):
        from_numpy(np.array(["2020-01-01"], dtype="datetime64[D]"))
    with pytest.raises(InvalidArgument, match="DT_STRING tensor needs strings"):
        from_numpy(np.zeros(2, np.float32), DType.DT_STRING)
    with pytest.raises(InvalidArgument, match="DT_FLOAT tensor needs numbers"):
        from_numpy(np.array([b"a"], dtype=object), DType.DT_FLOAT)


def test_non_contiguous_and_big_endian_arrays_are_written_little_endian() -> None:
    base = np.arange(12, dtype=">f8").reshape(3, 4)
    view = base[:, ::2].T
    for as_content in (True, False):
        got = to_numpy(_wire(from_numpy(view, as_content=as_content)))
        np.testing.assert_array_equal(got, view)
        assert got.dtype == np.dtype(np.float64)


def test_fill_writes_into_a_map_entry() -> None:
    response = PredictResponse()
    fill(response.outputs["y"], np.array([[1.5]], np.float32), as_content=False)
    assert list(response.outputs["y"].float_val) == [1.5]


# -- TensorFlow's reading rules -------------------------------------------------------------------


def test_tensor_content_is_read_without_a_copy() -> None:
    values = np.arange(1000, dtype=np.float32)
    proto = _wire(from_numpy(values.reshape(10, 100)))
    array = to_numpy(proto)
    assert array.shape == (10, 100)
    assert not array.flags.writeable
    assert not array.flags.owndata
    root = array
    while isinstance(root.base, np.ndarray):
        root = root.base
    assert isinstance(root.base, bytes)


def test_tensor_content_wins_over_the_typed_list() -> None:
    proto = _proto(
        DType.DT_FLOAT, (2,), tensor_content=np.ones(2, "<f4").tobytes(), float_val=[5.0]
    )
    _same(to_numpy(proto), np.ones(2, np.float32))


@pytest.mark.parametrize(
    ("values", "shape", "expected"),
    [
        ([7.0], (2, 3), np.full((2, 3), 7.0, np.float32)),
        ([1.0, 2.0], (3,), np.array([1.0, 2.0, 2.0], np.float32)),
        ([], (2,), np.zeros(2, np.float32)),
        ([], (0,), np.zeros(0, np.float32)),
        ([4.0], (), np.array(4.0, np.float32)),
    ],
)
def test_fewer_values_are_padded_with_the_last(
    values: list[float], shape: tuple[int, ...], expected: npt.NDArray[Any]
) -> None:
    _same(to_numpy(_proto(DType.DT_FLOAT, shape, float_val=values)), expected)


def test_one_string_fills_the_shape_and_none_gives_empty_strings() -> None:
    filled = to_numpy(_proto(DType.DT_STRING, (2, 2), string_val=[b"x"]))
    assert filled.dtype == object and filled.tolist() == [[b"x", b"x"], [b"x", b"x"]]
    empty = to_numpy(_proto(DType.DT_STRING, (3,)))
    assert empty.tolist() == [b"", b"", b""]


def test_more_values_than_the_shape_holds_is_an_error() -> None:
    with pytest.raises(
        InvalidArgument, match=r"float_val holds 4 values; a tensor of shape \[3\] holds 3"
    ):
        to_numpy(_proto(DType.DT_FLOAT, (3,), float_val=[1, 2, 3, 4]))
    with pytest.raises(
        InvalidArgument, match=r"int_val holds 1 values; a tensor of shape \[0\] holds 0"
    ):
        to_numpy(_proto(DType.DT_INT32, (0,), int_val=[1]))


def test_tensor_content_of_the_wrong_size_is_an_error() -> None:
    proto = _proto(DType.DT_FLOAT, (3,), tensor_content=b"\0" * 8)
    with pytest.raises(
        InvalidArgument,
        match=r"tensor_content holds 8 bytes; a DT_FLOAT tensor of shape \[3\] needs 12",
    ):
        to_numpy(proto)


def test_narrow_integers_are_narrowed_as_c_casts_do() -> None:
    # Tensor::FromProto copies each int32 of int_val into the narrow type with a C cast.
    got = to_numpy(_proto(DType.DT_UINT8, (3,), int_val=[300, -1, 7]))
    _same(got, np.array([44, 255, 7], np.uint8))


def test_only_the_dtypes_own_list_is_read() -> None:
    got = to_numpy(_proto(DType.DT_BOOL, (2,), int_val=[1, 1]))
    _same(got, np.zeros(2, np.bool_))


def test_shapes() -> None:
    scalar = TensorProto(dtype=int(DType.DT_FLOAT), float_val=[2.0])
    scalar.tensor_shape.unknown_rank = True
    _same(to_numpy(scalar), np.array(2.0, np.float32))
    both = _proto(DType.DT_FLOAT, (1,), float_val=[1.0])
    both.tensor_shape.unknown_rank = True
    with pytest.raises(InvalidArgument, match="unknown_rank set and 1 dims"):
        to_numpy(both)
    with pytest.raises(InvalidArgument, match="dim 1 has size -1; expected a size of 0 or more"):
        to_numpy(_proto(DType.DT_FLOAT, (2, -1), float_val=[1.0]))
    with pytest.raises(InvalidArgument, match="holds too many elements"):
        to_numpy(_proto(DType.DT_FLOAT, (2**40, 2**40), float_val=[1.0]))


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (int(DType.DT_BFLOAT16), "DT_BFLOAT16 is not supported"),
        (int(DType.DT_RESOURCE), "DT_RESOURCE is not supported"),
        (int(DType.DT_INVALID), "DT_INVALID is not supported"),
        (99, "tensor dtype 99 is not a TensorFlow DataType"),
    ],
)
def test_unsupported_dtypes(value: int, fragment: str) -> None:
    with pytest.raises(InvalidArgument, match=fragment) as info:
        to_numpy(TensorProto(dtype=value))
    assert "DT_FLOAT" in info.value.message  # the message lists what is supported


def _string_list(strings: list[bytes]) -> bytes:
    """TensorFlow's EncodeStringList, written out for the test."""
    out = bytearray()
    for item in strings:
        length = len(item)
        while length > 0x7F:
            out.append((length & 0x7F) | 0x80)
            length >>= 7
        out.append(length)
    return bytes(out) + b"".join(strings)


def test_string_tensor_content_is_tensorflows_string_list() -> None:
    strings = [b"a", b"", b"x" * 300]
    got = to_numpy(_proto(DType.DT_STRING, (3,), tensor_content=_string_list(strings)))
    assert got.dtype == object and got.tolist() == strings
    with pytest.raises(InvalidArgument, match="lengths add up to 301"):
        to_numpy(_proto(DType.DT_STRING, (3,), tensor_content=_string_list(strings) + b"!"))
    with pytest.raises(InvalidArgument, match="expected a varint32 length for each string"):
        to_numpy(_proto(DType.DT_STRING, (3,), tensor_content=b"\x80"))


# -- against TensorFlow (tests only import it) ---------------------------------------------------


@pytest.fixture(scope="module")
def tf() -> ModuleType:
    module: ModuleType = pytest.importorskip("tensorflow")
    return module


def _tf_proto(tf: ModuleType, proto: TensorProto) -> Any:
    from tensorflow.core.framework import tensor_pb2

    theirs = tensor_pb2.TensorProto()
    theirs.ParseFromString(proto.SerializeToString())
    return theirs


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(array=arrays(), as_content=st.booleans())
def test_tensorflow_reads_what_shiba_writes(
    tf: ModuleType, array: npt.NDArray[Any], as_content: bool
) -> None:
    theirs = _tf_proto(tf, from_numpy(array, as_content=as_content))
    got = tf.make_ndarray(theirs)
    if array.dtype == object:
        assert got.tolist() == array.tolist()
    else:
        _same(got, array)
    if array.dtype != object or as_content:
        # TensorFlow's C++ reader (Tensor::FromProto) agrees too.
        parsed = tf.io.parse_tensor(theirs.SerializeToString(), tf.as_dtype(array.dtype)).numpy()
        if array.dtype != object:
            _same(parsed, array)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(array=arrays())
def test_shiba_reads_what_tensorflow_writes(tf: ModuleType, array: npt.NDArray[Any]) -> None:
    theirs = tf.make_tensor_proto(array)
    got = to_numpy(TensorProto.FromString(theirs.SerializeToString()))
    if array.dtype == object:
        assert got.tolist() == array.tolist()
    else:
        _same(got, array)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("values", "shape"), [([], (3,)), ([1.0], (3,)), ([1.0, 2.0], (3,)), ([5.0], ())]
)
def test_padding_agrees_with_tensorflows_cpp_reader(
    tf: ModuleType, values: list[float], shape: tuple[int, ...]
) -> None:
    proto = _proto(DType.DT_FLOAT, shape, float_val=values)
    cpp = tf.io.parse_tensor(proto.SerializeToString(), tf.float32).numpy()
    _same(to_numpy(proto), cpp)


@pytest.mark.slow
def test_string_list_content_is_what_tensorflows_cpp_reader_reads(tf: ModuleType) -> None:
    strings = [b"a", b"", b"\xff" * 200]
    proto = _proto(DType.DT_STRING, (3,), tensor_content=_string_list(strings))
    cpp = tf.io.parse_tensor(proto.SerializeToString(), tf.string).numpy()
    assert cpp.tolist() == strings == to_numpy(proto).tolist()


@pytest.mark.slow
def test_bfloat16_is_refused_with_a_clear_message(tf: ModuleType) -> None:
    theirs = tf.make_tensor_proto(np.array([1.0], dtype=tf.bfloat16.as_numpy_dtype))
    with pytest.raises(InvalidArgument, match="DT_BFLOAT16 is not supported"):
        to_numpy(TensorProto.FromString(theirs.SerializeToString()))
