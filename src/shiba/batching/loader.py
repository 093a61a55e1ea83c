"""``BatchingLoader``: a Loader whose servable is the wrapped loader's, behind a batcher."""

from __future__ import annotations

from shiba.batching.batcher import BatchingServable, OnBatch
from shiba.batching.options import BatchingOptions
from shiba.core.loader import Loader
from shiba.core.servable import Servable

__all__ = ["BatchingLoader"]


class BatchingLoader:
    """Wraps a loader so that every version it loads is served through its own batcher.

    ``unload`` closes the batcher first (running what is queued, then closing the inner servable),
    then lets the inner loader free what it made.
    """

    def __init__(
        self,
        inner: Loader,
        options: BatchingOptions,
        *,
        name: str = "",
        on_batch: OnBatch | None = None,
    ) -> None:
        self._inner = inner
        self._options = options
        self._name = name
        self._on_batch = on_batch
        self._servable: BatchingServable | None = None

    def load(self) -> Servable:
        servable = self._inner.load()
        batcher = BatchingServable(
            servable, self._options, name=self._name, on_batch=self._on_batch
        )
        batcher.start()
        self._servable = batcher
        return batcher

    def unload(self) -> None:
        batcher, self._servable = self._servable, None
        if batcher is not None:
            batcher.close()
        self._inner.unload()
