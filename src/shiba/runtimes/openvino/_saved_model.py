"""A SavedModel's signatures converted to OpenVINO: :func:`build_candidate`.

It never imports ``shiba.runtimes.tensorflow`` (runtimes are independent); it reads the graph with
TensorFlow itself. How a signature gets here, each step a reason to stay on TensorFlow when it
fails:

1. Its specs (framework-free, :func:`~shiba.runtimes.openvino._compiled.ineligible`): a predict
   signature whose inputs and outputs are numeric tensors OpenVINO computes as TensorFlow does.
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
6. Compiled for ``CPU`` at f32 with threads from ``RuntimeOptions`` (``compile_config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shiba.core.engine_choice import Candidate
from shiba.core.errors import FailedPrecondition
from shiba.core.tensors import Signature
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.openvino._compiled import (
    OpenVinoServable,
    Plan,
    Rejected,
    compile_config,
    compile_plan,
    import_openvino,
    ineligible,
    summary,
)

__all__ = ["build_candidate"]


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
    ov = import_openvino()
    rejected: dict[str, str] = {}
    eligible: dict[str, Signature] = {}
    for name, signature in signatures.items():
        problem = ineligible(signature)
        if problem is None:
            eligible[name] = signature
        else:
            rejected[name] = problem
    plans = _convert(ov, Path(version_dir), eligible, options, rejected) if eligible else {}
    served = {name: signatures[name] for name in signatures if name in plans}
    return Candidate(OpenVinoServable(served, plans, ov.Tensor) if plans else None, rejected)


def _convert(
    ov: Any,
    version_dir: Path,
    eligible: Mapping[str, Signature],
    options: RuntimeOptions,
    rejected: dict[str, str],
) -> dict[str, Plan]:
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
        loaded = tf.saved_model.load(str(version_dir), tags=sorted(options.saved_model_tags))
    except Exception as err:
        reason = f"TensorFlow cannot restore it as functions to convert ({summary(err)})"
        rejected.update(dict.fromkeys(eligible, reason))
        return {}
    core = ov.Core()
    config = compile_config(options)
    plans: dict[str, Plan] = {}
    for name, signature in eligible.items():
        function = loaded.signatures.get(name)
        if function is None:
            rejected[name] = "the restored SavedModel has no function for it"
            continue

        def convert(function: Any = function) -> Any:
            stateful = _stateful_ops(function)
            if stateful:
                raise Rejected(
                    f"stateful ops ({', '.join(sorted(stateful))}): their state must stay in "
                    "TensorFlow"
                )
            # The frontend reads the graph through the iterator until convert() returns: keep it.
            iterator = create_tf_graph_iterator(function, None, None, None, False)
            frontend = FrontEndManager().load_by_framework("tf")
            return frontend.convert(frontend.load(iterator, False))

        plan = compile_plan(core, convert, signature, config, name)
        if isinstance(plan, str):
            rejected[name] = plan
        else:
            plans[name] = plan
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
