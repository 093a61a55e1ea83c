"""Shared by the TensorFlow runtime tests: TF Serving's test model folders and input builders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from shiba.core.ids import ServableId
from shiba.core.servable import Servable
from shiba.runtimes.base import RuntimeOptions

__all__ = [
    "SID",
    "OPTIONS",
    "CPU",
    "TF2",
    "THREE",
    "COUNTER",
    "WITH_CONFIG",
    "MATRIX",
    "BAD",
    "LoadFn",
    "f32",
    "examples",
]

SID = ServableId("half_plus_two", 123)
OPTIONS = RuntimeOptions()
CPU = "saved_model_half_plus_two_cpu/00000123"
TF2 = "saved_model_half_plus_two_tf2_cpu/00000123"
THREE = "saved_model_half_plus_three/00000123"
COUNTER = "saved_model_counter/00000123"
WITH_CONFIG = "saved_model_half_plus_two_cpu_with_saved_model_config/00000123"
MATRIX = "matrix_half_plus_two/1"
BAD = "bad_half_plus_two/00000123"

#: ``load_saved_model(relative_dir, mode="auto")``, the fixture of ``conftest.py``.
LoadFn = Callable[..., Servable]


def f32(values: Any) -> npt.NDArray[np.float32]:
    return np.asarray(values, dtype=np.float32)


def examples(*rows: dict[str, float]) -> npt.NDArray[Any]:
    """Serialized tf.Example protos, as a DT_STRING batch: an object array of bytes."""
    from tensorflow.core.example import example_pb2, feature_pb2

    serialized = [
        example_pb2.Example(
            features=feature_pb2.Features(
                feature={
                    name: feature_pb2.Feature(float_list=feature_pb2.FloatList(value=[value]))
                    for name, value in row.items()
                }
            )
        ).SerializeToString()
        for row in rows
    ]
    return np.array(serialized, dtype=object)
