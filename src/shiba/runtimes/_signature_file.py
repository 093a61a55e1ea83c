"""A model's inputs and outputs declared by hand: ``signature.json`` beside a model file, or a Python
model's ``signature`` attribute (the same structure as a Python ``dict``).

The format, both sections optional, names in the order the model takes or gives them::

    {
      "inputs":  {"image": {"dtype": "float32", "shape": [-1, 3, 32, 32]}},
      "outputs": {"logits": {"dtype": "float32", "shape": [-1, 10]}}
    }

``dtype`` is a numpy type name (``float32``, ``float64``, ``float16``, ``int8`` ... ``int64``,
``uint8`` ... ``uint64``, ``bool``, ``complex64``, ``complex128``) or ``string`` for byte strings;
absent, it is ``float32``. ``shape`` is a list of dimensions, ``-1`` (or ``null``) for one of any
size (the batch, usually); absent or ``null``, any shape. Shared by the ``pytorch`` and ``python``
runtimes, which stay independent of each other; framework-free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shiba.core.errors import FailedPrecondition
from shiba.core.tensors import DType, TensorSpec

__all__ = [
    "SIGNATURE_FILE",
    "DeclaredSignature",
    "numeric_dtype",
    "parse_signature",
    "read_signature_file",
]

#: The file beside a model that declares its signature.
SIGNATURE_FILE = "signature.json"

_STRING_NAMES = frozenset({"string", "bytes", "str", "object"})


@dataclass(frozen=True, slots=True)
class DeclaredSignature:
    """The sections a declaration holds; ``None`` for a section it leaves out."""

    inputs: Mapping[str, TensorSpec] | None
    outputs: Mapping[str, TensorSpec] | None


def read_signature_file(version_dir: Path) -> DeclaredSignature | None:
    """``version_dir/signature.json``, or ``None`` when there is none. Raises
    ``FailedPrecondition`` naming the file and the problem when it is unreadable or malformed."""
    path = Path(version_dir) / SIGNATURE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FailedPrecondition(f"cannot read {path}: {err}") from err
    return parse_signature(data, str(path))


def parse_signature(data: object, where: str) -> DeclaredSignature:
    """A declaration (the parsed JSON, or a Python model's ``signature``) as tensor specs.

    ``where`` names its source in errors. Raises ``FailedPrecondition`` for anything that is not
    the documented format.
    """
    if not isinstance(data, Mapping):
        raise FailedPrecondition(f"{where}: a signature is an object with inputs and outputs")
    unknown = sorted(str(key) for key in data if key not in ("inputs", "outputs"))
    if unknown:
        raise FailedPrecondition(
            f"{where}: unknown signature keys {unknown}; expected inputs and outputs"
        )
    return DeclaredSignature(
        inputs=_section(data.get("inputs"), f"{where}: inputs"),
        outputs=_section(data.get("outputs"), f"{where}: outputs"),
    )


def _section(data: object, where: str) -> Mapping[str, TensorSpec] | None:
    if data is None:
        return None
    if not isinstance(data, Mapping) or not data:
        raise FailedPrecondition(f"{where} must map each tensor name to its dtype and shape")
    specs: dict[str, TensorSpec] = {}
    for name, spec in data.items():
        if not isinstance(name, str) or not name:
            raise FailedPrecondition(f"{where}: a tensor name must be a non-empty string")
        specs[name] = _spec(spec, f"{where}.{name}", name)
    return specs


def _spec(data: object, where: str, name: str) -> TensorSpec:
    if not isinstance(data, Mapping):
        raise FailedPrecondition(f'{where} must be an object like {{"dtype": "float32"}}')
    unknown = sorted(str(key) for key in data if key not in ("dtype", "shape"))
    if unknown:
        raise FailedPrecondition(f"{where}: unknown keys {unknown}; expected dtype and shape")
    return TensorSpec(
        dtype=_dtype(data.get("dtype", "float32"), where),
        shape=_shape(data.get("shape"), where),
        tensor_name=name,
    )


def _dtype(value: object, where: str) -> DType:
    if not isinstance(value, str):
        raise FailedPrecondition(f"{where}: dtype must be a string such as float32")
    if value in _STRING_NAMES:
        return DType.DT_STRING
    dtype = numeric_dtype(value)
    if dtype is None:
        raise FailedPrecondition(
            f"{where}: unknown dtype {value!r}; use a numpy type name (float32, int64, uint8, "
            "bool...) or string"
        )
    return dtype


def numeric_dtype(name: str) -> DType | None:
    """The numeric DType of a numpy type name (``float32``, ``int64``, ``bool``...); ``None`` for
    a name numpy does not know, or one shiba holds no numbers of (strings, objects)."""
    try:
        dtype = DType.from_numpy(np.dtype(name))
    except TypeError:
        return None
    return dtype if dtype.is_numeric else None


def _shape(value: object, where: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise FailedPrecondition(f"{where}: shape must be a list of dimensions (-1 for any size)")
    dims: list[int] = []
    for dim in value:
        if dim is None:
            dims.append(-1)
        elif isinstance(dim, int) and not isinstance(dim, bool) and dim >= -1:
            dims.append(dim)
        else:
            raise FailedPrecondition(
                f"{where}: shape {list(value)} has {dim!r}; a dimension is a size, or -1 (or "
                "null) for any size"
            )
    return tuple(dims)
