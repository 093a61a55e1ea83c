"""An ONNX model read by OpenVINO: :func:`build_onnx_candidate`.

The ``onnx`` runtime (onnxruntime) is the reference; this module never imports it (runtimes are
independent), only knows the same file name. An ONNX model has one signature,
``serving_default``, whose aliases are the graph's input and output names, and OpenVINO's ONNX
frontend keeps those names on its ports. How the signature gets here, each step a reason to stay
on onnxruntime when it fails:

1. Its specs (:func:`~shiba.runtimes.openvino._compiled.ineligible`): numeric tensors, no
   float64, no complex, no 64-bit integer input (OpenVINO's CPU plugin computes int64 in 32 bits:
   ``x * 2 + 1`` on ``2**40 + 3`` answers 7 where onnxruntime answers ``2**41 + 7``).
2. ``Core.read_model`` of ``model.onnx`` (external weight files beside it are read too). An op
   OpenVINO has no conversion for (``Det``, ``Bernoulli``, custom domains) stops here.
   ``openvino.convert_model`` is not used: it sends usage telemetry.
3. No random op (``RandomUniform``, ``Multinomial``, in the graph or an ``If``/``Loop`` body):
   OpenVINO draws other numbers than onnxruntime, so no answer could be verified.
4. The ports matched to the signature's aliases by name, with its dtypes and compatible shapes.
5. Compiled for ``CPU`` at f32 with threads from ``RuntimeOptions`` (``compile_config``), the
   ones onnxruntime's session gets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from shiba.core.engine_choice import Candidate
from shiba.core.tensors import Signature
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.openvino._compiled import Rejected, import_openvino
from shiba.runtimes.openvino._one_signature import compile_default, default_signature

__all__ = ["ONNX_MODEL_FILE", "build_onnx_candidate"]


#: The file of an ONNX version folder (``shiba.runtimes.onnx.MODEL_FILE``; a test keeps them equal).
ONNX_MODEL_FILE = "model.onnx"

# OpenVINO ops that draw random numbers (the ONNX frontend maps RandomNormal[Like] and
# RandomUniform[Like] to RandomUniform).
_RANDOM_OPS = frozenset({"RandomUniform", "Multinomial"})


def build_onnx_candidate(
    version_dir: Path, signatures: Mapping[str, Signature], options: RuntimeOptions
) -> Candidate:
    """Reads and compiles ``version_dir/model.onnx`` for the reference's ``serving_default``.

    ``signatures`` are the reference's (the ``onnx`` runtime's); the servable serves
    ``serving_default`` as the same object, or nothing, and every signature it does not serve is
    in ``Candidate.rejected`` with the reason. Raises ``FailedPrecondition`` naming the package
    when OpenVINO cannot be imported. Runs on a load thread.
    """
    ov = import_openvino()
    signature, rejected = default_signature(
        signatures, "an ONNX model's graph is its serving_default signature"
    )
    if signature is None:
        return Candidate(None, rejected)
    path = Path(version_dir) / ONNX_MODEL_FILE
    core = ov.Core()

    def read() -> Any:
        model = core.read_model(str(path))
        random = sorted({op.get_type_name() for op in _ops(model)} & _RANDOM_OPS)
        if random:
            raise Rejected(
                f"random ops ({', '.join(random)}): OpenVINO draws other numbers than onnxruntime"
            )
        return model

    return compile_default(ov, core, read, signature, rejected=rejected, options=options, path=path)


def _ops(model: Any) -> Iterator[Any]:
    """Every op of an ``openvino.Model``, with the bodies of ``If``, ``Loop`` and
    ``TensorIterator`` ops (``get_function(i)`` past the last body crashes: ask by name)."""
    for op in model.get_ordered_ops():
        yield op
        kind = op.get_type_name()
        if kind == "If":
            bodies = [op.get_then_body(), op.get_else_body()]
        elif kind in ("Loop", "TensorIterator"):
            bodies = [op.get_function()]
        else:
            continue
        for body in bodies:
            if body is not None:
                yield from _ops(body)
