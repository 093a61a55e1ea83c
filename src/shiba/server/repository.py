"""The model repository of the Open Inference Protocol's model_repository extension.

The repository is what a TensorFlow Serving user already configured, plus an optional folder:

- every model of the start-up config (``--model_name``/``--model_base_path`` or
  ``--model_config_file``) and of the config applied now, under its name and base path;
- with ``--model_repository=DIR``, every subfolder of ``DIR`` as a model of that name whose base
  path is the subfolder (its versions are numbered subfolders, as everywhere in shiba).

Loading and unloading change the served config through :class:`ConfigApplier`, as a reloaded
``--model_config_file`` does, so the lifecycle's guarantees hold: loading a model that is served
polls its folder again (a new version is AVAILABLE before the old one goes, and no request
fails), unloading waits for the requests in flight. A load that leaves no version AVAILABLE fails
with the versions' errors and takes a model that was not served before out of the config again.
A later change of ``--model_config_file`` replaces what the repository loaded, as it replaces any
config.

The repository decides the new model list; a function applies it: the applier's ``apply`` in one
process, or, on Ray Serve, one that has every replica apply it and returns once all did
(``integrations.ray_config``), so that a load or unload reaches every replica.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from shiba.core.errors import FailedPrecondition, NotFound
from shiba.core.lifecycle.manager import Manager
from shiba.core.lifecycle.source import ModelConfig
from shiba.core.lifecycle.states import ManagerState
from shiba.protocols.v2.repository import RepositoryModel
from shiba.server.reload import ConfigApplier

__all__ = ["ApplyModels", "Repository"]

#: Serves exactly the given models, returning once their loads are done (``ConfigApplier.apply``'s
#: contract); raises ``ShibaError`` if the config cannot be applied.
ApplyModels = Callable[[Sequence[ModelConfig]], None]

#: Triton's words for shiba's version states.
_STATES = {
    ManagerState.START: "LOADING",
    ManagerState.LOADING: "LOADING",
    ManagerState.AVAILABLE: "READY",
    ManagerState.UNLOADING: "UNLOADING",
    ManagerState.END: "UNAVAILABLE",
}


class Repository:
    """A :class:`~shiba.protocols.v2.repository.ModelRepository` over the applier's config.

    Thread-safe: loads and unloads are applied one at a time. ``apply`` applies a new model list
    (default: ``applier.apply``); whatever it does, ``applier`` must serve that list when it
    returns, as the repository then reads the applier's models and the manager's states.
    """

    def __init__(
        self,
        applier: ConfigApplier,
        manager: Manager,
        configured: Sequence[ModelConfig],
        directory: Path | None = None,
        *,
        apply: ApplyModels | None = None,
    ) -> None:
        self._applier = applier
        self._apply: ApplyModels = apply if apply is not None else applier.apply
        self._manager = manager
        self._configured = {model.name: model for model in configured}
        self._directory = directory
        self._lock = threading.Lock()

    def served(self) -> Sequence[str]:
        return [model.name for model in self._applier.models]

    def _folder_models(self) -> list[str]:
        if self._directory is None or not self._directory.is_dir():
            return []
        return sorted(p.name for p in self._directory.iterdir() if p.is_dir())

    def _find(self, name: str) -> ModelConfig | None:
        for model in self._applier.models:
            if model.name == name:
                return model
        if name in self._configured:
            return self._configured[name]
        if self._directory is not None and name not in ("", ".", "..") and "/" not in name:
            folder = self._directory / name
            try:
                found = folder.is_dir()
            except OSError:  # a name no folder can have (too long...): not in the repository
                found = False
            if found:
                return ModelConfig(name=name, base_path=folder.absolute())
        return None

    def index(self, ready_only: bool) -> list[RepositoryModel]:
        names = sorted(set(self.served()) | set(self._configured) | set(self._folder_models()))
        rows: list[RepositoryModel] = []
        for name in names:
            states = self._manager.model_states(name)
            if not states and not ready_only:
                rows.append(RepositoryModel(name, "", "UNAVAILABLE", "not loaded"))
            for state in reversed(states):
                row = RepositoryModel(
                    name, str(state.id.version), _STATES[state.state], state.error_message
                )
                if not ready_only or row.state == "READY":
                    rows.append(row)
        return rows

    def load(self, name: str) -> None:
        """Serves ``name`` (again); raises NotFound if the repository has no such model, or
        FailedPrecondition if no version of it is AVAILABLE after the load."""
        with self._lock:
            model = self._find(name)
            if model is None:
                raise NotFound(f"model '{name}' is not in the model repository{self._where()}")
            current = list(self._applier.models)
            was_served = any(m.name == name for m in current)
            wanted = [model if m.name == name else m for m in current]
            if not was_served:
                wanted.append(model)
            self._apply(wanted)
            states = self._manager.model_states(name)
            if any(s.state is ManagerState.AVAILABLE for s in states):
                return
            if not was_served:
                self._apply(current)
            errors = "; ".join(s.error_message for s in states if s.error_message)
            raise FailedPrecondition(
                f"failed to load model '{name}' from {model.base_path}: "
                + (errors or "no version folder found (versions are numbered subfolders)")
            )

    def unload(self, name: str) -> None:
        """Stops serving ``name`` once its requests in flight finish; raises NotFound if the
        repository has no such model (unloading a model that is not served is a no-op)."""
        with self._lock:
            if self._find(name) is None:
                raise NotFound(f"model '{name}' is not in the model repository{self._where()}")
            current = list(self._applier.models)
            if any(m.name == name for m in current):
                self._apply([m for m in current if m.name != name])

    def _where(self) -> str:
        if self._directory is None:
            return " (the configured models; --model_repository adds a folder of models)"
        return f" (the configured models and the subfolders of {self._directory})"
