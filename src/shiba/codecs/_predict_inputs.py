"""The ``instances`` (row) and ``inputs`` (columnar) rules of TF Serving's predict request.

These follow json_tensor.cc's ``FillTensorMapFromInstancesList`` and
``FillTensorMapFromInputsMap``. The row format has a fast path (one ``build`` call per input
over all instances) and the reference walk, which runs only when the fast path declines, so that
every error carries TF Serving's per-instance wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy.typing as npt

from shiba.codecs._base64 import is_base64_object
from shiba.codecs._rapidjson import debug_string
from shiba.codecs._tensor_build import (
    ArrayBuilder,
    array_from_leaves,
    shape_text,
    status_text,
    walk,
)
from shiba.core.errors import InvalidArgument, ShibaError
from shiba.core.tensors import TensorSpec

__all__ = ["decode_columnar", "decode_instances"]

Arrays = dict[str, npt.NDArray[Any]]


def _is_element_object(value: object) -> bool:
    # An instance that names its inputs: an object that is not a {"b64": ...} value.
    return isinstance(value, dict) and not is_base64_object(value)


def decode_columnar(
    value: object, specs: Mapping[str, TensorSpec], build: ArrayBuilder, may_hold_bools: bool
) -> Arrays:
    """The tensors of an ``inputs`` value: one plain value, or an object of name to value.

    Names in the object that the signature does not have are ignored, as TF Serving does.
    """
    if not isinstance(value, dict) or is_base64_object(value):
        if len(specs) > 1:
            raise InvalidArgument(
                "inputs is a plain value/list, but expecting an object as multiple input"
                " tensors required as per tensorinfo_map"
            )
        name, spec = next(iter(specs.items()))
        return {name: build(value, spec.dtype, may_hold_bools=may_hold_bools)}
    arrays: Arrays = {}
    for name, spec in specs.items():
        if name not in value:
            raise InvalidArgument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = build(value[name], spec.dtype, may_hold_bools=may_hold_bools)
    return arrays


def decode_instances(
    instances: list[object],
    specs: Mapping[str, TensorSpec],
    build: ArrayBuilder,
    may_hold_bools: bool,
) -> Arrays:
    """The tensors of a non-empty ``instances`` list, batched along a new 0th dimension."""
    arrays = _instances_fast(instances, specs, build, may_hold_bools)
    if arrays is None:
        arrays = _instances_reference(instances, specs)
    return arrays


def _instances_fast(
    instances: list[object],
    specs: Mapping[str, TensorSpec],
    build: ArrayBuilder,
    may_hold_bools: bool,
) -> Arrays | None:
    """All instances of each input converted at once; ``None`` if anything is off."""
    first = instances[0]
    columns: dict[str, list[object]]
    if _is_element_object(first):
        rows: list[dict[str, object]] = []
        for element in instances:
            if not isinstance(element, dict) or is_base64_object(element):
                return None
            if element.keys() != specs.keys():
                return None
            rows.append(element)
        columns = {name: [row[name] for row in rows] for name in specs}
    else:
        if len(specs) > 1 or any(_is_element_object(element) for element in instances):
            return None
        columns = {next(iter(specs)): instances}
    arrays: Arrays = {}
    for name, column in columns.items():
        try:
            arrays[name] = build(column, specs[name].dtype, may_hold_bools=may_hold_bools)
        except ShibaError:
            return None
    return arrays


class _Batch:
    """What TF Serving accumulates per input while it reads the instances one by one."""

    def __init__(self, shape: list[int], leaves: list[object]) -> None:
        self.shape = shape
        self.size = len(leaves)
        self.leaves = leaves


def _add_item(
    item: object, name: str, specs: Mapping[str, TensorSpec], batches: dict[str, _Batch]
) -> None:
    # json_tensor.cc's AddInstanceItem.
    spec = specs.get(name)
    if spec is None:
        raise InvalidArgument(f"JSON object: does not have named input: {name}")
    shape, leaves = walk(item, spec.dtype)
    batch = batches.get(name)
    if batch is None:
        batches[name] = _Batch(shape, leaves)
    elif batch.size != len(leaves):
        raise InvalidArgument(f"Expecting tensor size: {batch.size} but got: {len(leaves)}")
    elif batch.shape != shape:
        raise InvalidArgument(
            f"Expecting shape {shape_text(batch.shape)} but got: {shape_text(shape)}"
        )
    else:
        batch.leaves.extend(leaves)


def _instances_reference(instances: list[object], specs: Mapping[str, TensorSpec]) -> Arrays:
    """FillTensorMapFromInstancesList, instance by instance, with its messages."""
    first = instances[0]
    if not isinstance(first, dict) and len(specs) > 1:
        raise InvalidArgument(
            "instances is a plain list, but expecting list of objects as multiple input"
            " tensors required as per tensorinfo_map"
        )
    by_name = _is_element_object(first)
    batches: dict[str, _Batch] = {}
    for index, element in enumerate(instances):
        if by_name:
            if not isinstance(element, dict) or is_base64_object(element):
                raise InvalidArgument(
                    f"Expecting object but got list at item {index} of input list"
                )
            for key, item in element.items():
                try:
                    _add_item(item, key, specs, batches)
                except ShibaError as error:
                    raise InvalidArgument(
                        f"Failed to process element: {index} key: {key} of 'instances' list."
                        f" Error: {status_text(error)}"
                    ) from None
            if element.keys() != specs.keys():
                raise InvalidArgument(
                    f"Failed to process element: {index} of 'instances' list. JSON object:"
                    f" {debug_string(element)} keys must be equal to: {','.join(sorted(specs))}"
                )
        else:
            if _is_element_object(element):
                raise InvalidArgument(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            try:
                # With several inputs and a {"b64": ...} first instance, TF Serving fills only
                # its first input here and leaves the rest to the predict call's input check.
                _add_item(element, next(iter(specs)), specs, batches)
            except ShibaError as error:
                raise InvalidArgument(
                    f"Failed to process element: {index} of 'instances' list."
                    f" Error: {status_text(error)}"
                ) from None
    return {
        name: array_from_leaves(
            batches[name].leaves, [len(instances), *batches[name].shape], spec.dtype
        )
        for name, spec in specs.items()
        if name in batches
    }
