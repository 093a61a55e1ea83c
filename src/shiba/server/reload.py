"""Applying a model config: at start-up, from a re-read ``--model_config_file``, or by RPC.

A config is applied in TensorFlow Serving's order: hand the models to the source, poll at once,
wait for the loads, then assign version labels (a label may name only an AVAILABLE version, unless
``--allow_version_labels_for_unavailable_models`` lets a *new* label name one that is not loaded
yet). A config that fails leaves the labels as they were and says why; the models it names that did
load stay loaded, as in TensorFlow Serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from shiba.config.errors import ConfigError
from shiba.config.model_config import read_model_config_file
from shiba.core.errors import FailedPrecondition, ShibaError
from shiba.core.lifecycle.manager import Manager
from shiba.core.lifecycle.source import FileSystemSource, ModelConfig
from shiba.core.lifecycle.states import ManagerState

__all__ = ["ConfigApplier", "ConfigFilePoller"]

log = logging.getLogger("shiba.server")


class ConfigApplier:
    """Applies whole model configs, one at a time (thread-safe)."""

    def __init__(
        self,
        source: FileSystemSource,
        manager: Manager,
        *,
        allow_labels_for_unavailable_models: bool = False,
        load_wait_seconds: float | None = None,
    ) -> None:
        self._source = source
        self._manager = manager
        self._allow_unavailable = allow_labels_for_unavailable_models
        self._wait = load_wait_seconds
        self._lock = threading.Lock()
        self._models: tuple[ModelConfig, ...] = ()

    @property
    def models(self) -> tuple[ModelConfig, ...]:
        return self._models

    def apply(self, models: Sequence[ModelConfig]) -> None:
        """Serves exactly ``models``; raises FailedPrecondition if a version label cannot be set."""
        with self._lock:
            previous = {m.name for m in self._models}
            self._source.set_models(models)
            self._source.poll_once()
            self._manager.wait_until_idle(self._wait)
            self._models = tuple(models)
            for model in models:
                self._check_labels(model)
            for model in models:
                self._manager.set_version_labels(model.name, model.version_labels)
            for name in previous - {m.name for m in models}:
                self._manager.set_version_labels(name, {})

    def _check_labels(self, model: ModelConfig) -> None:
        available = {
            s.id.version
            for s in self._manager.model_states(model.name)
            if s.state is ManagerState.AVAILABLE
        }
        current = self._manager.labels(model.name)
        for label, version in model.version_labels.items():
            if version in available:
                continue
            if self._allow_unavailable and label not in current:
                continue
            raise FailedPrecondition(
                f"Request to assign label to version {version} of model {model.name}, which is "
                "not currently available for inference"
            )


class ConfigFilePoller:
    """Re-reads ``--model_config_file`` every ``poll_seconds`` and applies it when it changed.

    A file that cannot be read or parsed, or a config that fails to apply, is logged and the
    server keeps serving what it served.
    """

    def __init__(self, path: Path, applier: ConfigApplier, poll_seconds: float) -> None:
        self._path = path
        self._applier = applier
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_text: str | None = None
        self._last_error: str | None = None

    def start(self, initial_text: str | None) -> None:
        self._last_text = initial_text
        if self._poll_seconds > 0:
            self._thread = threading.Thread(
                target=self._loop, name="shiba-config-poll", daemon=True
            )
            self._thread.start()

    def poll_once(self) -> None:
        try:
            text, models = read_model_config_file(self._path)
        except ConfigError as exc:
            if str(exc) != self._last_error:
                log.error("%s; keeping the current config", exc)
                self._last_error = str(exc)
            return
        self._last_error = None
        if text == self._last_text:
            return
        self._last_text = text
        try:
            self._applier.apply(models)
        except ShibaError as exc:
            log.error(
                "model config file %s not applied: %s; keeping the current config", self._path, exc
            )
            return
        log.info("applied model config file %s: %s", self._path, ", ".join(m.name for m in models))

    def _loop(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.poll_once()
            except Exception:
                log.exception("reloading the model config file failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
