"""A PyTorch model converted to OpenVINO: :func:`build_torch_candidate`.

The ``pytorch`` runtime (torch) is the reference; this module never imports it (runtimes are
independent): both read the files through ``shiba.runtimes._torch_files``, and convert while
holding its lock (PyTorch's loading and OpenVINO's conversion of it are not thread-safe). A PyTorch
model has one signature, ``serving_default``. How it gets here, each step a reason to stay on
torch when it fails:

1. Its specs (:func:`~shiba.runtimes.openvino._compiled.ineligible`): numeric tensors, no
   float64, no complex, no 64-bit integer input.
2. ``torch.export.load`` of ``model.pt2``, else ``torch.jit.load`` of ``model.pt`` (the file the
   reference serves), converted by ``openvino.convert_model`` with each input's dtype and shape
   from the signature. OpenVINO's PyTorch frontend takes only torch objects, through Python
   decoders that ``convert_model`` builds; shiba's install removes ``openvino-telemetry``, so the
   call sends nothing (with the package installed, opt out with ``opt_in_out --opt_out``).
3. The ports named after the signature's aliases, in order: inputs as ``forward`` takes them,
   outputs as it returns them. A wrong pairing (a dict's order) cannot pass verification.
4. Compiled for ``CPU`` at f32 with threads from ``RuntimeOptions`` (``compile_config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shiba.core.engine_choice import Candidate
from shiba.core.tensors import DEFAULT_SIGNATURE, Signature
from shiba.runtimes._torch_files import (
    EXPORT_FILE,
    MODEL_FILES,
    TORCH_LOCK,
    find_model_file,
    import_torch,
    load_exported,
    load_script,
)
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.openvino._compiled import Rejected, import_openvino
from shiba.runtimes.openvino._one_signature import compile_default, default_signature

__all__ = ["TORCH_MODEL_FILES", "build_torch_candidate"]

#: ``model.pt2`` first, as the ``pytorch`` runtime reads them.
TORCH_MODEL_FILES = MODEL_FILES


def build_torch_candidate(
    version_dir: Path, signatures: Mapping[str, Signature], options: RuntimeOptions
) -> Candidate:
    """Converts and compiles the version's PyTorch model for the reference's ``serving_default``.

    Returns the servable (or ``None``) and, per signature it does not serve, why. Raises
    ``FailedPrecondition`` naming the package when OpenVINO or torch cannot be imported. Runs on a
    load thread.
    """
    ov = import_openvino()
    signature, rejected = default_signature(
        signatures, "a PyTorch model's forward is its serving_default signature"
    )
    if signature is None:
        return Candidate(None, rejected)
    path = find_model_file(Path(version_dir))
    if path is None:
        rejected[DEFAULT_SIGNATURE] = f"no {' or '.join(TORCH_MODEL_FILES)} in {version_dir}"
        return Candidate(None, rejected)
    torch = import_torch("converting a PyTorch model to OpenVINO")
    core = ov.Core()
    chosen = signature

    def read() -> Any:
        with TORCH_LOCK:  # see shiba.runtimes._torch_files
            load = load_exported if path.name == EXPORT_FILE else load_script
            model = load(torch, path)
            shapes = [
                (
                    ov.PartialShape.dynamic()
                    if spec.shape is None
                    else ov.PartialShape(spec.shape),
                    ov.Type(spec.dtype.numpy),
                )
                for spec in chosen.inputs.values()
            ]
            converted = ov.convert_model(model, input=shapes, share_weights=False)
            _name_ports(converted.inputs, list(chosen.inputs), "input")
            _name_ports(converted.outputs, list(chosen.outputs), "output")
            return converted

    return compile_default(ov, core, read, signature, rejected=rejected, options=options, path=path)


def _name_ports(ports: Any, aliases: list[str], kind: str) -> None:
    if len(ports) != len(aliases):
        raise Rejected(f"OpenVINO's model has {len(ports)} {kind}s, the signature {len(aliases)}")
    for port, alias in zip(ports, aliases, strict=True):
        port.get_tensor().set_names({alias})
