"""Test doubles shared by every test folder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shiba.core.errors import FailedPrecondition, InvalidArgument, NotFound
from shiba.core.servable import Outputs, Servable
from shiba.core.tensors import DEFAULT_SIGNATURE, DType, Signature, Tensors, TensorSpec

__all__ = ["Call", "FakeLoader", "FakeServable", "Compute", "echo", "simple_signature"]

#: Computes a signature's outputs: ``(signature_name, inputs) -> every output of the signature``.
Compute = Callable[[str, Tensors], Outputs]


def simple_signature(
    inputs: Sequence[str] = ("x",),
    outputs: Sequence[str] = ("y",),
    *,
    dtype: DType = DType.DT_FLOAT,
    shape: tuple[int, ...] | None = (-1, 2),
) -> Signature:
    """A predict signature whose inputs and outputs all have ``dtype`` and ``shape``."""
    return Signature(
        inputs={name: TensorSpec(dtype, shape, f"{name}:0") for name in inputs},
        outputs={name: TensorSpec(dtype, shape, f"{name}:0") for name in outputs},
    )


def echo(servable: FakeServable) -> Compute:
    """The default computation: output number i is a copy of input number ``i % len(inputs)``."""

    def compute(signature_name: str, inputs: Tensors) -> Outputs:
        signature = servable.signatures[signature_name]
        arrays = [inputs[name] for name in signature.inputs]
        return {
            name: np.array(arrays[i % len(arrays)], copy=True)
            for i, name in enumerate(signature.outputs)
        }

    return compute


@dataclass(frozen=True, slots=True)
class Call:
    """One ``run`` as the fake saw it (inputs as given, not copied)."""

    signature_name: str
    inputs: Mapping[str, npt.NDArray[Any]]
    output_filter: tuple[str, ...] | None
    thread_name: str


class FakeServable:
    """A configurable :class:`shiba.core.servable.Servable` for tests.

    - ``signatures``: what it serves (default: ``serving_default`` with float ``x`` -> ``y``, [-1, 2]).
    - ``compute``: computes every output of a signature from its inputs (default :func:`echo`);
      ``run`` then applies the output filter.
    - ``delay``: seconds each ``run`` sleeps before computing.
    - ``gate``: when set with :meth:`hold`, ``run`` blocks until :meth:`release` (to keep a
      batch thread busy deterministically); ``wait_for_calls`` tells when calls have entered ``run``.
    - ``fail_with(error, times)``: the next ``times`` calls (every call if None) raise ``error``.

    ``run`` records every call in ``calls`` (in the order they entered) before waiting or failing.
    It raises NotFound for an unknown signature, InvalidArgument for an unknown output alias, and
    FailedPrecondition after ``close``. Thread-safe.
    """

    def __init__(
        self,
        signatures: Mapping[str, Signature] | None = None,
        *,
        compute: Compute | None = None,
        delay: float = 0.0,
    ) -> None:
        self._signatures: Mapping[str, Signature] = (
            {DEFAULT_SIGNATURE: simple_signature()} if signatures is None else signatures
        )
        self.compute: Compute = echo(self) if compute is None else compute
        self.delay = delay
        self.close_count = 0
        self._calls: list[Call] = []
        self._cond = threading.Condition()
        self._gate = threading.Event()
        self._gate.set()
        self._failure: BaseException | None = None
        self._failures_left: int | None = None

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    @property
    def calls(self) -> list[Call]:
        """A snapshot of the calls so far."""
        with self._cond:
            return list(self._calls)

    @property
    def closed(self) -> bool:
        return self.close_count > 0

    def hold(self) -> None:
        """Makes every ``run`` from now on block until :meth:`release`."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def fail_with(self, error: BaseException | None, times: int | None = None) -> None:
        """Makes the next ``times`` calls (all calls if None) raise ``error``; None stops failing."""
        with self._cond:
            self._failure = error
            self._failures_left = times

    def wait_for_calls(self, count: int, timeout: float = 10.0) -> list[Call]:
        """Waits until ``count`` calls have entered ``run``; raises TimeoutError after ``timeout``."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._calls) >= count, timeout):
                raise TimeoutError(f"{len(self._calls)} calls after {timeout} s; wanted {count}")
            return list(self._calls)

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        if self.closed:
            raise FailedPrecondition("the fake servable was closed")
        signature = self._signatures.get(signature_name)
        if signature is None:
            raise NotFound(f"Serving signature name: {signature_name!r} not found in signature def")
        wanted = list(signature.outputs) if output_filter is None else list(output_filter)
        unknown = [name for name in wanted if name not in signature.outputs]
        if unknown:
            raise InvalidArgument(f"unknown output aliases {unknown}")
        call = Call(
            signature_name,
            dict(inputs),
            None if output_filter is None else tuple(output_filter),
            threading.current_thread().name,
        )
        with self._cond:
            self._calls.append(call)
            failure = self._failure
            if failure is not None and self._failures_left is not None:
                self._failures_left -= 1
                if self._failures_left <= 0:
                    self._failure = None
            self._cond.notify_all()
        self._gate.wait()
        if self.delay:
            time.sleep(self.delay)
        if failure is not None:
            raise failure
        outputs = self.compute(signature_name, inputs)
        return {name: outputs[name] for name in wanted}

    def close(self) -> None:
        with self._cond:
            self.close_count += 1


class FakeLoader:
    """Loads ``make()``'s servable after ``delay`` seconds, or raises ``fail`` (for ``fail_times``).

    Class-level ``live`` counts servables loaded and not yet unloaded, across all instances.
    """

    live = 0
    _lock = threading.Lock()

    def __init__(
        self,
        make: Callable[[], Servable],
        *,
        fail: Exception | None = None,
        fail_times: int = 1_000_000,
        gate: threading.Event | None = None,
    ) -> None:
        self._make = make
        self._fail = fail
        self._fail_times = fail_times
        self._gate = gate
        self.loads = 0
        self.unloads = 0
        self.servable: Servable | None = None

    def load(self) -> Servable:
        self.loads += 1
        if self._gate is not None:
            self._gate.wait(30)
        if self._fail is not None and self.loads <= self._fail_times:
            raise self._fail
        self.servable = self._make()
        with FakeLoader._lock:
            FakeLoader.live += 1
        return self.servable

    def unload(self) -> None:
        self.unloads += 1
        if self.servable is not None:
            self.servable.close()
            self.servable = None
            with FakeLoader._lock:
                FakeLoader.live -= 1
