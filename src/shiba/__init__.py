"""shiba: a model server in Python, a drop-in for TensorFlow Serving.

The public surface is ``shiba.__version__``, the custom-runtime API in ``shiba.runtimes.base`` and
the command line (``shiba``, ``tensorflow_model_server``). Everything else is internal.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
