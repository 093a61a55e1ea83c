"""decode_predict: TF Serving's row and columnar request rules, typing and error wording.

Cases named after json_tensor_test.cc reproduce TF Serving's own tests.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from shiba.codecs.tfs_json import PredictRequest, decode_predict
from shiba.core.errors import Code, InvalidArgument, ShibaError, Unimplemented
from shiba.core.tensors import DType, Signature
from tests.codecs._signatures import HALF_PLUS_TWO, lookup, signature

F = DType.DT_FLOAT
I32 = DType.DT_INT32
S = DType.DT_STRING


def decode(body: bytes | str, sig: Signature) -> PredictRequest:
    data = body.encode() if isinstance(body, str) else body
    return decode_predict(data, lookup(sig))


def error(body: bytes | str, sig: Signature) -> ShibaError:
    with pytest.raises(ShibaError) as caught:
        decode(body, sig)
    return caught.value


def only(request: PredictRequest) -> npt.NDArray[Any]:
    (array,) = request.inputs.values()
    return array


def assert_array(actual: npt.NDArray[Any], expected: npt.ArrayLike, dtype: Any) -> None:
    assert actual.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(actual, np.asarray(expected, dtype=dtype))


class TestReadme:
    def test_row(self) -> None:
        request = decode('{"instances": [2.0, 3.0, 4.0]}', HALF_PLUS_TWO)
        assert request == PredictRequest("serving_default", False, request.inputs)
        assert_array(request.inputs["x"], [2.0, 3.0, 4.0], np.float32)

    def test_columnar(self) -> None:
        request = decode('{"inputs": [2.0, 3.0, 4.0]}', HALF_PLUS_TWO)
        assert request.columnar
        assert_array(request.inputs["x"], [2.0, 3.0, 4.0], np.float32)


class TestSignatureName:
    def test_default_when_absent_or_empty(self) -> None:
        for body in ('{"inputs": 1}', '{"inputs": 1, "signature_name": ""}'):
            calls: list[str] = []
            request = decode_predict(body.encode(), lookup(signature(x=F), calls))
            # Asked for the default (twice when the fast path falls back, as it does here).
            assert set(calls) == {"serving_default"}
            assert request.signature_name == "serving_default"

    def test_named(self) -> None:
        calls: list[str] = []
        sigs = {"predict_images": signature(x=I32)}

        def signature_for(name: str) -> Signature:
            calls.append(name)
            return sigs[name]

        body = b'{"signature_name": "predict_images", "instances": [[1,2]]}'
        request = decode_predict(body, signature_for)
        assert calls == ["predict_images"]
        assert request.signature_name == "predict_images"
        assert_array(only(request), [[1, 2]], np.int32)

    def test_unknown_signature_error_propagates(self) -> None:
        err = error('{"signature_name": "nope", "instances": [1]}', signature(x=F))
        assert err.message == 'Serving signature name: "nope" not found in signature def'

    def test_must_be_a_string(self) -> None:
        err = error('{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}', signature(x=I32))
        assert isinstance(err, InvalidArgument)
        assert err.message == (
            'JSON Value: {\n    "signature_name": 5,\n    "instances": [[1, 2], [3, 4], [5, 6, 7]]'
            "\n} not formatted correctly. 'signature_name' key must be a string value."
        )

    def test_checked_before_the_signature_is_looked_up(self) -> None:
        calls: list[str] = []
        with pytest.raises(InvalidArgument, match="must be a string value"):
            decode_predict(b'{"signature_name": [1]}', lookup(signature(x=F), calls))
        assert calls == []

    def test_signature_without_inputs(self) -> None:
        empty = Signature(inputs={}, outputs={})
        assert error('{"instances": [1]}', empty).message == (
            "Failed to get input map for signature: DEFAULT"
        )
        named = {"sig": empty}
        with pytest.raises(InvalidArgument) as caught:
            decode_predict(b'{"signature_name": "sig", "inputs": 1}', named.__getitem__)
        assert caught.value.message == "Failed to get input map for signature: sig"


class TestRowFormat:
    def test_single_unnamed_tensor(self) -> None:
        request = decode('{"instances": [[1,2],[3,4],[5,6]]}', signature(default=I32))
        assert not request.columnar
        assert_array(request.inputs["default"], [[1, 2], [3, 4], [5, 6]], np.int32)

    def test_scalars(self) -> None:
        assert_array(
            only(decode('{"instances": ["foo", "bar"]}', signature(x=S))), [b"foo", b"bar"], object
        )
        assert_array(
            only(decode('{"instances": [1, 2, 3]}', signature(x=F))), [1, 2, 3], np.float32
        )

    def test_base64_scalars_and_lists(self) -> None:
        sig = signature(default=S)
        scalars = decode('{"instances": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]}', sig)
        assert_array(only(scalars), [b"hello", b"world"], object)
        lists = decode('{"instances": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}', sig)
        assert_array(only(lists), [[b"hello"], [b"world"]], object)
        named = decode(
            '{"instances": [{"default": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}]}', sig
        )
        assert_array(only(named), [[[b"hello"], [b"world"]]], object)

    def test_multiple_named_tensors(self) -> None:
        sig = signature(int_tensor=I32, str_tensor=S, float_tensor=F, dbl_tensor=DType.DT_DOUBLE)
        body = """{"instances": [
            {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
             "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
            {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
             "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}]}"""
        inputs = decode(body, sig).inputs
        assert list(inputs) == ["int_tensor", "str_tensor", "float_tensor", "dbl_tensor"]
        assert_array(
            inputs["int_tensor"], [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], np.int32
        )
        assert_array(inputs["str_tensor"], [[b"foo", b"bar"], [b"baz", b"bat"]], object)
        assert_array(inputs["float_tensor"], [[1.0, math.nan], [2.0, math.inf]], np.float32)
        assert_array(inputs["dbl_tensor"], [[math.nan], [2.0]], np.float64)

    def test_named_inputs_share_the_0th_dimension(self) -> None:
        body = (
            '{"instances": [{"a": 1, "b": [1, 2]}, {"a": 2, "b": [3, 4]}, {"a": 3, "b": [5, 6]}]}'
        )
        inputs = decode(body, signature(a=F, b=I32)).inputs
        assert inputs["a"].shape == (3,)
        assert inputs["b"].shape == (3, 2)

    def test_not_a_list(self) -> None:
        assert error('{"instances": {"x": 1}}', signature(x=F)).message == (
            'JSON Value: {\n    "instances": {\n        "x": 1\n    }\n} Expecting \'instances\''
            " to be an list/array"
        )

    def test_empty(self) -> None:
        assert error('{"instances": []}', signature(x=F)).message == (
            "JSON Value: {\n    \"instances\": []\n} No values in 'instances' array"
        )

    def test_ragged(self) -> None:
        sig = signature(default=I32)
        assert error('{"instances": [[1,2],[3,4],[5,6,7]]}', sig).message == (
            "Failed to process element: 2 of 'instances' list."
            " Error: INVALID_ARGUMENT: Expecting tensor size: 2 but got: 3"
        )
        assert error('{"instances": [[1,2],[3,4],[[5,6]]]}', sig).message == (
            "Failed to process element: 2 of 'instances' list."
            " Error: INVALID_ARGUMENT: Expecting shape [2] but got: [1,2]"
        )
        assert error('{"instances": [1, [1]]}', sig).message == (
            "Failed to process element: 1 of 'instances' list."
            " Error: INVALID_ARGUMENT: Expecting shape [] but got: [1]"
        )
        assert error('{"instances": [[[1, 2], [3]]]}', sig).message == (
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT:"
            " Encountered list at unexpected size: 1 at level: 1 expected size: 2"
        )
        assert error('{"instances": [[1, [2]]]}', sig).message == (
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT:"
            " Encountered list at unexpected level: 1 expected < 1"
        )
        assert error('{"instances": [[[1], 2]]}', sig).message == (
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT:"
            " JSON Value: 2 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"
        )

    def test_wrong_type(self) -> None:
        assert error('{"instances": [[1,2],["a", "b"]]}', signature(default=I32)).message == (
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT:"
            ' JSON Value: "a" Type: String is not of expected type: int32'
        )

    def test_named_tensor_errors(self) -> None:
        sig = signature(int_tensor=I32, str_tensor=S)
        shape = """{"instances": [
            {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
            {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}"""
        assert error(shape, sig).message == (
            "Failed to process element: 1 key: int_tensor of 'instances' list."
            " Error: INVALID_ARGUMENT: Expecting shape [3,2] but got: [1,3,2]"
        )
        size = """{"instances": [
            {"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]},
            {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}]}"""
        assert "Expecting tensor size: 8 but got: 6" in error(size, sig).message
        mixed = """{"instances": [
            {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
            [1, 20, 30]]}"""
        assert error(mixed, sig).message == "Expecting object but got list at item 1 of input list"
        plain_first = '{"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}'
        assert error(plain_first, signature(str_tensor=S)).message == (
            "Expecting value/list but got object at item 1 of input list"
        )

    def test_plain_list_for_several_inputs(self) -> None:
        assert error('{"instances": [1, 2]}', signature(a=F, b=F)).message == (
            "instances is a plain list, but expecting list of objects as multiple input tensors"
            " required as per tensorinfo_map"
        )

    def test_unknown_and_missing_names(self) -> None:
        sig = signature(a=F, b=F)
        assert error('{"instances": [{"a": 1, "b": 2, "c": 3}]}', sig).message == (
            "Failed to process element: 0 key: c of 'instances' list."
            " Error: INVALID_ARGUMENT: JSON object: does not have named input: c"
        )
        assert error('{"instances": [{"a": 1, "b": 2}, {"b": 3}]}', sig).message == (
            "Failed to process element: 1 of 'instances' list. JSON object: {\n"
            '    "b": 3\n} keys must be equal to: a,b'
        )

    def test_base64_first_instance_with_several_inputs(self) -> None:
        # TF Serving's quirk: a {"b64": ...} first instance reads as a value for the first input.
        request = decode('{"instances": [{"b64": "aGk="}]}', signature(a=S, b=S))
        assert list(request.inputs) == ["a"]
        assert_array(request.inputs["a"], [b"hi"], object)


class TestColumnarFormat:
    def test_named_and_unnamed(self) -> None:
        sig = signature(int_tensor=I32)
        named = decode('{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]]}}', sig)
        unnamed = decode('{"inputs": [[[1,2],[3,4],[5,6]]]}', sig)
        for request in (named, unnamed):
            assert request.columnar
            assert_array(request.inputs["int_tensor"], [[[1, 2], [3, 4], [5, 6]]], np.int32)

    def test_multiple_named_tensors(self) -> None:
        sig = signature(int_tensor=I32, str_tensor=S, bin_tensor=S)
        body = """{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]], "str_tensor": ["foo", "bar"],
                              "bin_tensor": {"b64": "aGVsbG8="}, "ignored": [1]}}"""
        inputs = decode(body, sig).inputs
        assert list(inputs) == ["int_tensor", "str_tensor", "bin_tensor"]
        assert_array(inputs["str_tensor"], [b"foo", b"bar"], object)
        assert inputs["bin_tensor"].shape == ()
        assert inputs["bin_tensor"][()] == b"hello"

    def test_inputs_need_not_share_the_0th_dimension(self) -> None:
        inputs = decode('{"inputs": {"a": [1, 2, 3], "b": [[1.5]]}}', signature(a=I32, b=F)).inputs
        assert inputs["a"].shape == (3,)
        assert inputs["b"].shape == (1, 1)

    def test_scalar(self) -> None:
        array = only(decode('{"inputs": 5}', signature(x=DType.DT_INT64)))
        assert array.shape == ()
        assert array.dtype == np.int64
        assert array[()] == 5

    def test_missing_input(self) -> None:
        assert error('{"inputs": {"a": 1}}', signature(a=F, b=F)).message == (
            "Missing named input: b in 'inputs' object."
        )

    def test_plain_value_for_several_inputs(self) -> None:
        for body in ('{"inputs": [1]}', '{"inputs": {"b64": "aGk="}}'):
            assert error(body, signature(a=S, b=S)).message == (
                "inputs is a plain value/list, but expecting an object as multiple input tensors"
                " required as per tensorinfo_map"
            )

    def test_errors_are_not_wrapped(self) -> None:
        assert error('{"inputs": [[1], [2, 3]]}', signature(x=F)).message == (
            "Encountered list at unexpected size: 2 at level: 1 expected size: 1"
        )
        assert error('{"inputs": null}', signature(x=F)).message == (
            "JSON Value: null Type: Null is not of expected type: float"
        )

    def test_empty_list(self) -> None:
        array = only(decode('{"inputs": [[], []]}', signature(x=I32)))
        assert array.shape == (2, 0)
        assert array.dtype == np.int32


class TestBody:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"", "JSON Parse error: The document is empty"),
            (b"instances = [1, 2]", "JSON Parse error: Invalid value. at offset: 0"),
            (b'{"instances": [1,]}', "JSON Parse error: Invalid value. at offset: 17"),
            (b"[1, 2]", "JSON Value: [1, 2] Is not object"),
            (b'"x"', 'JSON Value: "x" Is not object'),
            (
                b'{"instances": [1], "inputs": [1]}',
                'JSON Value: {\n    "instances": [1],\n    "inputs": [1]\n} Not formatted'
                " correctly expecting only one of 'inputs' or 'instances' keys to exist ",
            ),
            (b'{"signature_name": "serving_default"}', "Missing 'inputs' or 'instances' key"),
        ],
    )
    def test_malformed(self, body: bytes, message: str) -> None:
        err = error(body, signature(x=F))
        assert isinstance(err, InvalidArgument)
        assert err.message == message

    def test_nan_and_infinity_tokens(self) -> None:
        array = only(
            decode('{"inputs": [NaN, Infinity, -Infinity, Inf, -Inf, -NaN]}', signature(x=F))
        )
        assert np.isnan(array[0]) and np.isnan(array[5])
        assert array[1:5].tolist() == [math.inf, -math.inf, math.inf, -math.inf]

    def test_stops_after_the_document(self) -> None:
        # RapidJSON's kParseStopWhenDoneFlag: whatever follows the first value is ignored.
        assert_array(
            only(decode('{"inputs": [1]} trailing ] junk', signature(x=F))), [1], np.float32
        )

    def test_byte_order_mark(self) -> None:
        assert_array(only(decode(b'\xef\xbb\xbf{"inputs": [1]}', signature(x=F))), [1], np.float32)

    def test_deeply_nested_elsewhere(self) -> None:
        body = b'{"instances":[1], "nested":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        assert_array(only(decode(body, signature(default=I32))), [1], np.int32)

    def test_deeply_nested_signature_name(self) -> None:
        body = b'{"signature_name":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        assert "key must be a string value" in error(body, signature(x=F)).message

    def test_strings_keep_their_bytes(self) -> None:
        array = only(
            decode(
                b'{"inputs": ["caf\xc3\xa9", "\xff\xfe", "\\u00e9\\ud83d\\ude00"]}', signature(x=S)
            )
        )
        assert array.tolist() == ["café".encode(), b"\xff\xfe", "é😀".encode()]


class TestTyping:
    """JSON values typed by the signature dtype, as RapidJSON's IsInt/IsInt64/... decide."""

    @pytest.mark.parametrize(
        ("dtype", "value", "expected", "numpy_type"),
        [
            (DType.DT_FLOAT, "1435774380", 1435774336.0, np.float32),
            (DType.DT_FLOAT, "1435774380.0", 1435774336.0, np.float32),
            (DType.DT_FLOAT, "1.7976931348623157e308", math.inf, np.float32),
            (DType.DT_FLOAT, "-1.7976931348623157e308", -math.inf, np.float32),
            (DType.DT_FLOAT, "2.2250738585072014e-308", 0.0, np.float32),
            (DType.DT_DOUBLE, "0.1", 0.1, np.float64),
            (DType.DT_DOUBLE, "9007199254740993", 9007199254740992.0, np.float64),
            (DType.DT_INT32, "-2147483648", -(2**31), np.int32),
            (DType.DT_UINT8, "300", 44, np.uint8),
            (DType.DT_INT8, "-129", 127, np.int8),
            (DType.DT_INT16, "70000", 4464, np.int16),
            (DType.DT_INT64, "-9223372036854775808", -(2**63), np.int64),
            (DType.DT_UINT32, "4294967295", 2**32 - 1, np.uint32),
            (DType.DT_UINT64, "18446744073709551615", 2**64 - 1, np.uint64),
            (DType.DT_BOOL, "true", True, np.bool_),
            (DType.DT_STRING, '"x"', b"x", object),
        ],
    )
    def test_accepted(self, dtype: DType, value: str, expected: object, numpy_type: Any) -> None:
        for body in (f'{{"inputs": [{value}]}}', f'{{"inputs": [{value}], "tag": true}}'):
            array = only(decode(body, signature(x=dtype)))
            assert array.dtype == np.dtype(numpy_type)
            assert array.tolist() == [expected]

    @pytest.mark.parametrize(
        ("dtype", "value", "debug", "json_type", "expected"),
        [
            (DType.DT_INT32, "1.5", "1.5", "Number", "int32"),
            (DType.DT_INT32, "1.0", "1.0", "Number", "int32"),
            (DType.DT_INT32, "2147483648", "2147483648", "Number", "int32"),
            (DType.DT_UINT8, "true", "true", "True", "uint8"),
            (DType.DT_INT64, "9223372036854775808", "9223372036854775808", "Number", "int64"),
            (DType.DT_UINT32, "-1", "-1", "Number", "uint32"),
            (DType.DT_UINT64, "-1", "-1", "Number", "uint64"),
            (DType.DT_BOOL, "2", "2", "Number", "bool"),
            (DType.DT_BOOL, "0", "0", "Number", "bool"),
            (DType.DT_FLOAT, '"1.5"', '"1.5"', "String", "float"),
            (DType.DT_FLOAT, "false", "false", "False", "float"),
            (DType.DT_DOUBLE, "null", "null", "Null", "double"),
            (DType.DT_FLOAT, '{"b64": "AAAA"}', '{\n    "b64": "AAAA"\n}', "Object", "float"),
            (DType.DT_STRING, "1", "1", "Number", "string"),
        ],
    )
    def test_rejected(
        self, dtype: DType, value: str, debug: str, json_type: str, expected: str
    ) -> None:
        message = f"JSON Value: {debug} Type: {json_type} is not of expected type: {expected}"
        columnar = error(f'{{"inputs": [{value}]}}', signature(x=dtype))
        assert isinstance(columnar, InvalidArgument)
        assert columnar.message == message
        row = error(f'{{"instances": [{value}]}}', signature(x=dtype))
        assert row.message == (
            f"Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: {message}"
        )

    def test_booleans_among_numbers(self) -> None:
        # numpy would read true as 1.0; TF Serving refuses it.
        assert error('{"inputs": [1.5, true]}', signature(x=F)).message == (
            "JSON Value: true Type: True is not of expected type: float"
        )
        assert error('{"instances": [[1, 2], [false, 3]]}', signature(x=I32)).message.endswith(
            "JSON Value: false Type: False is not of expected type: int32"
        )

    def test_booleans(self) -> None:
        array = only(
            decode('{"instances": [[true, false], [false, true]]}', signature(x=DType.DT_BOOL))
        )
        assert_array(array, [[True, False], [False, True]], np.bool_)

    def test_unsupported_dtype(self) -> None:
        err = error('{"inputs": [1.5]}', signature(x=DType.DT_HALF))
        assert isinstance(err, Unimplemented)
        assert err.message == "Conversion of JSON Value: 1.5 to type: half"
        wrapped = error('{"instances": [1.5]}', signature(x=DType.DT_HALF))
        assert wrapped.code is Code.INVALID_ARGUMENT
        assert wrapped.message == (
            "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED:"
            " Conversion of JSON Value: 1.5 to type: half"
        )
        empty = only(decode('{"inputs": []}', signature(x=DType.DT_HALF)))
        assert empty.dtype == np.float16 and empty.shape == (0,)


class TestBase64:
    @pytest.mark.parametrize(
        ("text", "decoded"),
        [
            ("aGVsbG8=", b"hello"),
            ("aGVsbG8", b"hello"),
            ("aGVsbG8.", b"hello"),
            (" aGVs\nbG8= ", b"hello"),
            ("", b""),
            ("/+8=", b"\xff\xef"),
        ],
    )
    def test_absl_rules(self, text: str, decoded: bytes) -> None:
        array = only(
            decode(f'{{"inputs": {{"b64": "{text}"}}}}'.replace("\n", "\\n"), signature(x=S))
        )
        assert array[()] == decoded

    @pytest.mark.parametrize("text", ["aGVsbG8==", "a", "aGVs!G8=", "-_8=", "aG=Vs", "aGVsbG8=x"])
    def test_refused(self, text: str) -> None:
        assert error(f'{{"inputs": {{"b64": "{text}"}}}}', signature(x=S)).message == (
            "Unable to base64 decode"
        )

    def test_not_a_base64_object(self) -> None:
        for value, debug in (
            ('{"b64": 1}', '{\n    "b64": 1\n}'),
            ('{"b64": "aGk=", "x": 1}', '{\n    "b64": "aGk=",\n    "x": 1\n}'),
        ):
            assert error(f'{{"inputs": [{value}]}}', signature(x=S)).message == (
                f"JSON Value: {debug} not formatted correctly for base64 data"
            )
