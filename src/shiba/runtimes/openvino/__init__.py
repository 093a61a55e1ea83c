"""The ``openvino`` engine: a model's signatures compiled by OpenVINO for the CPU.

Not a platform of its own: it builds a *candidate* servable for a version another runtime loaded
(the *reference*), over the reference's own ``Signature`` objects, and
``shiba.core.engine_choice`` keeps it per signature where its outputs agree with the reference's.

- :func:`build_candidate`: a SavedModel's signatures, converted with OpenVINO's TensorFlow
  frontend (reference: the ``tensorflow`` runtime; steps in ``_saved_model``).
- :func:`build_onnx_candidate`: an ONNX model's ``serving_default``, read by OpenVINO's ONNX
  frontend (reference: the ``onnx`` runtime, onnxruntime; steps in ``_onnx``).
- :func:`build_torch_candidate`: a PyTorch model's ``serving_default``, converted with
  OpenVINO's PyTorch frontend (reference: the ``pytorch`` runtime, torch; steps in ``_torch``).
- All compile at f32 (:func:`compile_config`) into an :class:`OpenVinoServable` (``_compiled``);
  the ONNX and PyTorch builders share their one-signature steps (``_one_signature``).

Each builder returns the signatures it cannot serve, with the reason, in ``Candidate.rejected``.
Importing this package imports neither OpenVINO nor any framework.
"""

from shiba.runtimes.openvino._compiled import ENGINE, OpenVinoServable, available, compile_config
from shiba.runtimes.openvino._onnx import build_onnx_candidate
from shiba.runtimes.openvino._saved_model import build_candidate
from shiba.runtimes.openvino._torch import build_torch_candidate

__all__ = [
    "ENGINE",
    "available",
    "compile_config",
    "build_candidate",
    "build_onnx_candidate",
    "build_torch_candidate",
    "OpenVinoServable",
]
