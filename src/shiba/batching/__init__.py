"""Dynamic batching: a Servable that wraps a Servable. Imports core only.

``BatchingServable`` merges concurrent requests to the servable it wraps into batches, as TensorFlow
Serving's ``BatchingSession`` over a ``SharedBatchScheduler``; ``BatchingOptions`` holds TensorFlow
Serving's ``BatchingParameters``.
"""

from shiba.batching.batcher import BatchingServable, OnBatch
from shiba.batching.loader import BatchingLoader
from shiba.batching.options import BatchingOptions

__all__ = ["BatchingLoader", "BatchingOptions", "BatchingServable", "OnBatch"]
