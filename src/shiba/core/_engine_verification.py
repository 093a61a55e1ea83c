"""Verifying one signature of a candidate engine against the reference engine: the tolerance, the
generated inputs, the comparison of outputs and the trials :func:`shiba.core.engine_choice.choose`
decides on.

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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shiba.core.errors import ShibaError
from shiba.core.servable import Outputs, Servable
from shiba.core.tensors import DType, Signature, Tensors

__all__ = [
    "Tolerance",
    "DEFAULT_TOLERANCE",
    "EngineDecision",
    "VerificationInput",
    "generate_inputs",
    "compare_outputs",
    "verify",
    "error_text",
]


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
class VerificationInput:
    """Inputs to verify one signature on besides the generated ones: ``inputs`` passed the
    service's checks for it; ``label`` names them in a decision's reason (``warm-up record 3``)."""

    label: str
    inputs: Tensors


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


# -- verifying one signature ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Trial:
    """One set of inputs to compare the engines on, and how a reason names it."""

    inputs: Tensors
    rejected: str  # "not verifiable: tensorflow rejects <rejected> (...)"
    failed_on: str  # "openvino failed on <failed_on>: ..."
    disagrees: str  # "openvino disagrees <disagrees>: ..."


def verify(
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
    """The decision for signature ``name``, which ``candidate`` serves with the reference's specs:
    both run it on the trials :func:`shiba.core.engine_choice.choose` describes, in order."""
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
                f"not verifiable: {reference_engine} rejects {trial.rejected} ({error_text(err)})",
            )
        try:
            got = candidate.run(name, trial.inputs)
        except Exception as err:
            return EngineDecision(
                reference_engine,
                f"{candidate_engine} failed on {trial.failed_on}: {error_text(err)}",
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


def error_text(err: BaseException) -> str:
    """``err`` as a reason quotes it: a ``ShibaError``'s message, else its type and text."""
    return err.message if isinstance(err, ShibaError) else f"{type(err).__name__}: {err}"
