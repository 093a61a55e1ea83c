"""``signature.json`` and a Python model's ``signature`` attribute: one format, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from shiba.core.errors import FailedPrecondition
from shiba.core.tensors import DType, TensorSpec
from shiba.runtimes._signature_file import parse_signature, read_signature_file


def test_the_documented_format(tmp_path: Path) -> None:
    assert read_signature_file(tmp_path) is None
    (tmp_path / "signature.json").write_text(
        '{"inputs": {"b": {"dtype": "string", "shape": [null]}, "a": {"shape": [-1, 2]}},'
        ' "outputs": {"y": {"dtype": "int64"}}}'
    )
    declared = read_signature_file(tmp_path)
    assert declared is not None
    assert list(declared.inputs or {}) == ["b", "a"]
    assert declared.inputs == {
        "b": TensorSpec(DType.DT_STRING, (-1,), "b"),
        "a": TensorSpec(DType.DT_FLOAT, (-1, 2), "a"),
    }
    assert declared.outputs == {"y": TensorSpec(DType.DT_INT64, None, "y")}
    assert parse_signature({"inputs": {"x": {"dtype": "uint8"}}}, "m").outputs is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "m: a signature is an object with inputs and outputs"),
        ({"input": {}}, r"unknown signature keys \['input'\]"),
        ({"inputs": {}}, "m: inputs must map each tensor name to its dtype and shape"),
        (
            {"inputs": {"x": "float32"}},
            r'm: inputs\.x must be an object like \{"dtype": "float32"\}',
        ),
        ({"inputs": {"x": {"type": "f"}}}, r"unknown keys \['type'\]; expected dtype and shape"),
        ({"inputs": {"x": {"dtype": "float128x"}}}, "unknown dtype 'float128x'"),
        ({"inputs": {"x": {"dtype": 1}}}, "dtype must be a string"),
        ({"inputs": {"x": {"shape": 3}}}, "shape must be a list of dimensions"),
        ({"inputs": {"x": {"shape": [2, -2]}}}, r"shape \[2, -2\] has -2"),
        ({"inputs": {"x": {"shape": [True]}}}, "has True"),
    ],
)
def test_malformed_declarations_say_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(FailedPrecondition, match=message):
        parse_signature(data, "m")


def test_a_file_that_is_not_json_names_itself(tmp_path: Path) -> None:
    (tmp_path / "signature.json").write_text("{inputs")
    with pytest.raises(FailedPrecondition, match=r"cannot read .*signature\.json: Expecting"):
        read_signature_file(tmp_path)
