"""The Servable protocol: a loaded model version that runs signatures."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable

import numpy.typing as npt

from shiba.core.tensors import Signature, Tensors

__all__ = ["Servable", "SubmittingServable", "Outputs"]

#: What a run returns: output alias -> array, in the signature's output order.
Outputs = dict[str, npt.NDArray[Any]]


@runtime_checkable
class Servable(Protocol):
    """A loaded model version.

    Thread safety: ``run`` is called concurrently from many threads; a servable serialises internally
    if its framework needs it. It never loads or unloads itself: its loader owns it, and the manager
    calls ``close`` (through the loader) only after the last request holding it has finished.

    ``run`` is given exactly the signature's inputs, already cast to the signature's dtypes (the
    service does that); shapes are the framework's to check, as in TensorFlow Serving. ``output_filter`` is ``None`` for every output, or a
    non-empty subset of the signature's output aliases. It returns arrays keyed by output alias.
    Errors in the caller's input that only the framework can see are raised as
    ``shiba.core.errors.InvalidArgument``; anything else as ``ShibaError`` with the fitting code.
    """

    @property
    def signatures(self) -> Mapping[str, Signature]: ...

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs: ...

    def close(self) -> None: ...


@runtime_checkable
class SubmittingServable(Servable, Protocol):
    """A servable that runs work on threads of its own (a batcher) and answers with a future.

    The service awaits ``submit_async``'s future instead of running ``run`` on its executor, so
    that a request waiting for its batch holds no thread. ``submit_async`` is called on the thread
    running the event loop, and its future is completed there (a batcher wakes the loop once per
    batch, not once per request); ``submit`` is the same for any other thread.
    """

    def submit(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Future[Outputs]: ...

    def submit_async(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> asyncio.Future[Outputs]: ...
