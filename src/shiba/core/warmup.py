"""SavedModel warm-up: replaying a version's recorded requests before it becomes AVAILABLE.

TensorFlow Serving reads ``assets.extra/tf_serving_warmup_requests`` (``PredictionLog`` records)
and runs each request ``num_request_iterations`` times on the freshly loaded version, so that lazy
initialisation happens at load time instead of on the first requests; a request that fails makes
the load fail (saved_model_warmup.cc). Here the records arrive already parsed (``shiba.codecs``
reads the file) as :data:`WarmupRecord` values, and :class:`WarmupLoader` replays them as a wrapper
around the loader of the version, like ``BatchingLoader``. Each record runs as ``ModelService`` runs
the request (same checks, same wording), synchronously through ``Servable.run``. The model name and
version in a record are ignored: the version being loaded runs them all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from shiba.core.engine_choice import VerificationInput
from shiba.core.errors import Internal, ShibaError
from shiba.core.loader import Loader
from shiba.core.servable import Servable
from shiba.core.service import (
    check_inputs,
    check_output_filter,
    example_tensor,
    examples_call,
    find_signature,
    inference_result,
    multi_inference_calls,
)
from shiba.core.tensors import Signature, Tensors

__all__ = [
    "MAX_RECORDS",
    "WarmupOptions",
    "PredictRecord",
    "ExamplesRecord",
    "MultiInferenceRecord",
    "WarmupRecord",
    "replay",
    "failed_message",
    "predict_inputs",
    "RecordCache",
    "WarmupLoader",
]

log = logging.getLogger(__name__)

#: The most records a warm-up file may hold (TF Serving's ``WarmupConsts::kMaxNumRecords``).
MAX_RECORDS = 1000


@dataclass(frozen=True, slots=True)
class WarmupOptions:
    """``enabled``: replay warm-up records at all (``--enable_model_warmup``). ``iterations``:
    runs of each record (``--num_request_iterations_for_warmup``; at least 1)."""

    enabled: bool = True
    iterations: int = 1


@dataclass(frozen=True, slots=True)
class PredictRecord:
    """A ``predict_log`` request: ``signature_name`` ("" means ``serving_default``), the decoded
    ``inputs`` by alias, and its ``output_filter`` (empty for every output)."""

    signature_name: str
    inputs: Tensors
    output_filter: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExamplesRecord:
    """A ``classify_log`` (``method`` is ``CLASSIFY_METHOD``) or ``regress_log``
    (``REGRESS_METHOD``) request: serialized ``tf.Example`` protos, context already merged."""

    method: str
    signature_name: str
    examples: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class MultiInferenceRecord:
    """A ``multi_inference_log`` request: (signature name, method name) tasks over examples."""

    tasks: tuple[tuple[str, str], ...]
    examples: tuple[bytes, ...]


WarmupRecord = PredictRecord | ExamplesRecord | MultiInferenceRecord


# -- the replay -----------------------------------------------------------------------------------


def _prepare(servable: Servable, record: WarmupRecord) -> Callable[[], object]:
    """Checks ``record`` against the servable's signatures; returns one run of it."""
    signatures = servable.signatures
    if isinstance(record, PredictRecord):
        name, signature = find_signature(signatures, record.signature_name)
        inputs = check_inputs(signature, record.inputs)
        wanted = check_output_filter(signature, record.output_filter)
        return lambda: servable.run(name, inputs, wanted)
    if isinstance(record, ExamplesRecord):
        calls = [examples_call(signatures, record.signature_name, record.method)]
    else:
        calls = multi_inference_calls(signatures, record.tasks)
    tensor = example_tensor(record.examples)
    batch = len(record.examples)

    def run() -> None:
        for call in calls:
            outputs = servable.run(
                call.signature_name, {call.input_name: tensor}, list(call.outputs)
            )
            # The service's answer checks (batch size, output shapes) fail a warm-up too.
            inference_result(call, outputs, batch)

    return run


def replay(
    servable: Servable,
    records: Sequence[WarmupRecord],
    iterations: int = 1,
    *,
    source: str = "the warm-up file",
) -> None:
    """Runs every record ``iterations`` times on ``servable``, in order, on the calling thread.

    Raises the first error, as the same ``ShibaError`` type and code with the record's index (from
    0) and ``source`` before the message; any other exception becomes ``Internal``.
    """
    for index, record in enumerate(records):
        try:
            run = _prepare(servable, record)
            for _ in range(iterations):
                run()
        except ShibaError as err:
            raise type(err)(failed_message(index, source, err.message), code=err.code) from err
        except Exception as err:
            raise Internal(failed_message(index, source, f"{type(err).__name__}: {err}")) from err


def failed_message(index: int, source: str, message: str) -> str:
    """How an error of record ``index`` of ``source`` is told, when read or when replayed."""
    return f"Warm-up record {index} of {source} failed: {message}"


def predict_inputs(
    records: Sequence[WarmupRecord], signatures: Mapping[str, Signature]
) -> dict[str, list[VerificationInput]]:
    """The predict records' inputs by signature name, to verify a candidate engine on.

    Only records whose signature exists and whose inputs pass the service's checks are kept (the
    replay reports the others). Each is labelled ``warm-up record <index>``.
    """
    found: dict[str, list[VerificationInput]] = {}
    for index, record in enumerate(records):
        if not isinstance(record, PredictRecord):
            continue
        try:
            name, signature = find_signature(signatures, record.signature_name)
            inputs = check_inputs(signature, record.inputs)
        except ShibaError:
            continue
        found.setdefault(name, []).append(VerificationInput(f"warm-up record {index}", inputs))
    return found


# -- the loader -----------------------------------------------------------------------------------


class RecordCache:
    """Calls ``read`` on first use and keeps its records until :meth:`clear`, so the engine
    choice and the replay of one load share one read of the file. Thread-safe; an error from
    ``read`` is raised and not kept (a retried load reads again)."""

    def __init__(self, read: Callable[[], Sequence[WarmupRecord]]) -> None:
        self._read = read
        self._records: tuple[WarmupRecord, ...] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Sequence[WarmupRecord]:
        with self._lock:
            if self._records is None:
                self._records = tuple(self._read())
            return self._records

    def predict_inputs(
        self, signatures: Mapping[str, Signature]
    ) -> dict[str, list[VerificationInput]]:
        """:func:`predict_inputs` of the records (an ``EngineChoiceLoader``'s extra inputs)."""
        return predict_inputs(self(), signatures)

    def clear(self) -> None:
        with self._lock:
            self._records = None


class WarmupLoader:
    """Wraps a loader: ``load`` loads the inner servable, then replays ``records()`` on it
    (:func:`replay`, ``iterations`` times each) before returning it.

    When the replay fails, the inner loader is unloaded and the error raised, so the version's
    load fails with it. On success it logs TF Serving's line ``Finished reading warmup data for
    model at <path>. Number of warmup records read: N. Elapsed time (microseconds): T.`` (T counts
    reading, if not done already by the engine choice, and the replay). A :class:`RecordCache`
    given as ``records`` is cleared after each load, so the records are not held while serving.
    ``unload`` unloads the inner loader. Not thread-safe, as no loader is.
    """

    def __init__(
        self,
        inner: Loader,
        records: Callable[[], Sequence[WarmupRecord]],
        *,
        iterations: int = 1,
        path: str = "the warm-up file",
    ) -> None:
        self._inner = inner
        self._records = records
        self._iterations = max(1, iterations)
        self._path = path

    def load(self) -> Servable:
        try:
            servable = self._inner.load()
            start = time.monotonic()
            try:
                records = self._records()
                replay(servable, records, self._iterations, source=self._path)
            except BaseException:
                self._inner.unload()
                raise
        finally:
            if isinstance(self._records, RecordCache):
                self._records.clear()
        log.info(
            "Finished reading warmup data for model at %s. Number of warmup records read: %d. "
            "Elapsed time (microseconds): %d.",
            self._path,
            len(records),
            int((time.monotonic() - start) * 1e6),
        )
        return servable

    def unload(self) -> None:
        self._inner.unload()
