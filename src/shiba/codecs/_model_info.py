"""Model status and metadata answers, printed as TF Serving's protobuf JSON printer prints them.

http_rest_api_util.cc's ``ToJsonString`` prints ``GetModelStatusResponse`` with protobuf's
``MessageToJsonString`` (``add_whitespace``, ``always_print_fields_with_no_presence``): one space
of indent per level, ``"key": value``, empty lists and maps as ``[]``/``{}``, int64 values quoted,
enums by name, and a newline after the closing brace. Metadata is printed in two pieces (the
``ModelSpec`` and the ``SignatureDefMap``, with ``preserve_proto_field_names``) glued together by
hand::

    {\\n"model_spec":<ModelSpec JSON>,\\n"metadata": {"signature_def": <SignatureDefMap JSON>}\\n}\\n

Fields come in the order of the expected files in TF Serving's testdata (and of what its servers
have long printed): a message's plain fields in declaration order, then its set ``oneof`` fields
(``ModelSpec.version``, ``TensorInfo.name``). Map entries come in the caller's order, which
protobuf leaves unspecified.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shiba.codecs._rapidjson import text_of, utf8
from shiba.core.lifecycle.states import VersionStatus
from shiba.core.tensors import DType, Signature, TensorSpec

__all__ = ["metadata_text", "status_text"]

# Characters protobuf's JSON writer escapes (json/internal/writer.cc, MustEscape): JSON's own, the
# C0 and C1 controls, '<' and '>', and invisible or format characters. Bytes that are not UTF-8
# (carried as surrogates) become spaces.
_MUST_ESCAPE = re.compile(
    '[\x00-\x1f"\\\\<>\x7f-\x9f\xad\u0600-\u0603\u06dd\u070f\u17b4\u17b5\u200b-\u200f'
    "\u2028-\u202e\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\udc80-\udcff]"
)
_SHORT_ESCAPES = {
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    '"': '\\"',
    "\f": "\\f",
    "\b": "\\b",
    "\\": "\\\\",
}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return " "
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


class _Raw(str):
    """A value printed as is (a number protobuf writes without quotes)."""


def _quote(text: str) -> str:
    return '"' + _MUST_ESCAPE.sub(_escape, text_of(text)) + '"'


def _print(node: object, indent: int) -> str:
    """Protobuf's JSON printer layout for a tree of dicts (messages, maps), lists and scalars."""
    if isinstance(node, dict):
        if not node:
            return "{}"
        inner = "\n" + " " * (indent + 1)
        members = ",".join(
            inner + _quote(key) + ": " + _print(value, indent + 1) for key, value in node.items()
        )
        return "{" + members + "\n" + " " * indent + "}"
    if isinstance(node, list):
        if not node:
            return "[]"
        inner = "\n" + " " * (indent + 1)
        elements = ",".join(inner + _print(value, indent + 1) for value in node)
        return "[" + elements + "\n" + " " * indent + "]"
    if isinstance(node, _Raw):
        return str(node)
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int):
        return str(node)
    if isinstance(node, str):
        return _quote(node)
    raise TypeError(f"cannot print {type(node).__name__} as protobuf JSON")


def _message(tree: dict[str, Any]) -> str:
    return _print(tree, 0) + "\n"


def status_text(states: Sequence[VersionStatus]) -> str:
    """``GetModelStatusResponse`` JSON, one ``model_version_status`` entry per state, in order."""
    return _message(
        {
            "model_version_status": [
                {
                    "version": str(state.id.version),
                    "state": state.state.value,
                    "status": {
                        "error_code": state.error_code.name,
                        "error_message": state.error_message,
                    },
                }
                for state in states
            ]
        }
    )


def _shape(shape: Sequence[int] | None) -> dict[str, Any]:
    if shape is None:
        return {"dim": [], "unknown_rank": True}
    return {"dim": [{"size": str(size), "name": ""} for size in shape], "unknown_rank": False}


def _tensor_info(spec: TensorSpec) -> dict[str, Any]:
    return {"dtype": spec.dtype.name, "tensor_shape": _shape(spec.shape), "name": spec.tensor_name}


def _proto_float(value: float, digits: int, retry_digits: int) -> str:
    # io::SimpleFtoa / SimpleDtoa: the shorter form if it reads back, and "NaN"-style strings.
    if math.isnan(value):
        return '"NaN"'
    if math.isinf(value):
        return '"Infinity"' if value > 0 else '"-Infinity"'
    text = f"{value:.{digits}g}"
    back = float(text)
    same = np.float32(back) == np.float32(value) if digits == 6 else back == value
    return text if same else f"{value:.{retry_digits}g}"


# TensorProto's repeated value fields, in declaration order (float8_val, a bytes field, follows).
_TYPED_FIELDS = (
    "half_val",
    "float_val",
    "double_val",
    "int_val",
    "string_val",
    "scomplex_val",
    "int64_val",
    "bool_val",
    "dcomplex_val",
    "resource_handle_val",
    "variant_val",
    "uint32_val",
    "uint64_val",
)
# make_tensor_proto writes arrays of more than one value of these types as raw bytes.
_CONTENT_KINDS = {"f", "i", "u"}


def _tensor_proto(value: object) -> dict[str, Any]:
    """A signature default as ``make_tensor_proto`` stores it, in protobuf's JSON form."""
    array = np.asarray(value)
    if array.dtype.kind in "OSU":
        dtype = DType.DT_STRING
    else:
        try:
            dtype = DType.from_numpy(array.dtype)
        except TypeError:
            dtype = DType.DT_INVALID
    fields: dict[str, Any] = {
        "dtype": dtype.name,
        "tensor_shape": _shape(array.shape),
        "version_number": 0,
        "tensor_content": "",
    }
    typed: dict[str, list[Any]] = {name: [] for name in _TYPED_FIELDS}
    flat = array.ravel().tolist()
    kind = array.dtype.kind
    if dtype is DType.DT_STRING:
        typed["string_val"] = [
            base64.b64encode(item if isinstance(item, bytes) else utf8(str(item))).decode()
            for item in flat
        ]
    elif kind in _CONTENT_KINDS and array.size > 1:
        fields["tensor_content"] = base64.b64encode(
            array.astype(array.dtype.newbyteorder("<")).tobytes()
        ).decode()
    elif dtype is DType.DT_HALF:
        typed["half_val"] = array.view(np.uint16).ravel().tolist()
    elif dtype is DType.DT_FLOAT:
        typed["float_val"] = [_Raw(_proto_float(item, 6, 9)) for item in flat]
    elif dtype is DType.DT_DOUBLE:
        typed["double_val"] = [_Raw(_proto_float(item, 15, 17)) for item in flat]
    elif dtype is DType.DT_INT64:
        typed["int64_val"] = [str(item) for item in flat]
    elif dtype is DType.DT_UINT64:
        typed["uint64_val"] = [str(item) for item in flat]
    elif dtype is DType.DT_UINT32:
        typed["uint32_val"] = flat
    elif dtype is DType.DT_BOOL:
        typed["bool_val"] = flat
    elif dtype is DType.DT_COMPLEX64:
        typed["scomplex_val"] = [
            _Raw(_proto_float(part, 6, 9)) for item in flat for part in (item.real, item.imag)
        ]
    elif dtype is DType.DT_COMPLEX128:
        typed["dcomplex_val"] = [
            _Raw(_proto_float(part, 15, 17)) for item in flat for part in (item.real, item.imag)
        ]
    elif kind in "iu":
        typed["int_val"] = flat
    return {**fields, **typed, "float8_val": ""}


def _signature_def(signature: Signature) -> dict[str, Any]:
    return {
        "inputs": {alias: _tensor_info(spec) for alias, spec in signature.inputs.items()},
        "outputs": {alias: _tensor_info(spec) for alias, spec in signature.outputs.items()},
        "method_name": signature.method_name,
        "defaults": {name: _tensor_proto(value) for name, value in signature.defaults.items()},
    }


def metadata_text(name: str, version: int, signatures: Mapping[str, Signature]) -> str:
    """``GetModelMetadataResponse`` JSON as http_rest_api_util.cc's ``ToJsonString`` glues it."""
    model_spec = {"name": name, "signature_name": "", "version": str(version)}
    signature_map = {
        "signature_def": {key: _signature_def(value) for key, value in signatures.items()}
    }
    return (
        '{\n"model_spec":'
        + _message(model_spec)
        + ',\n"metadata": {"signature_def": '
        + _message(signature_map)
        + "}\n}\n"
    )
