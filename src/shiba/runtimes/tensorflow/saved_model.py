"""The function path: a TF2 SavedModel restored by ``tf.saved_model.load``, run by its signature functions.

Used when the session loader cannot load a TF2 export (or when asked for explicitly). Each call goes
through the signature's concrete function with inputs by alias and gives outputs by alias: 3 to 10
times slower per call than a session callable on small models (figures in ``runtime.py``), so it is
the fallback, not the default.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shiba.core.errors import FailedPrecondition, InvalidArgument
from shiba.core.servable import Outputs
from shiba.core.tensors import Signature, Tensors
from shiba.runtimes._bases import SignedServable
from shiba.runtimes.tensorflow._errors import from_tf_error
from shiba.runtimes.tensorflow.signatures import (
    check_runnable,
    find_signature,
    select_outputs,
)

__all__ = ["FunctionServable", "load_function"]

_MAX_FILTERS = 256


def load_function(
    version_dir: Path, signatures: Mapping[str, Signature], tags: Collection[str]
) -> FunctionServable:
    """Restores the meta graph tagged ``tags`` of ``version_dir`` with ``tf.saved_model.load``.
    Raises what TensorFlow raises."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(version_dir), tags=sorted(tags))
    functions = {name: loaded.signatures[name] for name in signatures if name in loaded.signatures}
    return FunctionServable(loaded, functions, signatures, tf.errors.OpError)


class FunctionServable(SignedServable):
    """A Servable over a restored TF2 object. ``run`` is thread-safe (concrete functions are)."""

    def __init__(
        self,
        loaded: object,
        functions: Mapping[str, Callable[..., Mapping[str, Any]]],
        signatures: Mapping[str, Signature],
        op_error: type[Exception],
    ) -> None:
        self._loaded: object | None = loaded
        self._functions = dict(functions)
        super().__init__(signatures)
        self._op_error = op_error
        self._outputs: dict[tuple[str, tuple[str, ...] | None], tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def run(
        self, signature_name: str, inputs: Tensors, output_filter: Sequence[str] | None = None
    ) -> Outputs:
        """Runs one signature; raises as ``SessionServable.run`` does."""
        key = (signature_name, tuple(output_filter) if output_filter else None)
        outputs = self._outputs.get(key)
        if outputs is None:
            outputs = self._select(signature_name, output_filter)
        function = self._functions.get(signature_name)
        if function is None:
            raise FailedPrecondition(
                f'Serving signature key "{signature_name}" has no function in the restored '
                "SavedModel."
            )
        signature = self._signatures[signature_name]
        try:
            feeds = {alias: inputs[alias] for alias in signature.inputs}
        except KeyError as err:
            raise InvalidArgument(f"missing input {err.args[0]!r} of {signature_name}") from None
        try:
            results = function(**feeds)
        except self._op_error as err:
            raise from_tf_error(err) from None
        except (TypeError, ValueError) as err:
            # Raised while binding the arguments to the function's input signature.
            raise InvalidArgument(str(err)) from None
        return {alias: np.asarray(results[alias].numpy()) for alias in outputs}

    def _select(self, name: str, output_filter: Sequence[str] | None) -> tuple[str, ...]:
        signature = find_signature(self._signatures, name)
        check_runnable(name, signature)
        outputs = select_outputs(signature, output_filter)
        with self._lock:
            if len(self._outputs) < _MAX_FILTERS:
                self._outputs[(name, tuple(output_filter) if output_filter else None)] = outputs
        return outputs

    def close(self) -> None:
        """Drops the restored object; TensorFlow frees it when the last reference goes."""
        self._functions.clear()
        self._loaded = None
