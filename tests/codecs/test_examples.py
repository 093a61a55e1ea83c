"""tf.Example encoding and decode_examples (classify/regress bodies), checked against TensorFlow."""

from __future__ import annotations

import struct

import pytest

from shiba.codecs.examples import encode_example
from shiba.codecs.tfs_json import ExamplesRequest, decode_examples
from shiba.core.errors import InvalidArgument


def _message(field: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([field << 3 | 2, len(payload)]) + payload


def _entry(name: bytes, feature: bytes) -> bytes:
    return _message(1, _message(1, name) + _message(2, feature))


class TestWireFormat:
    def test_one_feature_of_each_kind(self) -> None:
        expected = _message(
            1,
            _entry(b"s", _message(1, _message(1, b"ab") + _message(1, b"")))
            + _entry(b"f", _message(2, _message(1, struct.pack("<2f", 1.5, -2.0))))
            + _entry(b"i", _message(3, _message(1, bytes([1, 0, 0x96, 0x01]))))
            + _entry(b"e", b""),
        )
        assert (
            encode_example({"s": ["ab", ""], "f": [1.5, -2.0], "i": [1, False, 150], "e": []})
            == expected
        )

    def test_negative_int64_takes_ten_bytes(self) -> None:
        data = encode_example({"i": -1})
        assert data.endswith(b"\x1a\x0c\x0a\x0a" + b"\xff" * 9 + b"\x01")

    def test_empty_example(self) -> None:
        assert encode_example({}) == b""


class TestErrors:
    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ([{"names": ["foo"]}], "Example must be JSON object but got JSON Array"),
            ("x", "Example must be JSON object but got JSON String"),
            ({"names": [10, None]}, "Feature: names has element with unexpected JSON type: Null"),
            (
                {"names": [10, 10.0]},
                "Unexpected element type in feature: names expecting type: int64",
            ),
            (
                {"names": ["a", 1]},
                "Unexpected element type in feature: names expecting type: bytes",
            ),
            (
                {"names": [1.5, True]},
                "Unexpected element type in feature: names expecting type: float",
            ),
            (
                {"names": [10, {"test": 10}]},
                "Feature: names has element with unexpected JSON type: Object",
            ),
            ({"names": [[10], 20]}, "Feature: names has element with unexpected JSON type: Array"),
            (
                {"names": [20, 18446744073709551603]},
                "Feature: names has uint64_t element. Only int64_t is supported.",
            ),
            ({"names": {"b64": "a"}}, "Unable to base64 decode"),
            (
                {"names": [1, {"b64": "aGk="}]},
                "Unexpected element type in feature: names expecting type: int64",
            ),
        ],
    )
    def test_tf_serving_wording(self, value: object, message: str) -> None:
        with pytest.raises(InvalidArgument) as caught:
            encode_example(value)
        assert caught.value.message == message

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (
                b'{"signature_name": ["hello"], "examples": [{"names": ["foo", "bar"]}]}',
                'JSON Value: {\n    "signature_name": ["hello"],\n    "examples": [{\n'
                '            "names": ["foo", "bar"]\n        }]\n} not formatted correctly.'
                " 'signature_name' key must be a string value.",
            ),
            (
                b'{"context": [{"names": ["foo", "bar"]}]}',
                "Example must be JSON object but got JSON Array",
            ),
            (
                b'{"examples": {"names": ["foo", "bar"]}}',
                'JSON Value: {\n    "examples": {\n        "names": ["foo", "bar"]\n    }\n}'
                " Expecting 'examples' value to be an list/array",
            ),
            (
                b'{"examples": [[{"names": ["foo", "bar"]}]]}',
                "Example must be JSON object but got JSON Array",
            ),
            (
                b'{"examples": []}',
                "JSON Value: {\n    \"examples\": []\n} 'examples' value is an empty array",
            ),
            (
                b'{"signature_name": "regress_x_to_y"}',
                'JSON Value: {\n    "signature_name": "regress_x_to_y"\n} When method is classify,'
                " key 'examples' is expected and was not found",
            ),
            (b"", "JSON Parse error: The document is empty"),
            (b"[]", "JSON Value: [] Is not object"),
        ],
    )
    def test_decode_errors(self, body: bytes, message: str) -> None:
        with pytest.raises(InvalidArgument) as caught:
            decode_examples(body)
        assert caught.value.message == message


def test_decode_examples_layout() -> None:
    request = decode_examples(b'{"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}')
    assert request == ExamplesRequest("classify_x_to_y", [encode_example({"x": 2.0})])
    default = decode_examples(b'{"signature_name": "", "examples": [{}, {"x": 1}]}')
    assert default == ExamplesRequest("serving_default", [b"", encode_example({"x": 1})])
    context = encode_example({"q": "pizza"})
    with_context = decode_examples(b'{"context": {"q": "pizza"}, "examples": [{"x": 1}, {}]}')
    assert with_context.examples == [context + encode_example({"x": 1}), context]
