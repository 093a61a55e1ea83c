"""Choosing an engine per signature: a faster *candidate* engine serves a signature only where its
answers agree with the *reference* engine's.

The reference servable (TensorFlow, for a SavedModel) is loaded as always; a candidate servable
(OpenVINO) is built for the same version by another runtime, over the same ``Signature`` objects.
:func:`choose` runs both on the same generated inputs and keeps, per signature, the candidate where
every output agrees within :class:`Tolerance` and the reference elsewhere. The result is one
:class:`EngineChoiceServable`, so warm-up, batching and every front end see nothing new.
:class:`EngineChoiceLoader` is the same step as a ``Loader`` wrapping the reference's loader, as
``BatchingLoader`` wraps a loader. Nothing here knows a framework: engines are names in messages.

How a signature is verified, and why the tolerance is what it is, is written down in
``shiba.core._engine_verification``, with :class:`Tolerance` and :func:`generate_inputs`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from shiba.core._engine_verification import (
    DEFAULT_TOLERANCE,
    EngineDecision,
    Tolerance,
    VerificationInput,
    compare_outputs,
    generate_inputs,
)
from shiba.core._engine_verification import error_text as _message
from shiba.core._engine_verification import verify as _verify
from shiba.core.errors import FailedPrecondition, ShibaError
from shiba.core.ids import ServableId
from shiba.core.loader import Loader
from shiba.core.servable import Outputs, Servable
from shiba.core.tensors import PREDICT_METHOD, DType, Signature, Tensors

__all__ = [
    "Tolerance",
    "DEFAULT_TOLERANCE",
    "EngineDecision",
    "Candidate",
    "CandidateBuilder",
    "VerificationInput",
    "ExtraInputs",
    "choose",
    "generate_inputs",
    "compare_outputs",
    "needs_candidate",
    "EngineChoiceServable",
    "EngineChoiceLoader",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Candidate:
    """What a candidate engine built for one version.

    ``servable`` runs the signatures the engine could build (a subset of the reference's, over the
    same specs), or is ``None`` when it built none; ``rejected`` says, per signature it did not
    build, why, in words that read after "tensorflow (" in a log line.
    """

    servable: Servable | None
    rejected: Mapping[str, str] = field(default_factory=dict)


#: Builds the candidate for a version from the reference's signatures. Raises ``ShibaError`` when
#: the engine cannot be used at all (its package is missing, for one).
CandidateBuilder = Callable[[Mapping[str, Signature]], Candidate]


#: Given the reference's signatures, extra verification inputs by signature name. Raises
#: ``ShibaError`` when they cannot be read (the version's load fails with it).
ExtraInputs = Callable[[Mapping[str, Signature]], Mapping[str, Sequence[VerificationInput]]]


def needs_candidate(signature: Signature) -> bool:
    """True for a predict signature whose inputs and outputs are all numeric tensors: those must
    run on the candidate when it is required (strings, tf.Example and classify/regress need not)."""
    return signature.method_name == PREDICT_METHOD and all(
        spec.dtype.is_numeric for spec in (*signature.inputs.values(), *signature.outputs.values())
    )


def _unrunnable(signature: Signature) -> bool:
    """True when a tensor of the signature is not a tensor (``DT_INVALID``): TF2's
    ``__saved_model_init_op``, whose one output is an operation. No engine can run it."""
    return any(
        spec.dtype is DType.DT_INVALID
        for spec in (*signature.inputs.values(), *signature.outputs.values())
    )


# -- the choice -------------------------------------------------------------------------------


def choose(
    reference: Servable,
    candidate: Servable | None,
    *,
    rejected: Mapping[str, str] | None = None,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    rng_seed: int = 0,
    batch_sizes: Sequence[int] = (1, 3),
    reference_engine: str = "tensorflow",
    candidate_engine: str = "openvino",
    extra_inputs: Mapping[str, Sequence[VerificationInput]] | None = None,
) -> tuple[EngineChoiceServable, dict[str, EngineDecision]]:
    """Verifies every signature ``candidate`` serves against ``reference``; routes each to one.

    For each of the reference's signatures, in order: if the candidate does not serve it, it stays
    on the reference with the reason from ``rejected``. Otherwise both run it on inputs generated
    for each batch size (the same arrays for both), then on the signature's ``extra_inputs`` (by
    signature name; warm-up records' inputs, already checked against the signature), and it goes
    to the candidate only if every output agrees within ``tolerance`` on every one of those
    inputs. A signature whose inputs cannot be generated stays on the reference even with extra
    inputs. A run that raises, on either engine, keeps it on the reference with the error as the
    reason (so a candidate bug never fails a load). Only signatures the candidate serves are run,
    so a signature with state is never run here.

    Deterministic for a given ``rng_seed``. Returns the routing servable, which owns both
    servables from now on, and the decisions by signature name, in the reference's order.
    """
    rng = np.random.default_rng(rng_seed)
    rejected = rejected or {}
    decisions: dict[str, EngineDecision] = {}
    for name, signature in reference.signatures.items():
        if candidate is None or name not in candidate.signatures:
            reason = rejected.get(name) or f"{candidate_engine} does not serve it"
            decisions[name] = EngineDecision(reference_engine, reason)
            continue
        theirs = candidate.signatures[name]
        if theirs.inputs != signature.inputs or theirs.outputs != signature.outputs:
            decisions[name] = EngineDecision(
                reference_engine,
                f"{candidate_engine} serves it with other tensor specs than {reference_engine}",
            )
            continue
        decisions[name] = _verify(
            name,
            signature,
            reference,
            candidate,
            rng=rng,
            tolerance=tolerance,
            batch_sizes=batch_sizes,
            engines=(reference_engine, candidate_engine),
            extra_inputs=(extra_inputs or {}).get(name, ()),
        )
    servable = EngineChoiceServable(reference, candidate, decisions, candidate_engine)
    return servable, decisions


class EngineChoiceServable:
    """One servable over two engines: each signature runs where its decision says.

    ``signatures`` is the reference's mapping, unchanged, so metadata stays byte-identical.
    ``run`` is thread-safe when both servables' are. When the candidate raises on a call and the
    reference is still held, the reference answers it, so an input the candidate rejects gets the
    reference's own answer or error (TensorFlow's wording). ``release_reference`` closes the
    reference once no signature needs it; ``close`` closes whatever is still held (both).
    """

    def __init__(
        self,
        reference: Servable,
        candidate: Servable | None,
        decisions: Mapping[str, EngineDecision],
        candidate_engine: str = "openvino",
    ) -> None:
        self._reference: Servable | None = reference
        self._candidate = candidate
        self._signatures = reference.signatures
        self._decisions = MappingProxyType(dict(decisions))
        self._on_candidate = frozenset(
            name
            for name, decision in decisions.items()
            if decision.engine == candidate_engine and candidate is not None
        )
        self._replayed: dict[str, ShibaError] = {}
        self._lock = threading.Lock()

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    @property
    def decisions(self) -> Mapping[str, EngineDecision]:
        """The decision per signature, in the reference's order."""
        return self._decisions

    @property
    def reference_released(self) -> bool:
        return self._reference is None

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        candidate = self._candidate
        if candidate is not None and signature_name in self._on_candidate:
            try:
                return candidate.run(signature_name, inputs, output_filter)
            except Exception as err:
                reference = self._reference
                if reference is None:
                    raise
                _log.debug(
                    "%s: the reference answers a call the candidate rejected: %s",
                    signature_name,
                    _message(err),
                )
                return reference.run(signature_name, inputs, output_filter)
        reference = self._reference
        if reference is not None:
            return reference.run(signature_name, inputs, output_filter)
        replayed = self._replayed.get(signature_name)
        if replayed is not None:
            raise type(replayed)(replayed.message, code=replayed.code)
        if self._candidate is None:
            raise FailedPrecondition("the servable is closed")
        raise FailedPrecondition(f'Serving signature key "{signature_name}" not found.')

    def release_reference(self) -> bool:
        """Closes the reference if the candidate serves at least one signature and every signature
        left to the reference is one no engine can run.

        Such a signature (a ``DT_INVALID`` tensor, as TF2's ``__saved_model_init_op``) is run once
        on the reference with no inputs, and the ``ShibaError`` it raises is raised again, as a new
        instance, by every later call: its answer stays the reference's. Returns True when the
        reference is released (or already was). Call it before serving, not concurrently with
        ``run``. After release, a call the candidate rejects fails with the candidate's error.
        """
        with self._lock:
            reference = self._reference
            if reference is None:
                return True
            if not self._on_candidate:
                return False
            replayed: dict[str, ShibaError] = {}
            for name, signature in self._signatures.items():
                if name in self._on_candidate:
                    continue
                if not _unrunnable(signature):
                    return False
                try:
                    reference.run(name, {})
                except ShibaError as err:
                    replayed[name] = err
                except Exception:
                    return False
                else:
                    return False
            self._replayed = replayed
            self._reference = None
        reference.close()
        return True

    def close(self) -> None:
        """Closes the candidate, then the reference (if still held). Idempotent."""
        with self._lock:
            candidate, self._candidate = self._candidate, None
            reference, self._reference = self._reference, None
        if candidate is not None:
            candidate.close()
        if reference is not None:
            reference.close()


class EngineChoiceLoader:
    """Wraps the reference's loader: ``load`` also builds the candidate, verifies it signature by
    signature, and returns one :class:`EngineChoiceServable`.

    ``build_candidate`` gets the reference's signatures, and so does ``extra_inputs`` (if given),
    which returns more inputs to verify on (:func:`choose`); when it raises, ``load`` unloads what
    it loaded and raises that error. With ``require_candidate`` False (the
    ``auto`` engine) anything the candidate cannot do, including the builder raising, leaves
    that signature on the reference, quietly; with True (the ``openvino`` engine) ``load`` raises
    ``FailedPrecondition`` when a numeric predict signature (:func:`needs_candidate`) does not end
    up on the candidate, or when the builder raises, after unloading what it loaded.

    Each decision is logged on one INFO line, e.g. ``signature serving_default of {name: ViT
    version: 1}: openvino (verified, max abs diff 3e-07)``; ``decisions`` holds them after a load
    and ``on_decisions`` (if given) receives them, for status and metrics.

    With ``release_reference`` (default), when every signature the reference could run is on the
    candidate, the reference is closed after verification: what TensorFlow holds for the version
    (its session and variables) goes back to TensorFlow's allocator for the next load. The cost:
    an input the candidate rejects then fails with the candidate's error message instead of
    TensorFlow's. ``unload`` closes both, then lets the inner loader free what it made.
    Not thread-safe: the manager never calls ``load`` and ``unload`` concurrently.
    """

    def __init__(
        self,
        inner: Loader,
        build_candidate: CandidateBuilder,
        *,
        servable_id: ServableId | None = None,
        require_candidate: bool = False,
        release_reference: bool = True,
        reference_engine: str = "tensorflow",
        candidate_engine: str = "openvino",
        on_decisions: Callable[[Mapping[str, EngineDecision]], None] | None = None,
        extra_inputs: ExtraInputs | None = None,
    ) -> None:
        self._inner = inner
        self._extra_inputs = extra_inputs
        self._build = build_candidate
        self._id = servable_id
        self._require = require_candidate
        self._release = release_reference
        self._reference_engine = reference_engine
        self._candidate_engine = candidate_engine
        self._on_decisions = on_decisions
        self._servable: EngineChoiceServable | None = None
        self._decisions: Mapping[str, EngineDecision] = MappingProxyType({})

    @property
    def decisions(self) -> Mapping[str, EngineDecision]:
        """The last load's decision per signature (empty before a load)."""
        return self._decisions

    def load(self) -> Servable:
        if self._servable is not None:
            return self._servable
        reference = self._inner.load()
        try:
            servable = self._choose(reference)
        except BaseException:
            self._inner.unload()
            raise
        self._servable = servable
        self._decisions = servable.decisions
        if self._on_decisions is not None:
            self._on_decisions(servable.decisions)
        return servable

    def _choose(self, reference: Servable) -> EngineChoiceServable:
        engine = self._candidate_engine
        extra = self._extra_inputs(reference.signatures) if self._extra_inputs is not None else {}
        candidate: Servable | None = None
        rejected: dict[str, str] = {}
        try:
            built = self._build(reference.signatures)
        except Exception as err:
            if self._require:
                raise FailedPrecondition(
                    f"{self._describe_id()} cannot run on {engine}: {_message(err)}"
                ) from err
            _log.debug("%s: no %s candidate", self._describe_id(), engine, exc_info=True)
            rejected = {
                name: f"{engine} unavailable: {_message(err)}" for name in reference.signatures
            }
        else:
            candidate = built.servable
            rejected = dict(built.rejected)
        try:
            servable, decisions = choose(
                reference,
                candidate,
                rejected=rejected,
                reference_engine=self._reference_engine,
                candidate_engine=engine,
                extra_inputs=extra,
            )
        except BaseException:
            if candidate is not None:
                candidate.close()
            raise
        for name, decision in decisions.items():
            _log.info("signature %s of %s: %s", name, self._describe_id(), decision.describe())
        if self._require:
            missing = [
                f"{name}: {decision.reason}"
                for name, decision in decisions.items()
                if decision.engine != engine and needs_candidate(reference.signatures[name])
            ]
            if missing:
                if candidate is not None:
                    candidate.close()
                raise FailedPrecondition(
                    f"{self._describe_id()} cannot run on {engine} (the engine is set to {engine}; "
                    f"set it to auto to fall back to {self._reference_engine}): "
                    + "; ".join(missing)
                )
        if self._release and servable.release_reference():
            _log.info(
                "%s: every signature runs on %s; the %s servable is closed",
                self._describe_id(),
                engine,
                self._reference_engine,
            )
        return servable

    def _describe_id(self) -> str:
        return str(self._id) if self._id is not None else "the model"

    def unload(self) -> None:
        servable, self._servable = self._servable, None
        if servable is not None:
            servable.close()
        self._inner.unload()
