"""The ``tensorflow`` runtime: SavedModels (TF1 and TF2) run as TensorFlow Serving runs them.

Importing this package does not import TensorFlow; ``SavedModelLoader.load`` does.
"""

from shiba.runtimes.tensorflow.runtime import ExecutionMode, SavedModelLoader, SavedModelRuntime

__all__ = ["SavedModelRuntime", "SavedModelLoader", "ExecutionMode"]
