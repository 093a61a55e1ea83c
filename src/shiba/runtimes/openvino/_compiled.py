"""What both candidate builders share: the package check, which specs OpenVINO may serve, the
compile settings, matching a model's ports to a signature's aliases, and the servable.

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
inference. ``EngineChoiceLoader`` closes the reference's servable when every signature runs here.
"""

from __future__ import annotations

import importlib.util
import logging
import queue
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from shiba.core.errors import FailedPrecondition, InvalidArgument
from shiba.core.servable import Outputs
from shiba.core.tensors import PREDICT_METHOD, DType, Signature, Tensors, TensorSpec
from shiba.runtimes._bases import SignedServable
from shiba.runtimes.base import RuntimeOptions

_log = logging.getLogger("shiba.runtimes.openvino")

__all__ = [
    "ENGINE",
    "compile_plan",
    "available",
    "import_openvino",
    "compile_config",
    "ineligible",
    "Rejected",
    "Plan",
    "plan_ports",
    "compiled_settings",
    "summary",
    "OpenVinoServable",
]

#: The engine's name in decisions, logs and the ``--tensorflow_engine``/``--onnx_engine`` flags.
ENGINE = "openvino"

_INSTALL = "install it with: pip install 'shiba[openvino]'"
_MAX_REASON = 400
_SETTINGS = (
    "NUM_STREAMS",
    "INFERENCE_NUM_THREADS",
    "INFERENCE_PRECISION_HINT",
    "PERFORMANCE_HINT",
)
# Lines of an OpenVINO error that say where it was raised, not what went wrong.
_WHERE = re.compile(r"^(Exception from \S+:\d+:|Check '.*' failed at \S+:\d+:)$")


def available() -> bool:
    """True when the ``openvino`` package is installed. Does not import it."""
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):
        return False


def import_openvino() -> Any:
    """The ``openvino`` module; ``FailedPrecondition`` naming the package when it cannot be
    imported."""
    try:
        import openvino as ov
    except ImportError as err:
        raise FailedPrecondition(
            f"the openvino engine needs the openvino package, which cannot be imported ({err}): "
            f"{_INSTALL}"
        ) from err
    return ov


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
    - ``INFERENCE_PRECISION_HINT=f32`` always: the default, bf16 on CPUs that have it, drifts by
      up to 6e-3 on the demo ViT.
    """
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
    if options.inter_op_threads > 0:
        config["NUM_STREAMS"] = options.inter_op_threads
    else:
        config["PERFORMANCE_HINT"] = "LATENCY"
    if options.intra_op_threads > 0:
        config["INFERENCE_NUM_THREADS"] = options.intra_op_threads
    return config


def ineligible(signature: Signature) -> str | None:
    """Why OpenVINO must not serve ``signature``, from its specs alone, or ``None``.

    A predict signature (classify and regress take serialized ``tf.Example``) whose inputs and
    outputs are numeric tensors. Not float64 (OpenVINO's CPU plugin computes it in float32), no
    complex (OpenVINO has no complex type), no 64-bit integer *inputs*: the CPU plugin computes
    int64 in 32 bits, so ``x * 2 + 1`` on ``2**40 + 3`` answers 7, silently (measured, OpenVINO
    2026.4, from a SavedModel and from an ONNX model alike). Integer outputs are allowed: they
    are compared exactly during verification.
    """
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


class Rejected(Exception):
    """A signature OpenVINO will not serve; the message is the reason."""


@dataclass(slots=True)
class Plan:
    """One compiled signature: inputs as (alias, port index, dtype), output port per alias."""

    inputs: tuple[tuple[str, int, np.dtype[Any]], ...]
    outputs: Mapping[str, int]
    output_order: tuple[str, ...]
    compiled: Any = None
    requests: queue.SimpleQueue[Any] | None = None


def plan_ports(model: Any, signature: Signature) -> Plan:
    """Matches an ``openvino.Model``'s ports to the signature's aliases by tensor name (``alias``
    or ``alias:0``; a lone port for a lone alias); checks dtypes and shapes. Raises
    ``Rejected``."""
    if len(model.inputs) != len(signature.inputs):
        raise Rejected(
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
    return Plan(
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
    raise Rejected(f"cannot tell which of OpenVINO's {kind}s {names} is the {kind} {alias}")


def _check_port(port: Any, alias: str, spec: TensorSpec, kind: str) -> None:
    got = np.dtype(port.get_element_type().to_dtype())
    if got != spec.dtype.numpy:
        raise Rejected(f"OpenVINO's {kind} {alias} is {got}, the signature's {spec.dtype.name}")
    if spec.shape is None:
        return
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic:
        return
    if len(shape) != len(spec.shape):
        raise Rejected(
            f"OpenVINO's {kind} {alias} has shape {shape}, the signature's {spec.describe_shape()}"
        )
    for dim, want in zip(shape, spec.shape, strict=True):
        if dim.is_static and dim.get_length() != want:
            raise Rejected(
                f"OpenVINO's {kind} {alias} has shape {shape}, the signature's "
                f"{spec.describe_shape()}"
            )


def compile_plan(
    core: Any,
    read_model: Callable[[], Any],
    signature: Signature,
    config: Mapping[str, Any],
    label: str,
) -> Plan | str:
    """One signature's plan, compiled for ``CPU`` with ``config``; or, instead, why OpenVINO will
    not serve it. ``read_model`` reads or converts the model (raising :class:`Rejected` with a
    reason of its own, or anything else for a conversion that failed); ``label`` names it in the
    debug log."""
    try:
        model = read_model()
        plan = plan_ports(model, signature)
        plan.compiled = core.compile_model(model, "CPU", dict(config))
    except Rejected as err:
        return str(err)
    except Exception as err:
        return f"OpenVINO could not convert it: {summary(err)}"
    if _log.isEnabledFor(logging.DEBUG):  # four property reads, for the log only
        _log.debug("%s compiled for OpenVINO: %s", label, compiled_settings(plan.compiled))
    return plan


def compiled_settings(compiled: Any) -> dict[str, str]:
    """Streams, threads, precision and hint of a compiled model, as text (``f32``, ``LATENCY``)."""
    settings: dict[str, str] = {}
    for key in _SETTINGS:
        value = compiled.get_property(key)
        if hasattr(value, "get_type_name"):
            settings[key] = str(value.get_type_name())
        else:
            settings[key] = str(getattr(value, "name", value))
    return settings


def summary(err: BaseException) -> str:
    """An OpenVINO or TensorFlow error in one line: the conversion summary when there is one,
    else its first line that is not only where OpenVINO raised it (``Exception from ...:``)."""
    text = str(err)
    if "Summary:" in text:
        text = text.split("Summary:", 1)[1]
        lines = [line.strip().lstrip("-").strip() for line in text.splitlines()]
        text = "; ".join(
            line for line in lines if line and not line.startswith("To facilitate the conversion")
        )
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        said = [line for line in lines if not _WHERE.match(line)]
        text = (said or lines or [repr(err)])[0]
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


class OpenVinoServable(SignedServable):
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
        self, signatures: Mapping[str, Signature], plans: Mapping[str, Plan], tensor: Any
    ) -> None:
        super().__init__(signatures)
        self._plans = dict(plans)
        self._tensor = tensor
        self._lock = threading.Lock()

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
                f"OpenVINO cannot run {signature_name} on this input: {summary(err)}"
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
        return compiled_settings(plan.compiled)

    def close(self) -> None:
        """Drops the compiled models and their requests. Idempotent."""
        with self._lock:
            plans, self._plans = self._plans, {}
        for plan in plans.values():
            plan.requests = None
            plan.compiled = None
