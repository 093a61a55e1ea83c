"""Choosing an engine per signature: a faster *candidate* engine serves a signature only where its
answers agree with the *reference* engine's.

The reference servable (TensorFlow, for a SavedModel) is loaded as always; a candidate servable
(OpenVINO) is built for the same version by another runtime, over the same ``Signature`` objects.
:func:`choose` runs both on the same generated inputs and keeps, per signature, the candidate where
every output agrees within :class:`Tolerance` and the reference elsewhere. The result is one
:class:`EngineChoiceServable`, so warm-up, batching and every front end see nothing new.
:class:`EngineChoiceLoader` is the same step as a ``Loader`` wrapping the reference's loader, as
``BatchingLoader`` wraps a loader. Nothing here knows a framework: engines are names in messages.

**The tolerance** (:data:`DEFAULT_TOLERANCE`): a float output agrees when, elementwise,
``|candidate - reference| <= atol + rtol * |reference|`` with ``atol = 1e-5`` and ``rtol = 1e-4``
(``numpy.allclose``, NaN equal to NaN); integer, bool and string outputs must be equal, and shapes
and dtypes must match exactly. Why these numbers:

- Two correct float32 engines differ by rounding alone: they sum in a different order, fuse
  multiply-adds and approximate ``exp``/``erf`` differently. On the demo ViT (4 encoder blocks,
  softmax outputs in [0, 1]) OpenVINO at f32 differs from TensorFlow by 1.2e-7 to 6.3e-7 (on
  pixels, and on the generated inputs below), 1 to 5 float32 ulps at 1.0; deeper graphs
  accumulate more, roughly with the square root of the reduction length (about 4e-6 relative for
  1024-long sums). ``rtol = 1e-4`` leaves 25 to 150 times that margin, so a correct conversion is
  not refused for rounding.
- A wrong conversion or a lower precision is far larger: the same ViT at OpenVINO's default
  precision on this CPU (bf16, 8 mantissa bits) drifts by up to 6e-3, 60 times ``rtol`` and 600
  times ``atol``; a dropped op or a swapped output is off by whole units. Both are refused.
- ``atol`` covers values near zero (softmax tails, ReLU zeros), where a relative bound means
  nothing: 1e-5 is 15 times the observed absolute noise and 600 times below the bf16 drift.
- What a user can observe: TensorFlow Serving prints float32 values with up to 9 significant
  digits, so the last digits of a prediction may differ from TensorFlow's (as they already do
  between TensorFlow builds with and without oneDNN). A decision taken on the values, an argmax or
  a threshold, changes only when two scores lie within ``1e-5 + 1e-4 * |score|`` of each other.

Inputs are generated from each signature's specs (:func:`generate_inputs`): floats uniform in
[-1, 1), integers in {0, 1, 2} (valid as indices into any table), random bools; a dimension of -1
takes the batch size; a signature with an input of unknown rank cannot be verified and stays on
the reference. The version's warm-up records add real inputs: each predict record's inputs are
run on both engines too (after the generated ones, same tolerance), so a candidate that drifts on
real data keeps its signature on the reference (``shiba.core.warmup`` supplies them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

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
class Tolerance:
    """How far a candidate's float output may be from the reference's (see the module docstring)."""

    atol: float = 1e-5
    rtol: float = 1e-4

    def describe(self) -> str:
        return f"atol {self.atol:g} + rtol {self.rtol:g} x |value|"


#: The tolerance justified in the module docstring.
DEFAULT_TOLERANCE = Tolerance()


@dataclass(frozen=True, slots=True)
class EngineDecision:
    """Which engine serves one signature, and why.

    ``max_abs_diff`` is the largest absolute difference seen between the engines' float outputs
    when the signature was verified (0.0 for exact outputs), ``None`` when it was not compared.
    """

    engine: str
    reason: str
    max_abs_diff: float | None = None

    def describe(self) -> str:
        """``openvino (verified, max abs diff 3e-07)``: the engine, then the reason."""
        return f"{self.engine} ({self.reason})"


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


@dataclass(frozen=True, slots=True)
class VerificationInput:
    """Inputs to verify one signature on besides the generated ones: ``inputs`` passed the
    service's checks for it; ``label`` names them in a decision's reason (``warm-up record 3``)."""

    label: str
    inputs: Tensors


#: Given the reference's signatures, extra verification inputs by signature name. Raises
#: ``ShibaError`` when they cannot be read (the version's load fails with it).
ExtraInputs = Callable[[Mapping[str, Signature]], Mapping[str, Sequence[VerificationInput]]]


class _Unverifiable(ValueError):
    """A signature whose inputs cannot be generated."""


# -- inputs and comparison --------------------------------------------------------------------


def generate_inputs(
    signature: Signature, batch_size: int, rng: np.random.Generator
) -> dict[str, npt.NDArray[Any]]:
    """Random inputs for ``signature``: floats in [-1, 1), integers in {0, 1, 2}, random bools.

    Every dimension of -1 is ``batch_size``. Raises ``ValueError`` for an input of unknown rank or
    of a type without numeric values in numpy (strings, ``DT_INVALID``, bfloat16).
    """
    arrays: dict[str, npt.NDArray[Any]] = {}
    for alias, spec in signature.inputs.items():
        if spec.shape is None:
            raise _Unverifiable(f"input {alias} has unknown rank")
        if not spec.dtype.is_numeric:
            raise _Unverifiable(f"input {alias} is {spec.dtype.name}, not a numeric tensor")
        shape = tuple(batch_size if dim < 0 else dim for dim in spec.shape)
        arrays[alias] = _random(spec.dtype, shape, rng)
    return arrays


def _random(dtype: DType, shape: tuple[int, ...], rng: np.random.Generator) -> npt.NDArray[Any]:
    target = dtype.numpy
    if target.kind == "f":
        return rng.uniform(-1.0, 1.0, shape).astype(target)
    if target.kind == "c":
        return (rng.uniform(-1.0, 1.0, shape) + 1j * rng.uniform(-1.0, 1.0, shape)).astype(target)
    if target.kind == "b":
        return rng.integers(0, 2, shape).astype(target)
    return rng.integers(0, 3, shape).astype(target)


def compare_outputs(
    signature: Signature, reference: Outputs, candidate: Outputs, tolerance: Tolerance
) -> tuple[float, str | None]:
    """``(max abs diff, problem)``: ``problem`` is ``None`` when every output agrees.

    Outputs must have the signature's aliases, the reference's shapes and dtypes, float values
    within ``tolerance`` (NaN where the reference has NaN) and other values equal.
    """
    if set(candidate) != set(reference):
        return 0.0, f"outputs {sorted(candidate)} instead of {sorted(reference)}"
    worst = 0.0
    for alias in signature.outputs:
        want = np.asarray(reference[alias])
        got = np.asarray(candidate[alias])
        if got.shape != want.shape:
            return worst, f"output {alias} has shape {list(got.shape)}, not {list(want.shape)}"
        if got.dtype != want.dtype:
            return worst, f"output {alias} is {got.dtype}, not {want.dtype}"
        if want.dtype.kind not in "fciub":
            if not np.array_equal(got, want):
                return worst, f"output {alias} differs"
            continue
        diff = _max_abs_diff(want, got)
        worst = max(worst, diff)
        if want.dtype.kind in "fc":
            if not np.allclose(got, want, rtol=tolerance.rtol, atol=tolerance.atol, equal_nan=True):
                return worst, (
                    f"output {alias} differs by up to {diff:.2g}, beyond {tolerance.describe()}"
                )
        elif not np.array_equal(got, want):
            return worst, f"output {alias} differs by up to {diff:.2g} (integers must be equal)"
    return worst, None


def _max_abs_diff(want: npt.NDArray[Any], got: npt.NDArray[Any]) -> float:
    if want.size == 0:
        return 0.0
    if want.dtype.kind == "b":
        return float(np.count_nonzero(want != got) > 0)
    wide = np.complex128 if want.dtype.kind == "c" else np.float64
    with np.errstate(invalid="ignore", over="ignore"):
        same = want == got
        if want.dtype.kind in "fc":
            same |= np.isnan(want) & np.isnan(got)
        diff = np.abs(got.astype(wide) - want.astype(wide))
    # A NaN on one side only is as far as values get.
    return float(np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff)).max())


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


@dataclass(frozen=True, slots=True)
class _Trial:
    """One set of inputs to compare the engines on, and how a reason names it."""

    inputs: Tensors
    rejected: str  # "not verifiable: tensorflow rejects <rejected> (...)"
    failed_on: str  # "openvino failed on <failed_on>: ..."
    disagrees: str  # "openvino disagrees <disagrees>: ..."


def _verify(
    name: str,
    signature: Signature,
    reference: Servable,
    candidate: Servable,
    *,
    rng: np.random.Generator,
    tolerance: Tolerance,
    batch_sizes: Sequence[int],
    engines: tuple[str, str],
    extra_inputs: Sequence[VerificationInput] = (),
) -> EngineDecision:
    reference_engine, candidate_engine = engines
    trials: list[_Trial] = []
    seen: set[tuple[tuple[int, ...], ...]] = set()
    for batch_size in batch_sizes:
        try:
            inputs = generate_inputs(signature, batch_size, rng)
        except _Unverifiable as err:
            return EngineDecision(reference_engine, f"not verifiable: {err}")
        shapes = tuple(array.shape for array in inputs.values())
        if shapes in seen:
            continue
        seen.add(shapes)
        batch = f"generated inputs of batch {batch_size}"
        trials.append(_Trial(inputs, "generated inputs", batch, f"at batch {batch_size}"))
    trials.extend(
        _Trial(extra.inputs, extra.label, extra.label, f"on {extra.label}")
        for extra in extra_inputs
    )
    worst = 0.0
    for trial in trials:
        try:
            want = reference.run(name, trial.inputs)
        except Exception as err:
            return EngineDecision(
                reference_engine,
                f"not verifiable: {reference_engine} rejects {trial.rejected} ({_message(err)})",
            )
        try:
            got = candidate.run(name, trial.inputs)
        except Exception as err:
            return EngineDecision(
                reference_engine,
                f"{candidate_engine} failed on {trial.failed_on}: {_message(err)}",
            )
        diff, problem = compare_outputs(signature, want, got, tolerance)
        worst = max(worst, diff)
        if problem is not None:
            return EngineDecision(
                reference_engine,
                f"{candidate_engine} disagrees {trial.disagrees}: {problem}",
                diff,
            )
    return EngineDecision(candidate_engine, f"verified, max abs diff {worst:.2g}", worst)


def _message(err: BaseException) -> str:
    return err.message if isinstance(err, ShibaError) else f"{type(err).__name__}: {err}"


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
        tolerance: Tolerance = DEFAULT_TOLERANCE,
        rng_seed: int = 0,
        batch_sizes: Sequence[int] = (1, 3),
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
        self._tolerance = tolerance
        self._rng_seed = rng_seed
        self._batch_sizes = tuple(batch_sizes)
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
                tolerance=self._tolerance,
                rng_seed=self._rng_seed,
                batch_sizes=self._batch_sizes,
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
