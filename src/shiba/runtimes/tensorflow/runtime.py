"""The ``tensorflow`` platform: SavedModels, served through a session as TensorFlow Serving does.

Choice of execution path (``mode="auto"``): every SavedModel, TF1 or TF2, is loaded into a
``tf.compat.v1.Session`` and run through session callables. TF1 exports with reference variables load
only this way, and it is also the fastest path for TF2 exports. Measured through ``Servable.run``
on a 2-core machine (TensorFlow 2.21 CPU, one calling thread, mean of 3000 calls after warm-up):

====================================  ==================  ==================================
model                                 session path        function path
====================================  ==================  ==================================
half_plus_two_tf2_cpu, 1 row          24 us               226 us
half_plus_two_cpu (TF1), 3 rows       22 us               211 us
Keras 3 ``export()``, Dense 4-8-3     113 us              341 us
====================================  ==================  ==================================

A TF2 export (one with an object graph) that the session loader rejects falls back to
``tf.saved_model.load``. ``mode="session"`` and ``mode="function"`` force one path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from shiba.core.errors import FailedPrecondition, ShibaError
from shiba.core.ids import ServableId
from shiba.core.loader import Loader
from shiba.core.servable import Servable
from shiba.runtimes._bases import VersionLoader
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.tensorflow._errors import from_tf_error, install_hint
from shiba.runtimes.tensorflow.signatures import (
    SAVED_MODEL_FILES,
    Export,
    find_saved_model,
    missing_saved_model,
    read_export,
)

__all__ = ["SavedModelRuntime", "SavedModelLoader", "ExecutionMode"]

_log = logging.getLogger(__name__)

#: How a SavedModel is executed: see the module docstring.
ExecutionMode = Literal["auto", "session", "function"]


class SavedModelRuntime:
    """Serves TensorFlow SavedModels (``saved_model.pb`` or ``saved_model.pbtxt``)."""

    platform: ClassVar[str] = "tensorflow"
    framework: ClassVar[str | None] = "tensorflow"
    extra: ClassVar[str | None] = "tensorflow"
    model_files: ClassVar[tuple[str, ...]] = SAVED_MODEL_FILES

    @classmethod
    def detect(cls, version_dir: Path) -> bool:
        return find_saved_model(version_dir) is not None

    def loader(self, servable_id: ServableId, version_dir: Path, options: RuntimeOptions) -> Loader:
        return SavedModelLoader(servable_id, version_dir, options)


class SavedModelLoader(VersionLoader[Servable]):
    """Loads one SavedModel version. Cheap to build; ``load`` imports TensorFlow and does the work.

    ``load`` raises ``ShibaError``: NotFound when the folder holds no SavedModel or no ``serve``
    meta graph, FailedPrecondition when TensorFlow is missing or the file is unreadable, and the code
    of TensorFlow's own error when TensorFlow cannot load the graph or its variables. Not thread-safe:
    the manager never calls ``load`` and ``unload`` concurrently.
    """

    def __init__(
        self,
        servable_id: ServableId,
        version_dir: Path,
        options: RuntimeOptions,
        mode: ExecutionMode = "auto",
    ) -> None:
        super().__init__(servable_id, version_dir, options)
        self.mode: ExecutionMode = mode

    def _build(self) -> Servable:
        if find_saved_model(self.version_dir) is None:
            raise missing_saved_model(self.version_dir)
        try:
            import tensorflow as tf
        except ImportError as err:
            raise install_hint(err) from err
        _configure_threads(tf, self.options)
        export = read_export(self.version_dir, self.options.saved_model_tags)
        return self._load(tf, export)

    def _load(self, tf: Any, export: Export) -> Servable:
        from shiba.runtimes.tensorflow.session import load_session

        if self.mode == "function":
            return _translate(lambda: self._load_function(export), tf)
        try:
            return _translate(
                lambda: load_session(self.version_dir, export.signatures, self.options), tf
            )
        except ShibaError as session_error:
            if self.mode == "session" or not export.has_object_graph:
                raise
            _log.warning(
                "%s: the session loader failed (%s); restoring the TF2 SavedModel instead",
                self.servable_id,
                session_error.message,
            )
            try:
                return _translate(lambda: self._load_function(export), tf)
            except ShibaError as function_error:
                raise type(session_error)(
                    f"{session_error.message} (tf.saved_model.load failed too: "
                    f"{function_error.message})",
                    code=session_error.code,
                ) from function_error

    def _load_function(self, export: Export) -> Servable:
        from shiba.runtimes.tensorflow.saved_model import load_function

        return load_function(self.version_dir, export.signatures, self.options.saved_model_tags)


def _translate(load: Callable[[], Servable], tf: Any) -> Servable:
    """Runs a TensorFlow load, turning its errors into ShibaErrors with TensorFlow's message."""
    try:
        return load()
    except ShibaError:
        raise
    except tf.errors.OpError as err:
        raise from_tf_error(err) from err
    except Exception as err:
        raise FailedPrecondition(f"TensorFlow cannot load this SavedModel: {err}") from err


def _configure_threads(tf: Any, options: RuntimeOptions) -> None:
    """Applies the thread counts to TensorFlow's eager context (the function path's pools).

    TensorFlow accepts them only before its context initialises; later a different value is logged
    and ignored, and the process keeps the pools it has.
    """
    settings = (
        (
            "intra-op",
            options.intra_op_threads,
            tf.config.threading.set_intra_op_parallelism_threads,
        ),
        (
            "inter-op",
            options.inter_op_threads,
            tf.config.threading.set_inter_op_parallelism_threads,
        ),
    )
    for name, value, setter in settings:
        if value <= 0:
            continue
        try:
            setter(value)
        except RuntimeError:
            _log.warning(
                "TensorFlow is already initialised: %s threads stay as they are (asked for %d)",
                name,
                value,
            )
