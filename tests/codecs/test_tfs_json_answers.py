"""The answers: predict, classify, regress, error, status and metadata bytes as TF Serving's.

Layouts below were checked against RapidJSON 1.1.0 driven with json_tensor.cc's call sequences.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from shiba.codecs._json_parse import parse_json
from shiba.codecs.tfs_json import (
    encode_classify,
    encode_error,
    encode_metadata,
    encode_predict,
    encode_regress,
    encode_status,
)
from shiba.core.errors import Code, InvalidArgument
from shiba.core.ids import ServableId
from shiba.core.lifecycle.states import ManagerState, ServableState
from shiba.core.tensors import DType, Signature, TensorSpec


class TestPredict:
    def test_readme(self) -> None:
        y = np.array([3.0, 3.5, 4.0], dtype=np.float32)
        assert encode_predict({"y": y}, columnar=False) == (
            b'{\n    "predictions": [3.0, 3.5, 4.0\n    ]\n}'
        )
        assert encode_predict({"y": y}, columnar=True) == (
            b'{\n    "outputs": [\n        3.0,\n        3.5,\n        4.0\n    ]\n}'
        )

    def test_rank_two(self) -> None:
        y = np.array([[2.5, 3.0], [3.5, 4.0]], dtype=np.float32)
        assert encode_predict({"y": y}, columnar=False) == (
            b'{\n    "predictions": [[2.5, 3.0], [3.5, 4.0]\n    ]\n}'
        )
        assert encode_predict({"y": y}, columnar=True) == (
            b'{\n    "outputs": [\n        [\n            2.5,\n            3.0\n        ],\n'
            b"        [\n            3.5,\n            4.0\n        ]\n    ]\n}"
        )

    def test_several_outputs(self) -> None:
        outputs = {
            "double_scalar_tensor": np.array([8.0, 9.0], dtype=np.float32),
            "int_tensor": np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]),
            "str_tensor": np.array([[b"foo", b"bar"], [b"baz", b"bat"]], dtype=object),
            "str_tensor_bytes": np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object),
        }
        assert encode_predict(outputs, columnar=False).decode() == (
            "{\n"
            '    "predictions": [\n'
            "        {\n"
            '            "double_scalar_tensor": 8.0,\n'
            '            "int_tensor": [[1, 2], [3, 4], [5, 6]],\n'
            '            "str_tensor": ["foo", "bar"],\n'
            '            "str_tensor_bytes": [{\n'
            '                    "b64": "aGVsbG8="\n'
            "                }, {\n"
            '                    "b64": "d29ybGQ="\n'
            "                }]\n"
            "        },\n"
            "        {\n"
            '            "double_scalar_tensor": 9.0,\n'
            '            "int_tensor": [[7, 8], [9, 0], [1, 2]],\n'
            '            "str_tensor": ["baz", "bat"],\n'
            '            "str_tensor_bytes": [{\n'
            '                    "b64": "dGY="\n'
            "                }, {\n"
            '                    "b64": "c2VydmluZw=="\n'
            "                }]\n"
            "        }\n"
            "    ]\n"
            "}"
        )
        columnar = encode_predict(outputs, columnar=True).decode()
        assert columnar.startswith(
            '{\n    "outputs": {\n        "double_scalar_tensor": [\n            8.0,\n'
            '            9.0\n        ],\n        "int_tensor": [\n            [\n'
            "                [\n                    1,\n                    2\n                ],\n"
        )
        assert columnar.endswith(
            '            [\n                {\n                    "b64": "dGY="\n'
            '                },\n                {\n                    "b64": "c2VydmluZw=="\n'
            "                }\n            ]\n        ]\n    }\n}"
        )
        assert json.loads(columnar)["outputs"]["str_tensor"] == [["foo", "bar"], ["baz", "bat"]]

    def test_scalar_outputs_in_columnar_form(self) -> None:
        outputs = {"s_bytes": np.array(b"hi", dtype=object)}
        assert encode_predict(outputs, columnar=True) == (
            b'{\n    "outputs": {\n        "b64": "aGk="\n    }\n}'
        )
        two: dict[str, npt.NDArray[Any]] = {"a": np.array(2.5), "b": np.array(True)}
        assert encode_predict(two, columnar=True) == (
            b'{\n    "outputs": {\n        "a": 2.5,\n        "b": true\n    }\n}'
        )

    def test_empty_batch(self) -> None:
        empty = {"a": np.zeros((0, 2), np.int32), "b": np.zeros((0,), np.float32)}
        assert encode_predict(empty, columnar=False) == b'{\n    "predictions": []\n}'
        assert encode_predict({"a": empty["a"]}, columnar=False) == b'{\n    "predictions": []\n}'
        assert encode_predict({"a": np.zeros((2, 0))}, columnar=False) == (
            b'{\n    "predictions": [[], []\n    ]\n}'
        )
        assert encode_predict({"a": np.zeros((0,))}, columnar=True) == b'{\n    "outputs": []\n}'

    def test_floats_as_tf_serving_prints_them(self) -> None:
        # json_tensor_test.cc's FromJsonSingleFloatTensorSixDigitPrecision and NonFinite cases.
        values = [9000000, 999999, 0.5, 0.0003, 0.00003, 555557.5, math.nan, math.inf, 3, -math.inf]
        text = encode_predict({"f": np.array(values, dtype=np.float32)}, columnar=False)
        assert text == (
            b'{\n    "predictions": [9e+06, 999999.0, 0.5, 0.0003, 3e-05, 555557.5, NaN, Infinity,'
            b" 3.0, -Infinity\n    ]\n}"
        )

    @pytest.mark.parametrize(
        ("value", "dtype", "text"),
        [
            (0.1, np.float32, "0.1"),
            (0.2, np.float32, "0.2"),
            (math.pi, np.float32, "3.14159274"),
            (1 / 3, np.float32, "0.333333343"),
            (16777216.0, np.float32, "16777216.0"),
            (1e-45, np.float32, "1.4013e-45"),
            (-0.0, np.float32, "-0.0"),
            (1e6, np.float32, "1e+06"),
            (123456.0, np.float32, "123456.0"),
            (1234567.0, np.float32, "1234567.0"),
            (0.1, np.float64, "0.1"),
            (1 / 3, np.float64, "0.33333333333333331"),
            (1e16, np.float64, "1e+16"),
            (123456789.0, np.float64, "123456789.0"),
            (1e100, np.float64, "1e+100"),
            (5e-324, np.float64, "4.94066e-324"),
        ],
    )
    def test_float_text(self, value: float, dtype: Any, text: str) -> None:
        answer = encode_predict({"f": np.array([value], dtype=dtype)}, columnar=False)
        assert answer == b'{\n    "predictions": [' + text.encode() + b"\n    ]\n}"

    def test_integers_and_booleans(self) -> None:
        outputs: dict[str, npt.NDArray[Any]] = {
            "i8": np.array([-128], np.int8),
            "u8": np.array([255], np.uint8),
            "i64": np.array([-(2**63)], np.int64),
            "u32": np.array([2**32 - 1], np.uint32),
            "u64": np.array([2**64 - 1], np.uint64),
            "b": np.array([False], np.bool_),
        }
        parsed = json.loads(encode_predict(outputs, columnar=False))
        assert parsed == {
            "predictions": [
                {
                    "i8": -128,
                    "u8": 255,
                    "i64": -(2**63),
                    "u32": 2**32 - 1,
                    "u64": 2**64 - 1,
                    "b": False,
                }
            ]
        }

    def test_strings(self) -> None:
        outputs = {"s": np.array(["é", b"\xff", 'a"\\\n\x01/', "\x7f"], dtype=object)}
        assert encode_predict(outputs, columnar=False) == (
            b'{\n    "predictions": ["\xc3\xa9", "\xff", "a\\"\\\\\\n\\u0001/", "\x7f"\n    ]\n}'
        )
        fixed = {"s": np.array([b"ab", b"c"])}
        assert (
            encode_predict(fixed, columnar=False) == b'{\n    "predictions": ["ab", "c"\n    ]\n}'
        )

    def test_round_trip_through_the_decoder(self) -> None:
        rng = np.random.default_rng(7)
        scales = 10.0 ** rng.integers(-30, 30, 200)
        values = (rng.standard_normal(200) * scales).astype(np.float32)
        values[:3] = [np.nan, np.inf, -np.inf]
        parsed = parse_json(encode_predict({"f": values}, columnar=True))
        assert isinstance(parsed, dict)
        np.testing.assert_array_equal(np.array(parsed["outputs"], dtype=np.float32), values)

    def test_errors(self) -> None:
        cases: list[tuple[dict[str, Any], bool, str]] = [
            ({}, False, "Cannot convert empty tensor map to JSON"),
            ({"t": np.int32(1)}, False, "Tensor name: t has no shape information "),
            (
                {"a": np.zeros((2, 3)), "b": np.zeros((1, 3))},
                False,
                "Tensor name: b has inconsistent batch size: 1 expecting: 2",
            ),
            (
                {"h": np.zeros(2, np.float16)},
                True,
                "Failed to write JSON value for tensor type: half",
            ),
            (
                {"c": np.zeros(2, np.complex64)},
                False,
                "Failed to write JSON value for tensor type: complex64",
            ),
            (
                {"u": np.zeros(2, np.uint16)},
                False,
                "Failed to write JSON value for tensor type: uint16",
            ),
        ]
        for outputs, columnar, message in cases:
            with pytest.raises(InvalidArgument) as caught:
                encode_predict(outputs, columnar)
            assert caught.value.message == message
        # Nothing is written for an empty tensor, so its type does not matter.
        assert encode_predict({"h": np.zeros(0, np.float16)}, columnar=True) == (
            b'{\n    "outputs": []\n}'
        )


class TestClassifyRegressError:
    def test_classify(self) -> None:
        assert encode_classify([[(b"", 3.0)]]) == b'{\n    "results": [[["", 3.0]]\n    ]\n}'
        results = [[(b"car", 0.2), (b"bike", 0.7), (b"bus", 0.1)], [], [(b"car", 0.7)]]
        assert encode_classify(results) == (
            b'{\n    "results": [[["car", 0.2], ["bike", 0.7], ["bus", 0.1]], [], [["car", 0.7]]'
            b"\n    ]\n}"
        )

    def test_regress(self) -> None:
        assert encode_regress([3.0]) == b'{\n    "results": [3.0]\n}'
        values = [0.2, math.inf, 1.0, -math.inf, math.nan, 1e300]
        assert encode_regress(values) == (
            b'{\n    "results": [0.2, Infinity, 1.0, -Infinity, NaN, Infinity]\n}'
        )

    def test_empty_results(self) -> None:
        with pytest.raises(InvalidArgument, match=r"^Cannot convert empty ClassificationResults"):
            encode_classify([])
        with pytest.raises(InvalidArgument, match=r"^Cannot convert empty RegressionResults"):
            encode_regress([])

    def test_error(self) -> None:
        assert encode_error('Bad key: "key"') == b'{\n    "error": "Bad key: \\"key\\""\n}'
        assert encode_error("tab\there\nand \x00 é /") == (
            b'{\n    "error": "tab\\there\\nand \\u0000 \xc3\xa9 /"\n}'
        )
        assert encode_error("raw \udcff byte") == b'{\n    "error": "raw \xff byte"\n}'


class TestStatus:
    def test_readme(self) -> None:
        state = ServableState(ServableId("default", 123), ManagerState.AVAILABLE)
        assert encode_status([state]) == (
            b'{\n "model_version_status": [\n  {\n   "version": "123",\n   "state": "AVAILABLE",\n'
            b'   "status": {\n    "error_code": "OK",\n    "error_message": ""\n   }\n  }\n ]\n}\n'
        )

    def test_failed_and_several(self) -> None:
        states = [
            ServableState(ServableId("m", 2), ManagerState.END, Code.NOT_FOUND, 'no "file" <x>'),
            ServableState(ServableId("m", 1), ManagerState.LOADING),
        ]
        text = encode_status(states).decode()
        assert (
            '"error_code": "NOT_FOUND",\n    "error_message": "no \\"file\\" \\u003cx\\u003e"'
            in text
        )
        assert [entry["version"] for entry in json.loads(text)["model_version_status"]] == [
            "2",
            "1",
        ]

    def test_empty(self) -> None:
        assert encode_status([]) == b'{\n "model_version_status": []\n}\n'


# The message-typed objects of GetModelMetadataResponse whose keys are map keys, not fields.
_MAPS = {("signature_def", "signature_def"), ("inputs",), ("outputs",), ("defaults",)}


def _signature_from_json(entry: dict[str, Any]) -> Signature:
    def spec(info: dict[str, Any]) -> TensorSpec:
        shape_proto = info["tensor_shape"]
        shape = (
            None
            if shape_proto["unknown_rank"]
            else tuple(int(d["size"]) for d in shape_proto["dim"])
        )
        return TensorSpec(DType[info["dtype"]], shape, info["name"])

    return Signature(
        inputs={name: spec(info) for name, info in entry["inputs"].items()},
        outputs={name: spec(info) for name, info in entry["outputs"].items()},
        method_name=entry["method_name"],
    )


def _assert_same_messages(actual: Any, expected: Any, path: tuple[str, ...] = ()) -> None:
    """Equal values, with fields of every message in the same order (map order is free)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        is_map = path[-1:] in _MAPS or path[-2:] in _MAPS
        if is_map:
            assert sorted(actual) == sorted(expected), path
        else:
            assert list(actual) == list(expected), path
        for key in expected:
            _assert_same_messages(actual[key], expected[key], (*path, key))
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same_messages(a, e, (*path, str(index)))
    else:
        assert actual == expected, path


class TestMetadata:
    @pytest.mark.parametrize(
        "file_name",
        [
            "half_plus_two_model_metadata.json",
            "saved_model_half_plus_two_2_versions_metadata.json",
            "saved_model_half_plus_two_tf2_2_versions_metadata.json",
        ],
    )
    def test_testdata(self, tfserving_testdata: Path, file_name: str) -> None:
        expected = json.loads((tfserving_testdata / file_name).read_text())
        spec = expected["model_spec"]
        entries = expected["metadata"]["signature_def"]["signature_def"]
        signatures = {name: _signature_from_json(entry) for name, entry in entries.items()}
        # Reverse the map so that equality cannot come from copying the file's order.
        text = encode_metadata(
            spec["name"], int(spec["version"]), dict(reversed(signatures.items()))
        )
        actual = json.loads(text)
        for name, entry in entries.items():
            # TF Serving's own file omits "defaults" for the TF2 init op; its server prints it.
            entry.setdefault("defaults", {})
            assert list(actual["metadata"]["signature_def"]["signature_def"][name]) == list(entry)
        _assert_same_messages(actual, expected)
        # Byte layout: http_rest_api_util.cc glues two protobuf JSON texts (1-space indents).
        model_spec = json.dumps(actual["model_spec"], indent=1)
        signature_map = json.dumps(actual["metadata"]["signature_def"], indent=1)
        assert text.decode() == (
            '{\n"model_spec":'
            + model_spec
            + '\n,\n"metadata": {"signature_def": '
            + signature_map
            + "\n}\n}\n"
        )

    def test_exact_bytes(self) -> None:
        signatures = {
            "serving_default": Signature(
                inputs={"x": TensorSpec(DType.DT_FLOAT, (-1, 1), "x:0")},
                outputs={"y": TensorSpec(DType.DT_STRING, None, "y:0")},
            ),
            "empty": Signature(inputs={}, outputs={}, method_name=""),
        }
        assert encode_metadata("default", 123, signatures).decode() == (
            "{\n"
            '"model_spec":{\n "name": "default",\n "signature_name": "",\n "version": "123"\n}\n'
            ",\n"
            '"metadata": {"signature_def": {\n'
            ' "signature_def": {\n'
            '  "serving_default": {\n'
            '   "inputs": {\n'
            '    "x": {\n'
            '     "dtype": "DT_FLOAT",\n'
            '     "tensor_shape": {\n'
            '      "dim": [\n'
            '       {\n        "size": "-1",\n        "name": ""\n       },\n'
            '       {\n        "size": "1",\n        "name": ""\n       }\n'
            "      ],\n"
            '      "unknown_rank": false\n'
            "     },\n"
            '     "name": "x:0"\n'
            "    }\n"
            "   },\n"
            '   "outputs": {\n'
            '    "y": {\n'
            '     "dtype": "DT_STRING",\n'
            '     "tensor_shape": {\n      "dim": [],\n      "unknown_rank": true\n     },\n'
            '     "name": "y:0"\n'
            "    }\n"
            "   },\n"
            '   "method_name": "tensorflow/serving/predict",\n'
            '   "defaults": {}\n'
            "  },\n"
            '  "empty": {\n'
            '   "inputs": {},\n   "outputs": {},\n   "method_name": "",\n   "defaults": {}\n'
            "  }\n"
            " }\n"
            "}\n"
            "}\n"
            "}\n"
        )

    def test_defaults(self) -> None:
        signature = Signature(
            inputs={},
            outputs={},
            defaults={
                "rate": np.float32(0.1),
                "steps": np.int64(3),
                "table": np.array([[1, 2], [3, 4]], np.int32),
                "name": np.array(b"abc", dtype=object),
            },
        )
        defaults = json.loads(encode_metadata("m", 1, {"s": signature}))["metadata"][
            "signature_def"
        ]["signature_def"]["s"]["defaults"]
        assert defaults["rate"]["dtype"] == "DT_FLOAT"
        assert defaults["rate"]["float_val"] == [0.1]
        assert defaults["rate"]["tensor_shape"] == {"dim": [], "unknown_rank": False}
        assert defaults["steps"]["int64_val"] == ["3"]
        assert defaults["table"]["tensor_content"] == "AQAAAAIAAAADAAAABAAAAA=="
        assert defaults["table"]["int_val"] == []
        assert defaults["name"]["string_val"] == ["YWJj"]
        assert list(defaults["name"])[:4] == [
            "dtype",
            "tensor_shape",
            "version_number",
            "tensor_content",
        ]
        assert list(defaults["name"])[-1] == "float8_val"
