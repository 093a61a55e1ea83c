"""The session path: a SavedModel loaded into a ``tf.compat.v1.Session``, run by tensor names.

This is how TensorFlow Serving runs every SavedModel, TF1 and TF2 alike, and the only way to run TF1
exports with reference variables (``saved_model_half_plus_three``, ``saved_model_counter``).

Each (signature, outputs) pair gets a session *callable* (``Session::MakeCallable``): the feeds and
fetches are fixed once, so a call is one C++ ``RunCallable`` with no graph work and no per-call
Python bookkeeping. ``tf.compat.v1.Session.make_callable`` with a ``feed_list`` falls back to
``Session.run``, so the callables are made from ``CallableOptions`` through the session's
``_make_callable_from_options``, which TensorFlow has kept since 1.x; if a TensorFlow drops it, the
public ``Session.run`` is used instead. Measured on ``saved_model_half_plus_two_tf2_cpu`` (1 row):
callable 30 us per call, ``Session.run`` 174 us, ``make_callable(feed_list=...)`` 160 us.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shiba.core.errors import FailedPrecondition, InvalidArgument, ShibaError
from shiba.core.servable import Outputs
from shiba.core.tensors import Signature, Tensors
from shiba.runtimes._bases import SignedServable
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.tensorflow._errors import from_tf_error
from shiba.runtimes.tensorflow.signatures import (
    check_runnable,
    find_signature,
    select_outputs,
)

__all__ = ["SessionServable", "load_session"]

_log = logging.getLogger(__name__)

# Distinct output filters cached per servable; past this, a filtered call runs the signature's
# all-outputs callable and keeps the outputs asked for, so no client can grow the cache unbounded.
_MAX_PLANS = 256


@dataclass(frozen=True, slots=True)
class _Plan:
    """A ready call: feed these input aliases, get these output aliases back, in order."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    call: Callable[..., Sequence[Any]]


def load_session(
    version_dir: Path, signatures: Mapping[str, Signature], options: RuntimeOptions
) -> SessionServable:
    """Loads the meta graph tagged ``options.saved_model_tags`` of ``version_dir`` into a new
    session in its own graph.

    ``options`` threads (and ``use_per_session_threads``) go to the session's ConfigProto (TensorFlow sizes its process-wide pools
    from the first session or eager context that starts, as TensorFlow Serving does). Raises
    ``tf.errors.OpError`` and whatever else TensorFlow's loader raises; the caller maps them.
    """
    import tensorflow as tf

    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=options.intra_op_threads,
        inter_op_parallelism_threads=options.inter_op_threads,
        use_per_session_threads=options.use_per_session_threads,
    )
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=config)
    try:
        with graph.as_default():
            tf.compat.v1.saved_model.loader.load(
                session, sorted(options.saved_model_tags), str(version_dir)
            )
        return SessionServable(session, signatures, tf.errors.OpError)
    except BaseException:
        session.close()
        raise


class SessionServable(SignedServable):
    """A Servable over a session. ``run`` is thread-safe (TensorFlow sessions are).

    Callables for every runnable signature's full output set are made at construction; one per
    distinct output filter is made on first use, under a lock, and kept until ``close``.
    """

    def __init__(
        self, session: Any, signatures: Mapping[str, Signature], op_error: type[Exception]
    ) -> None:
        self._session = session
        super().__init__(signatures)
        self._op_error = op_error
        self._plans: dict[tuple[str, tuple[str, ...] | None], _Plan] = {}
        self._lock = threading.Lock()
        for name, signature in self._signatures.items():
            try:
                check_runnable(name, signature)
                self._plan(name, None)
            except ShibaError as err:
                # Not fatal: TensorFlow Serving loads such models too and fails only the call.
                _log.debug("signature %r is not runnable: %s", name, err.message)

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        """Runs one signature. Raises FailedPrecondition for an unknown or unrunnable signature,
        InvalidArgument for a bad output filter or an input the graph rejects, and the matching
        ShibaError for any other TensorFlow error."""
        key = (signature_name, tuple(output_filter) if output_filter else None)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(signature_name, output_filter)
        try:
            args = [inputs[alias] for alias in plan.inputs]
        except KeyError as err:
            raise InvalidArgument(f"missing input {err.args[0]!r} of {signature_name}") from None
        try:
            values = plan.call(*args)
        except self._op_error as err:
            raise from_tf_error(err) from None
        # A 0-d result comes back as a numpy scalar, not an array.
        return {
            alias: value if type(value) is np.ndarray else np.asarray(value)
            for alias, value in zip(plan.outputs, values, strict=True)
        }

    def _plan(self, name: str, output_filter: Sequence[str] | None) -> _Plan:
        signature = find_signature(self._signatures, name)
        check_runnable(name, signature)
        outputs = select_outputs(signature, output_filter)
        request_key = (name, tuple(output_filter) if output_filter else None)
        # Filters naming the same outputs (in any order) share one callable.
        plan_key = (name, None if outputs == tuple(signature.outputs) else outputs)
        with self._lock:
            if self._session is None:
                raise FailedPrecondition("the servable is closed")
            plan = self._plans.get(plan_key)
            if plan is None and (plan_key[1] is None or len(self._plans) < _MAX_PLANS):
                plan = self._make_plan(signature, outputs)
                self._plans[plan_key] = plan
            if plan is not None:
                if len(self._plans) < _MAX_PLANS:
                    self._plans[request_key] = plan
                return plan
        return _subset(self._plan(name, None), outputs)

    def _make_plan(self, signature: Signature, outputs: tuple[str, ...]) -> _Plan:
        inputs = tuple(signature.inputs)
        feeds = [signature.inputs[alias].tensor_name for alias in inputs]
        fetches = [signature.outputs[alias].tensor_name for alias in outputs]
        make = getattr(self._session, "_make_callable_from_options", None)
        if make is None:
            return _Plan(inputs, outputs, _session_run(self._session, feeds, fetches))
        from tensorflow.core.protobuf import config_pb2

        try:
            call = make(config_pb2.CallableOptions(feed=feeds, fetch=fetches))
        except self._op_error as err:
            raise from_tf_error(err) from None
        return _Plan(inputs, outputs, call)

    def close(self) -> None:
        """Releases the callables and closes the session. Idempotent."""
        with self._lock:
            session, self._session = self._session, None
            self._plans.clear()
        if session is not None:
            session.close()


def _session_run(
    session: Any, feeds: list[str], fetches: list[str]
) -> Callable[..., Sequence[Any]]:
    def call(*args: Any) -> Sequence[Any]:
        result: Sequence[Any] = session.run(fetches, dict(zip(feeds, args, strict=True)))
        return result

    return call


def _subset(full: _Plan, outputs: tuple[str, ...]) -> _Plan:
    positions = [full.outputs.index(alias) for alias in outputs]
    run_all = full.call

    def call(*args: Any) -> Sequence[Any]:
        values = run_all(*args)
        return [values[i] for i in positions]

    return _Plan(full.inputs, outputs, call)
