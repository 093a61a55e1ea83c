"""The ``pytorch`` platform: ``model.pt`` (TorchScript) or ``model.pt2`` (``torch.export``) on the CPU.

Importing this module does not import torch; ``TorchLoader.load`` does. A model has one signature,
``serving_default`` (method ``tensorflow/serving/predict``):

- inputs are ``forward``'s arguments, by name and in order (for ``model.pt2``, the exported
  program's user inputs, which take those names);
- outputs are ``output_0``, ``output_1``... in the order ``forward`` returns them (one tensor, or a
  tuple or list of them), or the keys of the dict it returns;
- dtypes and shapes: a ``model.pt2`` records them (a dimension exported as dynamic, such as the
  batch, is ``-1``); a TorchScript file does not, so they come from ``signature.json`` beside it
  (``shiba.runtimes._signature_file`` has the format), and without it every input is ``float32``
  of any shape and the outputs follow ``forward``'s declared return type, ``float32`` of any
  shape (a dict's keys are not in the file: such a model needs its outputs in
  ``signature.json``). When both files are present, ``model.pt2`` is served.

Calls run under ``torch.inference_mode()``. ``RuntimeOptions`` maps to torch's process-wide
thread pools: ``intra_op_threads`` to ``torch.set_num_threads`` and ``inter_op_threads`` to
``torch.set_num_interop_threads`` (settable once per process, before torch's first parallel work;
a later, different value is logged and ignored).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from shiba.core.errors import FailedPrecondition, Internal, InvalidArgument, NotFound
from shiba.core.servable import Outputs
from shiba.core.tensors import DEFAULT_SIGNATURE, PREDICT_METHOD, DType, Signature, Tensors
from shiba.core.tensors import TensorSpec as Spec
from shiba.runtimes._bases import FileRuntime, SignedServable, VersionLoader, check_shape
from shiba.runtimes._signature_file import SIGNATURE_FILE, numeric_dtype, read_signature_file
from shiba.runtimes._torch_files import (
    EXPORT_FILE,
    SCRIPT_FILE,
    TORCH_LOCK,
    find_model_file,
    import_torch,
    load_exported,
    load_script,
)
from shiba.runtimes.base import RuntimeOptions

__all__ = ["SCRIPT_FILE", "EXPORT_FILE", "TorchRuntime", "TorchLoader", "TorchServable"]

_log = logging.getLogger(__name__)


class TorchLoader(VersionLoader["TorchServable"]):
    """Loads one PyTorch version. ``load`` raises NotFound without a model file, FailedPrecondition
    when torch is missing or cannot read the model or its ``signature.json``. Not thread-safe (the
    manager serialises it)."""

    def _build(self) -> TorchServable:
        path = find_model_file(self.version_dir)
        if path is None:
            raise NotFound(f"no {SCRIPT_FILE} or {EXPORT_FILE} in {self.version_dir}")
        torch = import_torch("the pytorch runtime")
        _set_threads(torch, self.options)
        try:
            with TORCH_LOCK:  # see shiba.runtimes._torch_files
                if path.name == EXPORT_FILE:
                    program = load_exported(torch, path)
                    module: Any = program.module()
                    signature, dict_keys = _exported_signature(program)
                else:
                    module = load_script(torch, path)
                    signature, dict_keys = _script_signature(module, self.version_dir)
        except FailedPrecondition:
            raise
        except Exception as err:
            raise FailedPrecondition(f"torch cannot load {path}: {error_text(err)}") from err
        return TorchServable(torch, module, signature, dict_keys)


class TorchRuntime(FileRuntime):
    """Serves PyTorch models: a version folder holding ``model.pt`` or ``model.pt2``."""

    platform: ClassVar[str] = "pytorch"
    framework: ClassVar[str | None] = "torch"
    extra: ClassVar[str | None] = "torch"
    model_files: ClassVar[tuple[str, ...]] = (SCRIPT_FILE, EXPORT_FILE)
    loader_type = TorchLoader


class TorchServable(SignedServable):
    """A Servable over a TorchScript module or an exported program's module.

    ``run`` is thread-safe (torch's inference is; each call enters ``inference_mode`` on its own
    thread). Inputs are shared with torch without a copy when numpy lets them be written (else
    copied). Raises FailedPrecondition for a signature other than ``serving_default``,
    InvalidArgument for an input whose shape the signature or torch rejects (torch's own message,
    last line), Internal when the model returns something other than what its signature says.
    """

    def __init__(
        self, torch: Any, module: Any, signature: Signature, dict_keys: bool = False
    ) -> None:
        super().__init__({DEFAULT_SIGNATURE: signature})
        self._torch = torch
        self._module: Any = module
        self._input_specs = tuple(signature.inputs.items())
        self._outputs = tuple(signature.outputs)
        self._dict_keys = dict_keys

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        if signature_name != DEFAULT_SIGNATURE:
            raise FailedPrecondition(f'Serving signature key "{signature_name}" not found.')
        module = self._module
        if module is None:
            raise FailedPrecondition("the servable is closed")
        torch = self._torch
        args = []
        for name, spec in self._input_specs:
            array = inputs[name]
            check_shape(name, spec, array.shape)
            if not array.flags.writeable or not array.flags.c_contiguous:
                array = np.array(array, order="C")
            args.append(torch.from_numpy(array))
        try:
            with torch.inference_mode():
                result = module(*args)
        except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as err:
            raise InvalidArgument(
                f"torch cannot run the model on this input: {error_text(err)}"
            ) from None
        values = self._values(result)
        wanted = set(output_filter) if output_filter else None
        return {
            name: _to_numpy(name, value)
            for name, value in values.items()
            if wanted is None or name in wanted
        }

    def _values(self, result: Any) -> dict[str, Any]:
        if self._dict_keys:
            if not isinstance(result, Mapping):
                raise Internal(f"the model returned {type(result).__name__}, not a dict")
            missing = [name for name in self._outputs if name not in result]
            if missing:
                raise Internal(f"the model's answer has no output {missing[0]!r}")
            return {name: result[name] for name in self._outputs}
        items = list(result) if isinstance(result, tuple | list) else [result]
        if len(items) != len(self._outputs):
            raise Internal(
                f"the model returned {len(items)} outputs, its signature has {len(self._outputs)}"
            )
        return dict(zip(self._outputs, items, strict=True))

    def close(self) -> None:
        """Drops the module; torch frees it when the last running call returns."""
        self._module = None


def error_text(err: BaseException) -> str:
    """A torch error in one line: TorchScript's traceback ends with the error itself."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[-1] if lines else repr(err)
    return text.removeprefix("RuntimeError: ")


def _to_numpy(name: str, value: Any) -> Any:
    try:
        return value.detach().numpy() if hasattr(value, "detach") else np.asarray(value)
    except (RuntimeError, TypeError) as err:
        raise Internal(f"output {name!r} cannot become a numpy array: {err}") from None


def _set_threads(torch: Any, options: RuntimeOptions) -> None:
    if options.intra_op_threads > 0:
        torch.set_num_threads(options.intra_op_threads)
    inter = options.inter_op_threads
    if inter > 0 and torch.get_num_interop_threads() != inter:
        try:
            torch.set_num_interop_threads(inter)
        except RuntimeError as err:
            _log.warning(
                "torch keeps %d inter-op threads: %s", torch.get_num_interop_threads(), err
            )


def _script_signature(module: Any, version_dir: Path) -> tuple[Signature, bool]:
    """``forward``'s argument names and return type, with ``signature.json``'s specs."""
    schema = module.forward.schema
    names = [arg.name for arg in schema.arguments[1:]]
    declared = read_signature_file(version_dir)
    where = str(version_dir / SIGNATURE_FILE)
    inputs: dict[str, Spec] = {name: Spec(DType.DT_FLOAT, None, name) for name in names}
    if declared is not None and declared.inputs is not None:
        if set(declared.inputs) != set(names):
            raise FailedPrecondition(
                f"{where} declares inputs {sorted(declared.inputs)}, but forward takes {names}"
            )
        inputs = {name: declared.inputs[name] for name in names}
    returns: Any = schema.returns[0].type
    kind = returns.kind()
    is_dict = kind == "DictType"
    count = len(returns.elements()) if kind == "TupleType" else 1
    if declared is not None and declared.outputs is not None:
        outputs = dict(declared.outputs)
        if not is_dict and kind != "ListType" and len(outputs) != count:
            raise FailedPrecondition(
                f"{where} declares {len(outputs)} outputs, but forward returns {returns}"
            )
    elif is_dict:
        raise FailedPrecondition(
            f"forward returns {returns}, whose keys a TorchScript file does not record: "
            f"declare the outputs in {where}"
        )
    else:
        outputs = {f"output_{i}": Spec(DType.DT_FLOAT, None, f"output_{i}") for i in range(count)}
    _check_numeric(inputs, where)
    return Signature(inputs=inputs, outputs=outputs, method_name=PREDICT_METHOD), is_dict


def _exported_signature(program: Any) -> tuple[Signature, bool]:
    """The exported program's user inputs and outputs, with the dtypes and shapes it recorded."""
    graph_signature = program.graph_signature
    user_inputs = set(graph_signature.user_inputs)
    inputs: dict[str, Spec] = {}
    output_nodes: list[Any] = []
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            inputs[node.name] = _spec_of(node, node.name)
        elif node.op == "output":
            output_nodes = list(node.args[0])
    by_name = {getattr(node, "name", None): node for node in output_nodes}
    user_outputs = list(graph_signature.user_outputs)
    out_spec = program.call_spec.out_spec
    is_dict = out_spec is not None and out_spec.type is dict
    names = (
        [str(key) for key in out_spec.context]
        if is_dict
        else [f"output_{i}" for i in range(len(user_outputs))]
    )
    if len(names) != len(user_outputs):
        raise FailedPrecondition(
            f"the exported program's outputs ({out_spec}) are not one tensor, a tuple or list of "
            "tensors, or a dict of them"
        )
    outputs: dict[str, Spec] = {}
    for name, node_name in zip(names, user_outputs, strict=True):
        node = by_name.get(node_name)
        if node is None:
            raise FailedPrecondition(f"output {name} of the exported program is not a tensor")
        outputs[name] = _spec_of(node, name)
    _check_numeric(inputs, "the exported program")
    return Signature(inputs=inputs, outputs=outputs, method_name=PREDICT_METHOD), is_dict


def _spec_of(node: Any, name: str) -> Spec:
    value = node.meta.get("val")
    if value is None or not hasattr(value, "dtype") or not hasattr(value, "shape"):
        raise FailedPrecondition(f"{name} of the exported program is not a tensor")
    dtype = numeric_dtype(str(value.dtype).removeprefix("torch."))
    if dtype is None:
        raise FailedPrecondition(f"{name} of the exported program is {value.dtype}: not served")
    shape = tuple(dim if isinstance(dim, int) else -1 for dim in value.shape)
    return Spec(dtype, shape, name)


def _check_numeric(inputs: Mapping[str, Spec], where: str) -> None:
    for name, spec in inputs.items():
        if not spec.dtype.is_numeric:
            raise FailedPrecondition(
                f"{where}: input {name} is {spec.dtype.name}: torch takes numbers"
            )
