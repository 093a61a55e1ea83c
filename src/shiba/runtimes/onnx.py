"""The ``onnx`` platform: ``model.onnx`` run by ONNX Runtime on the CPU.

Importing this module does not import onnxruntime; ``OnnxLoader.load`` does. A model has one signature,
``serving_default`` (method ``tensorflow/serving/predict``), whose inputs and outputs are the graph's,
by the graph's names. ONNX Runtime holds strings as UTF-8 text: ``DT_STRING`` inputs (numpy ``object``
arrays of ``bytes``) are decoded for it and its string outputs are encoded back to ``bytes``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from shiba.core.errors import (
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ShibaError,
    Unimplemented,
)
from shiba.core.servable import Outputs
from shiba.core.tensors import (
    DEFAULT_SIGNATURE,
    PREDICT_METHOD,
    DType,
    Signature,
    Tensors,
    TensorSpec,
)
from shiba.runtimes._bases import FileRuntime, SignedServable, VersionLoader, as_bytes

__all__ = ["MODEL_FILE", "OnnxRuntime", "OnnxLoader", "OnnxServable"]

_log = logging.getLogger(__name__)

#: The file a version folder holds.
MODEL_FILE = "model.onnx"

_DTYPES: dict[str, DType] = {
    "tensor(float)": DType.DT_FLOAT,
    "tensor(double)": DType.DT_DOUBLE,
    "tensor(float16)": DType.DT_HALF,
    "tensor(bfloat16)": DType.DT_BFLOAT16,
    "tensor(int8)": DType.DT_INT8,
    "tensor(int16)": DType.DT_INT16,
    "tensor(int32)": DType.DT_INT32,
    "tensor(int64)": DType.DT_INT64,
    "tensor(uint8)": DType.DT_UINT8,
    "tensor(uint16)": DType.DT_UINT16,
    "tensor(uint32)": DType.DT_UINT32,
    "tensor(uint64)": DType.DT_UINT64,
    "tensor(bool)": DType.DT_BOOL,
    "tensor(string)": DType.DT_STRING,
    "tensor(complex64)": DType.DT_COMPLEX64,
    "tensor(complex128)": DType.DT_COMPLEX128,
}

# ONNX Runtime's errors by class name (onnxruntime.capi.onnxruntime_pybind11_state). At run time FAIL
# and RUNTIME_EXCEPTION come from kernels meeting data they cannot take (shapes that do not broadcast,
# indices out of range): the caller's input, as the service has already checked dtypes and ranks.
_RUN_ERRORS: dict[str, type[ShibaError]] = {
    "InvalidArgument": InvalidArgument,
    "Fail": InvalidArgument,
    "RuntimeException": InvalidArgument,
    "NotImplemented": Unimplemented,
}


class OnnxLoader(VersionLoader["OnnxServable"]):
    """Loads one ONNX version. ``load`` raises NotFound without ``model.onnx``, FailedPrecondition when
    onnxruntime is missing or rejects the model. Not thread-safe (the manager serialises it)."""

    def _build(self) -> OnnxServable:
        path = self.version_dir / MODEL_FILE
        if not path.is_file():
            raise NotFound(f"no {MODEL_FILE} in {self.version_dir}")
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise FailedPrecondition(
                f"the onnx runtime needs onnxruntime, which cannot be imported ({err}): "
                "install it with: pip install 'shiba[onnx]'"
            ) from err
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = self.options.intra_op_threads
        session_options.inter_op_num_threads = self.options.inter_op_threads
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(
                str(path), sess_options=session_options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:
            raise FailedPrecondition(f"ONNX Runtime cannot load {path}: {err}") from err
        return OnnxServable(session)


class OnnxRuntime(FileRuntime):
    """Serves ONNX models: a version folder holding ``model.onnx``."""

    platform: ClassVar[str] = "onnx"
    framework: ClassVar[str | None] = "onnxruntime"
    extra: ClassVar[str | None] = "onnx"
    model_files: ClassVar[tuple[str, ...]] = (MODEL_FILE,)
    loader_type = OnnxLoader


class OnnxServable(SignedServable):
    """A Servable over an ``onnxruntime.InferenceSession``; ``run`` is thread-safe (ORT's is).

    Graph outputs that are not tensors (sequences and maps, as in scikit-learn's ZipMap) are left out
    of the signature and never fetched; a graph input that is not a tensor fails the load.
    """

    def __init__(self, session: Any) -> None:
        self._session: Any = session
        inputs = {arg.name: _tensor_spec(arg) for arg in session.get_inputs()}
        for name, spec in inputs.items():
            if spec is None:
                raise FailedPrecondition(f"input {name!r} of the ONNX model is not a tensor")
        outputs: dict[str, TensorSpec] = {}
        for arg in session.get_outputs():
            spec = _tensor_spec(arg)
            if spec is None:
                _log.warning(
                    "ONNX output %r (%s) is not a tensor: it is not served", arg.name, arg.type
                )
            else:
                outputs[arg.name] = spec
        if not outputs:
            raise FailedPrecondition("the ONNX model has no tensor output")
        signature = Signature(
            inputs={name: spec for name, spec in inputs.items() if spec is not None},
            outputs=outputs,
            method_name=PREDICT_METHOD,
        )
        super().__init__({DEFAULT_SIGNATURE: signature})
        self._signature = signature
        self._all_outputs = list(outputs)
        self._string_inputs = frozenset(
            name for name, spec in signature.inputs.items() if spec.dtype is DType.DT_STRING
        )
        self._string_outputs = frozenset(
            name for name, spec in outputs.items() if spec.dtype is DType.DT_STRING
        )
        self._errors: tuple[type[Exception], ...] = _ort_errors()

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        """Runs the graph. FailedPrecondition for a signature other than ``serving_default``,
        InvalidArgument for an unknown output or an input ONNX Runtime rejects."""
        if signature_name != DEFAULT_SIGNATURE:
            raise FailedPrecondition(f'Serving signature key "{signature_name}" not found.')
        names = self._all_outputs if not output_filter else self._select(output_filter)
        # ORT's binding takes a real dict only.
        feed: Mapping[str, Any] = inputs if type(inputs) is dict else dict(inputs)
        if self._string_inputs:
            feed = {
                name: _to_text(name, value) if name in self._string_inputs else value
                for name, value in inputs.items()
            }
        session = self._session
        if session is None:
            raise FailedPrecondition("the servable is closed")
        try:
            values = session.run(names, feed)
        except self._errors as err:
            raise _run_error(err) from None
        result: Outputs = dict(zip(names, values, strict=True))
        if self._string_outputs:
            for name in self._string_outputs.intersection(result):
                result[name] = as_bytes(result[name])
        return result

    def _select(self, output_filter: Sequence[str]) -> list[str]:
        outputs = self._signature.outputs
        wanted: set[str] = set()
        for alias in output_filter:
            # TF Serving's wording (tensorflow_serving/servables/tensorflow/predict_util.cc).
            if alias not in outputs:
                raise InvalidArgument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be "
                    f"in the set {{{','.join(sorted(outputs))}}}."
                )
            if alias in wanted:
                raise InvalidArgument(f"duplicate output tensor alias: {alias}")
            wanted.add(alias)
        return [name for name in self._all_outputs if name in wanted]

    def close(self) -> None:
        """Drops the session; ONNX Runtime frees it when the last reference goes."""
        self._session = None


def _tensor_spec(arg: Any) -> TensorSpec | None:
    dtype = _DTYPES.get(str(arg.type))
    if dtype is None:
        return None
    dims = arg.shape
    # ORT reports an unknown rank as [], like a scalar: unknown is the safe reading (ORT still
    # checks the rank of what it is fed).
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in dims) if dims else None
    return TensorSpec(dtype=dtype, shape=shape, tensor_name=str(arg.name))


def _to_text(name: str, array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    try:
        items = [x.decode() if isinstance(x, bytes) else str(x) for x in array.ravel()]
    except UnicodeDecodeError:
        raise InvalidArgument(
            f"input {name!r}: ONNX string tensors hold UTF-8 text, and a value is not UTF-8"
        ) from None
    return np.array(items, dtype=object).reshape(array.shape)


def _ort_errors() -> tuple[type[Exception], ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    errors = [getattr(state, name, None) for name in dir(state)]
    return (
        *(e for e in errors if isinstance(e, type) and issubclass(e, Exception)),
        ValueError,
        TypeError,
    )


def _run_error(err: Exception) -> ShibaError:
    if isinstance(err, ValueError | TypeError):
        return InvalidArgument(str(err))
    return _RUN_ERRORS.get(type(err).__name__, Internal)(str(err))
