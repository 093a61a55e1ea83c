"""TensorFlow Serving's request messages to what ``ModelService`` takes. No I/O.

Shared by the gRPC front end and the warm-up records (``PredictionLog``), which carry the same
requests: a ``PredictRequest``'s inputs as numpy arrays, an ``Input``'s serialized ``tf.Example``
protos, and a ``MultiInferenceRequest``'s tasks. Errors are
:class:`~shiba.core.errors.InvalidArgument` with TF Serving's wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy.typing as npt

from shiba import _proto
from shiba.codecs.tensor_proto import to_numpy
from shiba.core.errors import InvalidArgument

__all__ = ["decode_inputs", "input_examples", "inference_tasks"]


def decode_inputs(tensors: Mapping[str, _proto.TensorProto]) -> dict[str, npt.NDArray[Any]]:
    """A ``PredictRequest``'s ``inputs`` as arrays, by alias."""
    inputs: dict[str, npt.NDArray[Any]] = {}
    for alias, tensor in tensors.items():
        try:
            inputs[alias] = to_numpy(tensor)
        except InvalidArgument as exc:
            # saved_model's GetInputValues words it "tensor parsing error: <alias>".
            raise InvalidArgument(f"tensor parsing error: {alias}: {exc.message}") from None
    return inputs


def input_examples(proto: _proto.Input) -> list[bytes]:
    """The serialized examples of an ``Input``, each after the context when there is one.

    util.cc's InputToSerializedExampleTensor concatenates context and example bytes, which
    ``tf.Example`` parsing reads as a merge where the example's features win.
    """
    kind = proto.WhichOneof("kind")
    if kind == "example_list":
        examples = list(proto.example_list.examples)
    elif kind == "example_list_with_context":
        with_context = proto.example_list_with_context
        context = with_context.context
        examples = [context + example for example in with_context.examples]
    else:
        examples = []
    if not examples:
        raise InvalidArgument("Input is empty.")
    return examples


def inference_tasks(request: _proto.MultiInferenceRequest) -> list[tuple[str, str]]:
    """A ``MultiInferenceRequest``'s (signature name, method name) tasks, in order.

    Every task must name the same, non-empty model (multi_inference.cc); which version runs them
    is the caller's to resolve.
    """
    first = request.tasks[0].model_spec.name if len(request.tasks) else ""
    for task in request.tasks:
        if not task.model_spec.name:
            raise InvalidArgument("Found ModelSpec with an empty model name.")
        if task.model_spec.name != first:
            raise InvalidArgument(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )
    return [(task.model_spec.signature_name, task.method_name) for task in request.tasks]
