"""What every client shell shares, REST and gRPC, blocking and asyncio, without I/O of its own.

A shell is a client class over one transport (an httpx pool, a gRPC channel). Each keeps per-model
facts it has read (:class:`Remembered`; a TF Serving client its signatures,
:class:`KeptSignatures`), waits :func:`backoff` seconds between attempts, and is a
context manager that releases its transport on exit (:class:`SyncShell`, :class:`AsyncShell`:
the shell says how, in ``close``/``aclose``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from shiba.client._types import ModelMetadata, ModelRef, SignatureInfo
from shiba.client._v2_core import V2ModelMetadata
from shiba.core.tensors import DEFAULT_SIGNATURE

__all__ = [
    "BACKOFF_SECONDS",
    "backoff",
    "Remembered",
    "SyncShell",
    "AsyncShell",
    "KeptSignatures",
    "AsyncKeptSignatures",
]

#: The wait before the second attempt of a call; doubled before each further one.
BACKOFF_SECONDS = 0.1


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (0-based) before the next one."""
    return BACKOFF_SECONDS * float(2**attempt)


class Remembered:
    """Per-model facts a client reads once and keeps: signatures by (model, signature name), and
    the v2 clients' model metadata by (model name, version)."""

    def __init__(self) -> None:
        self._signatures: dict[tuple[ModelRef, str], SignatureInfo] = {}
        self._v2_metadata: dict[tuple[str, int | None], V2ModelMetadata] = {}

    def _remember(self, model: ModelRef, name: str, metadata: ModelMetadata) -> SignatureInfo:
        """Keeps and returns signature ``name`` of ``metadata`` (``KeyError`` naming the
        signatures there are when it has no such one)."""
        signature = metadata.signature(name)
        self._signatures[(model, name)] = signature
        return signature


class KeptSignatures(Remembered, ABC):
    """``signature`` for a blocking client of TF Serving's API (REST or gRPC), from its
    ``metadata``: read once per model (version, label) and signature name, then kept."""

    @abstractmethod
    def metadata(
        self, model: str, *, version: int | None = None, label: str | None = None
    ) -> ModelMetadata:
        """The version's signatures, read from the server."""

    def signature(
        self,
        model: str,
        signature: str = DEFAULT_SIGNATURE,
        *,
        version: int | None = None,
        label: str | None = None,
    ) -> SignatureInfo:
        """The signature's inputs and outputs (read once, then kept)."""
        ref = ModelRef(model, version, label)
        known = self._signatures.get((ref, signature))
        if known is not None:
            return known
        return self._remember(ref, signature, self.metadata(model, version=version, label=label))


class AsyncKeptSignatures(Remembered, ABC):
    """The asyncio twin of :class:`KeptSignatures`."""

    @abstractmethod
    async def metadata(
        self, model: str, *, version: int | None = None, label: str | None = None
    ) -> ModelMetadata:
        """The version's signatures, read from the server."""

    async def signature(
        self,
        model: str,
        signature: str = DEFAULT_SIGNATURE,
        *,
        version: int | None = None,
        label: str | None = None,
    ) -> SignatureInfo:
        """The signature's inputs and outputs (read once, then kept)."""
        ref = ModelRef(model, version, label)
        known = self._signatures.get((ref, signature))
        if known is not None:
            return known
        metadata = await self.metadata(model, version=version, label=label)
        return self._remember(ref, signature, metadata)


class SyncShell(ABC):
    """A blocking client: ``with`` it, or call ``close`` when done."""

    @abstractmethod
    def close(self) -> None:
        """Releases the client's connections; it cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncShell(ABC):
    """An asyncio client: ``async with`` it, or await ``aclose`` when done."""

    @abstractmethod
    async def aclose(self) -> None:
        """Releases the client's connections; it cannot be used afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
