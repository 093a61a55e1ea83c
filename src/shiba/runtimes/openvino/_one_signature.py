"""What the builders of one-signature models (ONNX, PyTorch) share: the reference's
``serving_default`` is the only signature they can serve, compiled into a servable of its own.

- :func:`default_signature`: the reference's ``serving_default`` when OpenVINO may serve it, and
  the reason for every signature it will not serve.
- :func:`compile_default`: that signature compiled into a :class:`Candidate`, or the reason it
  could not be, added to the rejected ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from shiba.core.engine_choice import Candidate
from shiba.core.tensors import DEFAULT_SIGNATURE, Signature
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.openvino._compiled import (
    OpenVinoServable,
    compile_config,
    compile_plan,
    ineligible,
)

__all__ = ["default_signature", "compile_default"]


def default_signature(
    signatures: Mapping[str, Signature], not_default: str
) -> tuple[Signature | None, dict[str, str]]:
    """``serving_default`` among ``signatures`` (``None`` when it is absent or OpenVINO may not
    serve it: see ``ineligible``), and per signature left out, why: ``not_default`` for every
    other signature."""
    rejected: dict[str, str] = {}
    signature: Signature | None = None
    for name, candidate in signatures.items():
        problem = ineligible(candidate) if name == DEFAULT_SIGNATURE else not_default
        if problem is None:
            signature = candidate
        else:
            rejected[name] = problem
    return signature, rejected


def compile_default(
    ov: Any,
    core: Any,
    read_model: Callable[[], Any],
    signature: Signature,
    *,
    rejected: dict[str, str],
    options: RuntimeOptions,
    path: Path,
) -> Candidate:
    """``signature`` compiled as ``serving_default`` from what ``read_model`` returns (see
    ``compile_plan``); when OpenVINO will not serve it, no servable, and the reason in
    ``rejected`` (which the candidate keeps)."""
    plan = compile_plan(core, read_model, signature, compile_config(options), str(path))
    if isinstance(plan, str):
        rejected[DEFAULT_SIGNATURE] = plan
        return Candidate(None, rejected)
    servable = OpenVinoServable(
        {DEFAULT_SIGNATURE: signature}, {DEFAULT_SIGNATURE: plan}, ov.Tensor
    )
    return Candidate(servable, rejected)
