"""The one protocol-neutral service every front end calls: numpy in, numpy out.

It resolves what a request addresses, checks the request against the signature (with TensorFlow
Serving's wording, which its clients may match on), and runs the model off the event loop: on the
servable's own threads when it has them (a batcher), else on the service's executor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

import numpy as np
import numpy.typing as npt

from shiba.core.errors import FailedPrecondition, InvalidArgument, NotFound, Unimplemented
from shiba.core.ids import ModelSpec, ServableId
from shiba.core.lifecycle.harness import Handle
from shiba.core.lifecycle.manager import Manager
from shiba.core.lifecycle.states import ServableState
from shiba.core.servable import Outputs, Servable
from shiba.core.statistics import Execution, InferenceStatistics
from shiba.core.tensors import (
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    PREDICT_METHOD,
    REGRESS_METHOD,
    DType,
    Signature,
    Tensors,
    leading_rows,
)

__all__ = [
    "ModelService",
    "ServiceOptions",
    "Classifications",
    "InferenceResult",
    "ExamplesCall",
    "find_signature",
    "check_inputs",
    "check_predict_method",
    "check_output_filter",
    "examples_call",
    "multi_inference_calls",
    "example_tensor",
    "inference_result",
    "classifications",
    "regressions",
]

#: Per example, the (label, score) pairs of a classification.
Classifications = list[list[tuple[bytes, float]]]


@dataclass(frozen=True, slots=True)
class InferenceResult:
    """One MultiInference task's answer: ``classifications`` for a classify task, else
    ``regressions``; ``signature_name`` is the signature that ran (never "")."""

    signature_name: str
    classifications: Classifications | None = None
    regressions: list[float] | None = None


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """``num_threads``: threads running models that have no threads of their own (no batching).

    ``check_method_name`` is TensorFlow Serving's ``--enable_signature_method_name_check`` (off by
    default there too): a predict signature's ``method_name`` must then be one of predict, classify
    or regress, and a Classify or Regress signature's must be classify or regress. Off, a TF2
    export (which writes the predict method on every signature) classifies and regresses.
    """

    num_threads: int = 8
    check_method_name: bool = False


class ModelService:
    """Predict, classify, regress, status and metadata over the manager's servables.

    Thread-safe. The ``async`` methods must be awaited on an event loop; they never block it.
    A request holds its handle (``acquire``) from before decoding until its answer is encoded.

    ``statistics`` (a new one if not given) is where the front ends time their requests and where
    the service records each run it makes on its executor (a batcher records its own runs there:
    ``server/compose.py`` gives it the same object).
    """

    def __init__(
        self,
        manager: Manager,
        options: ServiceOptions | None = None,
        *,
        statistics: InferenceStatistics | None = None,
    ) -> None:
        self._manager = manager
        self._options = options or ServiceOptions()
        self._statistics = statistics if statistics is not None else InferenceStatistics()
        self._executor = ThreadPoolExecutor(
            max(1, self._options.num_threads), thread_name_prefix="shiba-run"
        )

    @property
    def manager(self) -> Manager:
        return self._manager

    @property
    def statistics(self) -> InferenceStatistics:
        return self._statistics

    def acquire(self, spec: ModelSpec) -> Handle:
        return self._manager.acquire(spec)

    @staticmethod
    def signature(handle: Handle, signature_name: str) -> tuple[str, Signature]:
        """The signature a request names ("" means ``serving_default``), with its resolved name."""
        return find_signature(handle.servable.signatures, signature_name)

    # -- predict ----------------------------------------------------------------------------

    async def predict(
        self,
        handle: Handle,
        signature_name: str,
        inputs: Tensors,
        output_filter: Sequence[str] | None = None,
        *,
        checked: bool = False,
    ) -> Outputs:
        """Runs the signature on ``inputs``. ``checked``: the caller has already checked them
        against the signature (exactly its inputs, each of its dtype) and ``output_filter``
        (distinct outputs of it), in its own protocol's words: the service then does not again."""
        name, signature = self.signature(handle, signature_name)
        if self._options.check_method_name:
            check_predict_method(signature)
        if checked:
            return await self._run(
                handle, name, inputs, list(output_filter) if output_filter else None
            )
        return await self._run(
            handle,
            name,
            check_inputs(signature, inputs),
            check_output_filter(signature, output_filter),
        )

    async def _run(
        self,
        handle: Handle,
        signature_name: str,
        inputs: Tensors,
        output_filter: Sequence[str] | None,
    ) -> Outputs:
        servable = handle.servable
        # getattr, not isinstance(SubmittingServable): a runtime-checkable Protocol check costs
        # ~10 µs a request (measured with py-spy under W1 load).
        submit: Callable[..., asyncio.Future[Outputs]] | None = getattr(
            servable, "submit_async", None
        )
        if submit is not None:
            return await submit(signature_name, inputs, output_filter)
        future = self._executor.submit(
            self._run_alone,
            handle.id,
            servable,
            signature_name,
            inputs,
            output_filter,
            queued=perf_counter_ns(),
        )
        return await asyncio.wrap_future(future)

    def _run_alone(
        self,
        servable_id: ServableId,
        servable: Servable,
        signature_name: str,
        inputs: Tensors,
        output_filter: Sequence[str] | None,
        *,
        queued: int,
    ) -> Outputs:
        """On an executor thread: one request's run, recorded as an execution of its own."""
        begun = perf_counter_ns()
        ok = False
        try:
            outputs = servable.run(signature_name, inputs, output_filter)
            ok = True
            return outputs
        finally:
            rows = leading_rows(inputs)
            wait = begun - queued
            self._statistics.record_execution(
                servable_id,
                Execution(rows, rows, 1, wait, wait, 0, perf_counter_ns() - begun, 0, ok),
            )

    # -- classify and regress ---------------------------------------------------------------

    async def classify(
        self, handle: Handle, signature_name: str, examples: Sequence[bytes]
    ) -> Classifications:
        call = examples_call(
            handle.servable.signatures,
            signature_name,
            CLASSIFY_METHOD,
            check_method_name=self._options.check_method_name,
        )
        outputs = await self._run_examples(handle, call, example_tensor(examples))
        return classifications(outputs, len(examples))

    async def regress(
        self, handle: Handle, signature_name: str, examples: Sequence[bytes]
    ) -> list[float]:
        call = examples_call(
            handle.servable.signatures,
            signature_name,
            REGRESS_METHOD,
            check_method_name=self._options.check_method_name,
        )
        outputs = await self._run_examples(handle, call, example_tensor(examples))
        return regressions(outputs["outputs"], len(examples))

    async def _run_examples(
        self, handle: Handle, call: ExamplesCall, tensor: npt.NDArray[Any]
    ) -> Outputs:
        return await self._run(
            handle, call.signature_name, {call.input_name: tensor}, list(call.outputs)
        )

    async def multi_inference(
        self, handle: Handle, tasks: Sequence[tuple[str, str]], examples: Sequence[bytes]
    ) -> list[InferenceResult]:
        """TensorFlow Serving's MultiInference: several classify/regress signatures, one input.

        ``tasks`` are (signature name, method name) pairs; "" names ``serving_default`` and the
        method is ``CLASSIFY_METHOD`` or ``REGRESS_METHOD``. Every task is checked before any
        runs, with multi_inference.cc's wording; then each signature runs once on ``examples``.
        Results come in the order of ``tasks``.
        """
        calls = multi_inference_calls(
            handle.servable.signatures, tasks, check_method_name=self._options.check_method_name
        )
        tensor = example_tensor(examples)
        outputs = await asyncio.gather(
            *(self._run_examples(handle, call, tensor) for call in calls)
        )
        return [
            inference_result(call, output, len(examples))
            for call, output in zip(calls, outputs, strict=True)
        ]

    # -- status and metadata ----------------------------------------------------------------

    def status(
        self, model_name: str, version: int | None = None, label: str | None = None
    ) -> list[ServableState]:
        """TensorFlow Serving's GetModelStatus: every version's state, or the one asked for."""
        states = self._manager.model_states(model_name)
        if not states:
            raise NotFound(f"Could not find any versions of model {model_name}")
        if label is not None:
            labels = self._manager.labels(model_name)
            if label not in labels:
                raise InvalidArgument(f"Unrecognized servable version label: {label}")
            version = labels[label]
        if version is not None:
            states = [s for s in states if s.id.version == version]
            if not states:
                raise NotFound(f"Could not find version {version} of model {model_name}")
        return states

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def find_signature(
    signatures: Mapping[str, Signature], signature_name: str
) -> tuple[str, Signature]:
    """The signature a predict request names ("" means ``serving_default``), with its name."""
    name = signature_name or DEFAULT_SIGNATURE
    signature = signatures.get(name)
    if signature is None:
        raise FailedPrecondition(f'Serving signature key "{name}" not found.')
    return name, signature


def check_inputs(signature: Signature, inputs: Tensors) -> Tensors:
    """The request's inputs, exactly the signature's, each of the signature's dtype."""
    if inputs.keys() != signature.inputs.keys():
        sent = sorted(inputs)
        wanted = sorted(signature.inputs)
        extra = sorted(set(sent) - set(wanted))
        missing = sorted(set(wanted) - set(sent))
        raise InvalidArgument(
            f"input size does not match signature: {len(sent)}!={len(wanted)} "
            f"len({{{','.join(sent)}}}) != len({{{','.join(wanted)}}}). "
            f"Sent extra: {{{','.join(extra)}}}. Missing but required: {{{','.join(missing)}}}."
        )
    checked: dict[str, npt.NDArray[Any]] = {}
    for name, spec in signature.inputs.items():
        array = inputs[name]
        want = spec.dtype
        if want is DType.DT_STRING:
            if array.dtype.kind not in ("O", "S", "U"):
                raise InvalidArgument(
                    f"input '{name}' expects strings (DT_STRING) but got {array.dtype} values"
                )
        elif array.dtype != want.numpy:
            raise InvalidArgument(
                f"input '{name}' expects {want.name} but got {DType.from_numpy(array.dtype).name}"
                if array.dtype.kind not in ("O", "S", "U")
                else f"input '{name}' expects {want.name} but got strings"
            )
        checked[name] = array
    return checked


def check_output_filter(
    signature: Signature, output_filter: Sequence[str] | None
) -> Sequence[str] | None:
    if not output_filter:
        return None
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in signature.outputs:
            expected = ",".join(sorted(signature.outputs))
            raise InvalidArgument(
                f"output tensor alias not found in signature: {alias}. "
                f"Outputs expected to be in the set {{{expected}}}."
            )
        if alias in seen:
            raise InvalidArgument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return list(output_filter)


@dataclass(frozen=True, slots=True)
class ExamplesCall:
    """A classify or regress task checked against its signature: run ``signature_name`` with the
    serialized examples (:func:`example_tensor`) as ``input_name``, asking for ``outputs``."""

    signature_name: str
    method: str
    input_name: str
    outputs: tuple[str, ...]


def check_predict_method(signature: Signature) -> None:
    """With the method-name check on: a predict signature is a predict, classify or regress one
    (predict_util.cc)."""
    if signature.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
        raise InvalidArgument(
            f"Expected prediction signature method_name to be one of {{{PREDICT_METHOD}, "
            f"{CLASSIFY_METHOD}, {REGRESS_METHOD}}}. Was: {signature.method_name}"
        )


def examples_call(
    signatures: Mapping[str, Signature],
    signature_name: str,
    method: str,
    *,
    check_method_name: bool = False,
) -> ExamplesCall:
    """A Classify (``CLASSIFY_METHOD``) or Regress (``REGRESS_METHOD``) request's call, checked
    with classifier.cc's and regressor.cc's wording ("" names ``serving_default``);
    ``check_method_name`` is ``ServiceOptions.check_method_name``."""
    # classifier.cc / regressor.cc word an unknown signature differently from predict_util.cc.
    name = signature_name or DEFAULT_SIGNATURE
    signature = signatures.get(name)
    if signature is None:
        raise InvalidArgument(f"No signature was found with the name: {name}")
    return _examples_call(name, signature, method, check_method_name)


def multi_inference_calls(
    signatures: Mapping[str, Signature],
    tasks: Sequence[tuple[str, str]],
    *,
    check_method_name: bool = False,
) -> list[ExamplesCall]:
    """MultiInference's calls for (signature name, method name) ``tasks``, in order, every task
    checked with multi_inference.cc's wording before any runs."""
    calls: list[ExamplesCall] = []
    seen: set[str] = set()
    for signature_name, method in tasks:
        name = signature_name or DEFAULT_SIGNATURE
        if name in seen:
            raise InvalidArgument(f"Duplicate evaluation of signature: {name}")
        seen.add(name)
        signature = signatures.get(name)
        if signature is None:
            raise InvalidArgument(f"Requested signature not found in model graph: {name}")
        if method not in (CLASSIFY_METHOD, REGRESS_METHOD):
            raise Unimplemented(f"Unsupported signature method_name: {method}")
        calls.append(_examples_call(name, signature, method, check_method_name))
    return calls


def _examples_call(
    name: str, signature: Signature, method: str, check_method_name: bool
) -> ExamplesCall:
    """classifier.cc's and regressor.cc's checks: the method name (only with the check on), one
    input, the outputs by name and their dtypes. The input's stored dtype is not checked: the
    serialized examples are fed as strings and the graph decides (a TF1 export may store DT_FLOAT
    for a DT_STRING placeholder, and TensorFlow Serving serves it)."""
    kind = "classification" if method == CLASSIFY_METHOD else "regression"
    if check_method_name and signature.method_name != method:
        raise InvalidArgument(
            f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}"
        )
    if len(signature.inputs) != 1:
        raise InvalidArgument(
            f"Expected one input Tensor for a {kind} signature, found {len(signature.inputs)}."
        )
    input_name = next(iter(signature.inputs))
    if method == CLASSIFY_METHOD:
        return ExamplesCall(name, method, input_name, tuple(_classification_outputs(signature)))
    return ExamplesCall(name, method, input_name, tuple(_regression_outputs(signature)))


def _check_output_dtype(signature: Signature, alias: str, dtype: DType) -> None:
    found = signature.outputs[alias].dtype
    if found is not dtype:
        raise InvalidArgument(f"Expected {alias} Tensor of {dtype.name}. Got: {found.name}")


def _classification_outputs(signature: Signature) -> list[str]:
    if "classes" not in signature.outputs and "scores" not in signature.outputs:
        raise InvalidArgument(
            "Expected classification signature outputs to contain at least one of "
            '"classes" or "scores".'
        )
    if "classes" in signature.outputs:
        _check_output_dtype(signature, "classes", DType.DT_STRING)
    if "scores" in signature.outputs:
        _check_output_dtype(signature, "scores", DType.DT_FLOAT)
    return [k for k in ("classes", "scores") if k in signature.outputs]


def _regression_outputs(signature: Signature) -> list[str]:
    if "outputs" not in signature.outputs:
        raise InvalidArgument('Expected regression signature outputs to contain "outputs".')
    _check_output_dtype(signature, "outputs", DType.DT_FLOAT)
    return ["outputs"]


def inference_result(call: ExamplesCall, outputs: Outputs, batch: int) -> InferenceResult:
    """A classify or regress call's answer from its outputs, checked as the service checks it
    (one answer per example, TF Serving's output shapes)."""
    if call.method == CLASSIFY_METHOD:
        return InferenceResult(call.signature_name, classifications(outputs, batch))
    return InferenceResult(call.signature_name, regressions=regressions(outputs["outputs"], batch))


def example_tensor(examples: Sequence[bytes]) -> npt.NDArray[Any]:
    """Serialized examples as the one DT_STRING input of a classify or regress signature."""
    tensor = np.empty(len(examples), dtype=object)
    tensor[:] = list(examples)
    return tensor


def _batch_size_error(expected: int, got: int) -> InvalidArgument:
    return InvalidArgument(
        f"Input batch size did not match output batch size: {expected} vs. {got}"
    )


def classifications(outputs: Mapping[str, npt.NDArray[Any]], batch: int) -> Classifications:
    """TensorFlow Serving's classifier: ``classes`` [batch, n] strings and/or ``scores`` [batch, n]."""
    classes = outputs.get("classes")
    scores = outputs.get("scores")
    for tensor, what in ((classes, "classes"), (scores, "scores")):
        if tensor is None:
            continue
        if tensor.ndim != 2:
            raise InvalidArgument(
                f"Expected Tensor shape: [batch_size num_classes] but got {list(tensor.shape)}"
                f" for output {what}"
            )
        if tensor.shape[0] != batch:
            raise _batch_size_error(batch, tensor.shape[0])
    if classes is not None and scores is not None and classes.shape != scores.shape:
        raise InvalidArgument(
            f"Tensors class and score should match in shape: {list(classes.shape)} vs. "
            f"{list(scores.shape)}"
        )
    width = (classes if classes is not None else scores).shape[1]  # type: ignore[union-attr]
    result: Classifications = []
    for i in range(batch):
        row: list[tuple[bytes, float]] = []
        for j in range(width):
            label = classes[i, j] if classes is not None else b""
            score = float(scores[i, j]) if scores is not None else 0.0
            row.append((label if isinstance(label, bytes) else str(label).encode(), score))
        result.append(row)
    return result


def regressions(values: npt.NDArray[Any], batch: int) -> list[float]:
    """TensorFlow Serving's regressor: ``outputs`` of shape [batch] or [batch, 1]."""
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise InvalidArgument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{list(values.shape)}"
        )
    if values.shape[0] != batch:
        raise _batch_size_error(batch, values.shape[0])
    return [float(v) for v in values.reshape(-1)]
