"""tf.Example protos written by shiba, parsed by TensorFlow's own protobuf classes."""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiba.codecs.examples import encode_example
from shiba.codecs.tfs_json import decode_examples
from shiba.core.errors import InvalidArgument

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow


def _features(data: bytes) -> dict[str, tuple[str | None, list[Any]]]:
    example = tf.train.Example.FromString(data)
    out: dict[str, tuple[str | None, list[Any]]] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        out[name] = (kind, list(getattr(feature, kind).value) if kind else [])
    return out


def test_readme_classify_body() -> None:
    request = decode_examples(b'{"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}')
    assert _features(request.examples[0]) == {"x": ("float_list", [2.0])}


def test_json_tensor_test_request() -> None:
    # json_tensor_test.cc's RequestWithContextAndSignature.
    body = b"""{
      "signature_name": "custom_signture",
      "context": {"query": "pizza", "location": ["sfo"]},
      "examples": [
        {"names": ["foo", "bar"], "ratings": [8.0, 9.0, NaN, Infinity], "age": 20},
        {"names": ["baz", {"b64": "aGVsbG8="}], "ratings": 6.0, "intboolmix": [1, true, false]},
        {"names": "bar", "ratings": -Infinity}
      ]}"""
    request = decode_examples(body)
    assert request.signature_name == "custom_signture"
    context = {"query": ("bytes_list", [b"pizza"]), "location": ("bytes_list", [b"sfo"])}
    first = _features(request.examples[0])
    kind, ratings = first.pop("ratings")
    assert kind == "float_list"
    assert ratings[:2] == [8.0, 9.0] and math.isnan(ratings[2]) and ratings[3] == math.inf
    assert first == {
        **context,
        "names": ("bytes_list", [b"foo", b"bar"]),
        "age": ("int64_list", [20]),
    }
    assert _features(request.examples[1]) == {
        **context,
        "names": ("bytes_list", [b"baz", b"hello"]),
        "ratings": ("float_list", [6.0]),
        "intboolmix": ("int64_list", [1, 1, 0]),
    }
    assert _features(request.examples[2]) == {
        **context,
        "names": ("bytes_list", [b"bar"]),
        "ratings": ("float_list", [-math.inf]),
    }


def test_example_features_replace_context_features() -> None:
    request = decode_examples(b'{"context": {"x": [1, 2], "c": "k"}, "examples": [{"x": 0.5}]}')
    assert _features(request.examples[0]) == {
        "x": ("float_list", [0.5]),
        "c": ("bytes_list", [b"k"]),
    }


def test_empty_feature() -> None:
    assert _features(encode_example({"e": [], "x": 1})) == {
        "e": (None, []),
        "x": ("int64_list", [1]),
    }


def _b64(data: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(data).decode()}


_FEATURE_LISTS = st.one_of(
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.booleans(), max_size=5),
    st.lists(st.floats(), max_size=5),
    st.lists(st.text() | st.binary().map(_b64), max_size=5),
)
_FEATURES = _FEATURE_LISTS | _FEATURE_LISTS.filter(len).map(lambda values: values[0])


def _expected(items: list[Any]) -> tuple[str | None, list[Any]]:
    if not items:
        return None, []
    if isinstance(items[0], float):
        with np.errstate(over="ignore"):
            return "float_list", np.array(items, dtype=np.float64).astype(np.float32).tolist()
    if isinstance(items[0], (str, dict)):
        return "bytes_list", [
            item.encode() if isinstance(item, str) else base64.b64decode(item["b64"])
            for item in items
        ]
    return "int64_list", [int(item) for item in items]


@given(st.dictionaries(st.text(), _FEATURES, max_size=5))
@settings(max_examples=150, deadline=None)
def test_any_example_parses_back(value: dict[str, Any]) -> None:
    parsed = _features(encode_example(value))
    assert set(parsed) == set(value)
    for name, content in value.items():
        kind, expected = _expected(content if isinstance(content, list) else [content])
        actual_kind, actual = parsed[name]
        assert actual_kind == kind
        if kind == "float_list":
            np.testing.assert_array_equal(
                np.array(actual, np.float32), np.array(expected, np.float32)
            )
        else:
            assert actual == expected


def test_mixed_kinds_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        encode_example({"x": [1, "a"]})
