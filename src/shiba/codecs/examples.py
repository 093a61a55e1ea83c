"""Serialized ``tf.Example`` protos from the JSON of TF Serving's classify and regress requests.

A hand-written protobuf encoder (no protobuf or TensorFlow import) of::

    message Example   { Features features = 1; }
    message Features  { map<string, Feature> feature = 1; }
    message Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                                     Int64List int64_list = 3; } }
    message BytesList { repeated bytes value = 1; }
    message FloatList { repeated float value = 1 [packed = true]; }
    message Int64List { repeated int64 value = 1 [packed = true]; }

Feature values follow json_tensor.cc's ``MakeExampleFromJsonObject``/``AddValueToFeature``: a
feature is one value or a list of values; strings and ``{"b64": ...}`` objects go to
``bytes_list``, numbers written with a ``.`` or an exponent (and ``NaN``/``Infinity``) to
``float_list`` (as float32), integer literals and ``true``/``false`` (as 1/0) to ``int64_list``;
all values of one feature must go to the same list, and an empty list gives a feature with no kind.
"""

from __future__ import annotations

import numpy as np

from shiba.codecs._base64 import absl_base64_decode, is_base64_object
from shiba.codecs._rapidjson import json_type_name, utf8
from shiba.codecs._varint import varint as _varint
from shiba.core.errors import InvalidArgument

__all__ = ["encode_example"]

_INT64_MAX = 2**63 - 1

# Feature's oneof field numbers, which also name the kinds in TF Serving's messages.
_BYTES, _FLOAT, _INT64 = 1, 2, 3
_KIND_NAMES = {_BYTES: "bytes", _FLOAT: "float", _INT64: "int64"}


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _unexpected(name: str, value: object) -> InvalidArgument:
    return InvalidArgument(
        f"Feature: {name} has element with unexpected JSON type: {json_type_name(value)}"
    )


def _feature(name: str, content: object) -> bytes:
    """One serialized ``Feature`` (AddValueToFeature on each value, in order)."""
    kind = 0
    byte_values: list[bytes] = []
    float_values: list[float] = []
    int_values: list[int] = []
    for value in content if isinstance(content, list) else (content,):
        if value is None or isinstance(value, list):
            raise _unexpected(name, value)
        if isinstance(value, dict) and not is_base64_object(value):
            raise _unexpected(name, value)
        if isinstance(value, (dict, str)):
            wanted = _BYTES
        elif isinstance(value, float):
            wanted = _FLOAT
        else:
            wanted = _INT64
        if kind not in (0, wanted):
            raise InvalidArgument(
                f"Unexpected element type in feature: {name} expecting type: {_KIND_NAMES[kind]}"
            )
        kind = wanted
        if isinstance(value, dict):
            decoded = absl_base64_decode(value["b64"])
            if decoded is None:
                raise InvalidArgument("Unable to base64 decode")
            byte_values.append(decoded)
        elif isinstance(value, str):
            byte_values.append(utf8(value))
        elif isinstance(value, float):
            float_values.append(value)
        elif isinstance(value, int):
            if value > _INT64_MAX:
                raise InvalidArgument(
                    f"Feature: {name} has uint64_t element. Only int64_t is supported."
                )
            int_values.append(int(value))
    if kind == _BYTES:
        payload = b"".join(_length_delimited(1, value) for value in byte_values)
    elif kind == _FLOAT:
        # float_list holds float32: RapidJSON's GetFloat() narrows each double (to inf if huge).
        with np.errstate(over="ignore"):
            floats = np.array(float_values, dtype=np.float64).astype("<f4")
        payload = _length_delimited(1, floats.tobytes())
    elif kind == _INT64:
        payload = _length_delimited(1, b"".join(_varint(value) for value in int_values))
    else:
        return b""
    return _length_delimited(kind, payload)


def encode_example(value: object) -> bytes:
    """The serialized ``tf.Example`` TF Serving builds from one JSON example (or context).

    ``value`` is a parsed JSON value; it must be an object of feature name to feature value.
    Raises :class:`InvalidArgument` with TF Serving's wording: ``Example must be JSON object but
    got JSON Array``, ``Feature: x has element with unexpected JSON type: Null``, ``Unexpected
    element type in feature: x expecting type: int64``, ``Feature: x has uint64_t element. Only
    int64_t is supported.``, ``Unable to base64 decode``.

    A repeated feature name keeps its last value, as TF Serving's map assignment does. An empty
    object gives an empty message (TF Serving never sets ``features`` then).
    """
    if not isinstance(value, dict):
        raise InvalidArgument(f"Example must be JSON object but got JSON {json_type_name(value)}")
    entries = b"".join(
        _length_delimited(
            1, _length_delimited(1, utf8(name)) + _length_delimited(2, _feature(name, content))
        )
        for name, content in value.items()
    )
    return _length_delimited(1, entries) if value else b""
