"""The ``openvino`` engine: a SavedModel's signatures converted to OpenVINO and compiled for the CPU.

Not a platform of its own: :func:`build_candidate` builds a *candidate* servable for a version the
``tensorflow`` runtime loaded, over the reference's own ``Signature`` objects, and
``shiba.core.engine_choice`` keeps it per signature where its outputs agree with TensorFlow's. It
never imports ``shiba.runtimes.tensorflow`` (runtimes are independent); it reads the graph with
TensorFlow itself. Importing this module imports neither OpenVINO nor TensorFlow.

How a signature gets here, each step a reason to stay on TensorFlow when it fails:

1. Its specs (framework-free): a predict signature (classify and regress take serialized
   ``tf.Example`` and stay on TensorFlow) whose inputs and outputs are numeric tensors. Not
   float64 (OpenVINO's CPU plugin computes it in float32), no complex (OpenVINO has no complex
   type), no 64-bit integer *inputs*: the CPU plugin computes int64 in 32 bits, so
   ``x * 2 + 1`` on ``2**40 + 3`` answers 7, silently (measured, OpenVINO 2026.4). Integer outputs
   are allowed: they are compared exactly during verification.
2. ``tf.saved_model.load`` of the version folder and the signature's concrete function. TF1
   exports with reference variables often fail here or in step 4.
3. No op that changes or creates state: a variable assignment, a stateful random op, a queue, a
   lookup table, an ``Assert``... OpenVINO converts ``v.assign_add(1)`` to a constant, so the
   state would silently stop moving (and verification would move TensorFlow's). Reading
   variables is fine: their values become constants.
4. Conversion through OpenVINO's TensorFlow frontend. ``openvino.convert_model`` would do the same
   plus send about 70 usage-telemetry events per call (unless the user opted out with
   ``opt_in_out --opt_out``) and took 2 s instead of 0.2 s for the demo ViT; shiba calls the
   frontend directly (``FrontEndManager`` + ``openvino.frontend.tensorflow.utils``), tested with
   OpenVINO 2026.4. (``import openvino`` itself still reports one "import" event unless opted out.)
   Weights are copied (``share_weights=False``), so the restored TensorFlow object is dropped as
   soon as the signatures are converted.
5. The model's ports matched to the signature's aliases by tensor name, with the signature's
   dtypes and compatible shapes.
6. Compiled for ``CPU`` with ``INFERENCE_PRECISION_HINT=f32`` (the default, bf16 on CPUs that
   have it, drifts by up to 6e-3 on the demo ViT) and threads from ``RuntimeOptions``
   (:func:`compile_config`).

Running: each signature keeps a pool of ``InferRequest`` objects; a call takes one (or creates
one when all are busy, so calls never wait in Python), feeds inputs without copying, runs
synchronously and copies the outputs out. Per-call cost measured on a 2-core AMD EPYC, batch 1 of
a 3x3 model: ``set_input_tensor`` + ``infer`` 18 us, ``compiled_model(x)`` 20 us (but one shared
request: not safe from several threads), ``InferRequest.infer(dict)`` 24-33 us,
``AsyncInferQueue`` with a callback 105 us.

Memory: OpenVINO holds weights of its own. Measured on a 97 MB MLP (six 2048x2048 float32 layers):
the TensorFlow session +112 MB; restoring for conversion +104 MB, given back to TensorFlow's
allocator when dropped (reused by TensorFlow's next load, not returned to the OS); the converted
model +103 MB, compiling +35 MB, and the CPU plugin's repacked weights +108 MB at the first
inference. ``EngineChoiceLoader`` closes TensorFlow's session when every signature runs here.
"""

from __future__ import annotations

import importlib.util
import logging
import queue
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from shiba.core.engine_choice import Candidate
from shiba.core.errors import FailedPrecondition, InvalidArgument
from shiba.core.servable import Outputs
from shiba.core.tensors import PREDICT_METHOD, DType, Signature, Tensors, TensorSpec
from shiba.runtimes.base import RuntimeOptions

__all__ = ["ENGINE", "available", "compile_config", "build_candidate", "OpenVinoServable"]

_log = logging.getLogger(__name__)

#: The engine's name in decisions, logs and the ``--tensorflow_engine`` flag.
ENGINE = "openvino"

_INSTALL = "install it with: pip install 'shiba[openvino]'"
_SERVE_TAGS = ["serve"]

# Ops TensorFlow marks stateful that only read state, or call functions whose bodies are checked
# on their own (they are in the same function library).
_READ_ONLY_OPS = frozenset(
    {
        "ReadVariableOp",
        "ResourceGather",
        "ResourceGatherNd",
        "VarHandleOp",
        "VarIsInitializedOp",
        "VariableV2",
        "StatefulPartitionedCall",
        "If",
        "While",
        "Case",
    }
)
_MAX_REASON = 400
_SETTINGS = (
    "NUM_STREAMS",
    "INFERENCE_NUM_THREADS",
    "INFERENCE_PRECISION_HINT",
    "PERFORMANCE_HINT",
)


def available() -> bool:
    """True when the ``openvino`` package is installed. Does not import it."""
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def compile_config(options: RuntimeOptions) -> dict[str, Any]:
    """OpenVINO CPU properties for ``options``.

    - ``intra_op_threads`` -> ``INFERENCE_NUM_THREADS``: the threads computing, in total, as
      TensorFlow's intra-op pool is one pool shared by every running op.
    - ``inter_op_threads`` -> ``NUM_STREAMS``: how many inferences run at once, as the inter-op
      pool bounds how many ops run at once. OpenVINO splits the threads between the streams (and
      caps the streams at the threads).
    - ``inter_op_threads`` 0: ``PERFORMANCE_HINT=LATENCY``, one stream using every core (or
      ``intra_op_threads`` of them). Measured on 2 cores with the demo ViT, it beats TensorFlow
      everywhere: batch 1 from one thread or four, batch 8 and 64. ``THROUGHPUT`` (2 streams of 1
      thread) doubles batch-1 throughput with several callers but halves batch-64 throughput
      from one caller, the batcher's case; ``inter_op_threads=2`` gives that.
    """
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
    if options.inter_op_threads > 0:
        config["NUM_STREAMS"] = options.inter_op_threads
    else:
        config["PERFORMANCE_HINT"] = "LATENCY"
    if options.intra_op_threads > 0:
        config["INFERENCE_NUM_THREADS"] = options.intra_op_threads
    return config


def build_candidate(
    version_dir: Path, signatures: Mapping[str, Signature], options: RuntimeOptions
) -> Candidate:
    """Converts and compiles every signature of ``version_dir`` that OpenVINO can serve.

    ``signatures`` are the reference's (the TensorFlow runtime's); the servable serves a subset of
    them, as the same objects. Every other signature is in ``Candidate.rejected`` with the reason.
    Raises ``FailedPrecondition`` when OpenVINO or TensorFlow cannot be imported, or when this
    OpenVINO lacks the TensorFlow frontend. Runs on a load thread: 0.8 s for the demo ViT
    (restoring the SavedModel, converting, compiling).
    """
    try:
        import openvino as ov
    except ImportError as err:
        raise FailedPrecondition(
            f"the openvino engine needs the openvino package, which cannot be imported ({err}): "
            f"{_INSTALL}"
        ) from err
    rejected: dict[str, str] = {}
    eligible: dict[str, Signature] = {}
    for name, signature in signatures.items():
        problem = _ineligible(signature)
        if problem is None:
            eligible[name] = signature
        else:
            rejected[name] = problem
    plans = _convert(ov, Path(version_dir), eligible, options, rejected) if eligible else {}
    served = {name: signatures[name] for name in signatures if name in plans}
    return Candidate(OpenVinoServable(served, plans, ov.Tensor) if plans else None, rejected)


def _ineligible(signature: Signature) -> str | None:
    tensors = [
        (kind, alias, spec)
        for kind, specs in (("input", signature.inputs), ("output", signature.outputs))
        for alias, spec in specs.items()
    ]
    for kind, alias, spec in tensors:
        if spec.dtype is DType.DT_INVALID:
            return f"its {kind} {alias} is not a tensor"
    if signature.method_name != PREDICT_METHOD:
        return f"method {signature.method_name}: only predict signatures run on OpenVINO"
    for kind, alias, spec in tensors:
        dtype = spec.dtype
        if not dtype.is_numeric:
            return f"{kind} {alias} is {dtype.name}: only numeric signatures run on OpenVINO"
        if dtype is DType.DT_DOUBLE:
            return f"{kind} {alias} is DT_DOUBLE: OpenVINO's CPU plugin computes it in float32"
        if dtype in (DType.DT_COMPLEX64, DType.DT_COMPLEX128):
            return f"{kind} {alias} is {dtype.name}: OpenVINO has no complex type"
        if kind == "input" and dtype in (DType.DT_INT64, DType.DT_UINT64):
            return (
                f"input {alias} is {dtype.name}: OpenVINO's CPU plugin computes 64-bit "
                "integers in 32 bits"
            )
    return None


class _Rejected(Exception):
    """A signature OpenVINO will not serve; the message is the reason."""


def _convert(
    ov: Any,
    version_dir: Path,
    eligible: Mapping[str, Signature],
    options: RuntimeOptions,
    rejected: dict[str, str],
) -> dict[str, _Plan]:
    try:
        import tensorflow as tf
    except ImportError as err:
        raise FailedPrecondition(
            f"the openvino engine reads SavedModels with TensorFlow, which cannot be imported "
            f"({err}): install it with: pip install 'shiba[tensorflow]'"
        ) from err
    try:
        from openvino.frontend import FrontEndManager
        from openvino.frontend.tensorflow.utils import create_tf_graph_iterator
    except ImportError as err:
        raise FailedPrecondition(
            f"this OpenVINO ({ov.get_version()}) has no TensorFlow frontend ({err}): shiba's "
            "openvino engine is tested with openvino 2026.4"
        ) from err
    try:
        loaded = tf.saved_model.load(str(version_dir), tags=_SERVE_TAGS)
    except Exception as err:
        reason = f"TensorFlow cannot restore it as functions to convert ({_summary(err)})"
        rejected.update(dict.fromkeys(eligible, reason))
        return {}
    core = ov.Core()
    config = compile_config(options)
    plans: dict[str, _Plan] = {}
    for name, signature in eligible.items():
        function = loaded.signatures.get(name)
        if function is None:
            rejected[name] = "the restored SavedModel has no function for it"
            continue
        try:
            stateful = _stateful_ops(function)
            if stateful:
                raise _Rejected(
                    f"stateful ops ({', '.join(sorted(stateful))}): their state must stay in "
                    "TensorFlow"
                )
            # The frontend reads the graph through the iterator until convert() returns: keep it.
            iterator = create_tf_graph_iterator(function, None, None, None, False)
            frontend = FrontEndManager().load_by_framework("tf")
            graph = frontend.load(iterator, False)
            model = frontend.convert(graph)
            plan = _plan(model, signature)
            plan.compiled = core.compile_model(model, "CPU", config)
        except _Rejected as err:
            rejected[name] = str(err)
            continue
        except Exception as err:
            rejected[name] = f"OpenVINO could not convert it: {_summary(err)}"
            continue
        plans[name] = plan
        _log.debug(
            "%s compiled for OpenVINO: %s",
            name,
            _settings(plan.compiled),
        )
    return plans


def _stateful_ops(function: Any) -> set[str]:
    """The op types of ``function`` (and every function it calls) that change or create state."""
    from tensorflow.python.framework import op_def_registry

    graph_def = function.graph.as_graph_def()
    functions = {f.signature.name for f in graph_def.library.function}
    types = {node.op for node in graph_def.node}
    types.update(node.op for f in graph_def.library.function for node in f.node_def)
    found: set[str] = set()
    for op in types - functions - _READ_ONLY_OPS:
        op_def = op_def_registry.get(op)
        if op_def is None or op_def.is_stateful:
            found.add(op)
    return found


@dataclass(slots=True)
class _Plan:
    """One compiled signature: inputs as (alias, port index, dtype), output port per alias."""

    inputs: tuple[tuple[str, int, np.dtype[Any]], ...]
    outputs: Mapping[str, int]
    output_order: tuple[str, ...]
    compiled: Any = None
    requests: queue.SimpleQueue[Any] | None = None


def _plan(model: Any, signature: Signature) -> _Plan:
    """Matches the model's ports to the signature's aliases; checks dtypes and shapes."""
    if len(model.inputs) != len(signature.inputs):
        raise _Rejected(
            f"OpenVINO's model has {len(model.inputs)} inputs, the signature "
            f"{len(signature.inputs)}"
        )
    inputs: list[tuple[str, int, np.dtype[Any]]] = []
    for alias, spec in signature.inputs.items():
        index = _port(model.inputs, alias, "input", len(signature.inputs))
        _check_port(model.inputs[index], alias, spec, "input")
        inputs.append((alias, index, spec.dtype.numpy))
    outputs: dict[str, int] = {}
    for alias, spec in signature.outputs.items():
        index = _port(model.outputs, alias, "output", len(signature.outputs))
        _check_port(model.outputs[index], alias, spec, "output")
        outputs[alias] = index
    return _Plan(
        tuple(inputs), MappingProxyType(outputs), tuple(outputs), requests=queue.SimpleQueue()
    )


def _port(ports: Sequence[Any], alias: str, kind: str, count: int) -> int:
    """The index of the one port named ``alias`` (or ``alias:0``); a lone port for a lone alias."""
    wanted = {alias, f"{alias}:0"}
    hits = [i for i, port in enumerate(ports) if wanted & set(port.get_names())]
    if len(hits) == 1:
        return hits[0]
    if not hits and count == 1 and len(ports) == 1:
        return 0
    names = [sorted(port.get_names()) for port in ports]
    raise _Rejected(f"cannot tell which of OpenVINO's {kind}s {names} is the {kind} {alias}")


def _check_port(port: Any, alias: str, spec: TensorSpec, kind: str) -> None:
    got = np.dtype(port.get_element_type().to_dtype())
    if got != spec.dtype.numpy:
        raise _Rejected(f"OpenVINO's {kind} {alias} is {got}, the signature's {spec.dtype.name}")
    if spec.shape is None:
        return
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic:
        return
    if len(shape) != len(spec.shape):
        raise _Rejected(
            f"OpenVINO's {kind} {alias} has shape {shape}, the signature's {spec.describe_shape()}"
        )
    for dim, want in zip(shape, spec.shape, strict=True):
        if dim.is_static and dim.get_length() != want:
            raise _Rejected(
                f"OpenVINO's {kind} {alias} has shape {shape}, the signature's "
                f"{spec.describe_shape()}"
            )


def _settings(compiled: Any) -> dict[str, str]:
    """Streams, threads, precision and hint of a compiled model, as text (``f32``, ``LATENCY``)."""
    settings: dict[str, str] = {}
    for key in _SETTINGS:
        value = compiled.get_property(key)
        if hasattr(value, "get_type_name"):
            settings[key] = str(value.get_type_name())
        else:
            settings[key] = str(getattr(value, "name", value))
    return settings


def _summary(err: BaseException) -> str:
    """An OpenVINO or TensorFlow error in one line: the conversion summary when there is one."""
    text = str(err)
    if "Summary:" in text:
        text = text.split("Summary:", 1)[1]
        lines = [line.strip().lstrip("-").strip() for line in text.splitlines()]
        text = "; ".join(
            line for line in lines if line and not line.startswith("To facilitate the conversion")
        )
    else:
        text = next((line.strip() for line in text.splitlines() if line.strip()), repr(err))
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


class OpenVinoServable:
    """A Servable over OpenVINO compiled models, one per signature.

    ``signatures`` are the reference's ``Signature`` objects for the signatures it serves. ``run``
    is thread-safe: each call uses an ``InferRequest`` of its own from a per-signature pool (the
    pool grows to the number of concurrent callers; OpenVINO queues them onto its streams). Inputs
    are fed without a copy (a pooled request keeps a reference to its last inputs until its next
    call); outputs are copies the caller owns. Raises FailedPrecondition for a signature it does
    not serve (or after ``close``), InvalidArgument for a missing input or an input OpenVINO
    rejects (its shape, mostly), in OpenVINO's words.
    """

    def __init__(
        self, signatures: Mapping[str, Signature], plans: Mapping[str, _Plan], tensor: Any
    ) -> None:
        self._signatures = MappingProxyType(dict(signatures))
        self._plans = dict(plans)
        self._tensor = tensor
        self._lock = threading.Lock()

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        plan = self._plans.get(signature_name)
        requests = None if plan is None else plan.requests
        if plan is None or requests is None:
            raise FailedPrecondition(
                f'Serving signature key "{signature_name}" is not served by OpenVINO.'
            )
        wanted = plan.output_order
        if output_filter:
            keep = set(output_filter)
            wanted = tuple(alias for alias in wanted if alias in keep)
        try:
            request = requests.get_nowait()
        except queue.Empty:
            request = plan.compiled.create_infer_request()
        try:
            for alias, index, dtype in plan.inputs:
                array = np.ascontiguousarray(inputs[alias], dtype=dtype)
                # OpenVINO shares only writable memory; a read-only input (gRPC's tensor_content
                # is decoded as a view of the request's bytes) is copied instead.
                shared = bool(array.flags.writeable)
                request.set_input_tensor(index, self._tensor(array, shared_memory=shared))
            request.infer()
            return {
                alias: request.get_output_tensor(plan.outputs[alias]).data.copy()
                for alias in wanted
            }
        except KeyError as err:
            raise InvalidArgument(f"missing input {err.args[0]!r} of {signature_name}") from None
        except RuntimeError as err:
            raise InvalidArgument(
                f"OpenVINO cannot run {signature_name} on this input: {_summary(err)}"
            ) from None
        finally:
            requests.put(request)

    def settings(self, signature_name: str) -> dict[str, str]:
        """What OpenVINO chose for one signature: streams, threads, precision and hint, as text."""
        plan = self._plans.get(signature_name)
        if plan is None or plan.compiled is None:
            raise FailedPrecondition(
                f'Serving signature key "{signature_name}" is not served by OpenVINO.'
            )
        return _settings(plan.compiled)

    def close(self) -> None:
        """Drops the compiled models and their requests. Idempotent."""
        with self._lock:
            plans, self._plans = self._plans, {}
        for plan in plans.values():
            plan.requests = None
            plan.compiled = None
