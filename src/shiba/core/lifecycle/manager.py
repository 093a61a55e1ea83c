"""The manager: loads, serves and unloads model versions, and hands requests their handles.

It receives each model's aspired versions from a source, applies the transition policy
(``transition.next_actions``), runs loads and unloads on threads of its own, and publishes every
state change to its listeners. The request path reads an immutable snapshot of the available versions
(a dict swapped whole under the lock), so serving a request never waits for the manager.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shiba.core.errors import Code, InvalidArgument, NotFound, ShibaError
from shiba.core.ids import ModelSpec
from shiba.core.lifecycle.harness import Handle, Harness
from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.lifecycle.states import ManagerState, ServableState
from shiba.core.lifecycle.transition import next_actions
from shiba.core.loader import Loader
from shiba.core.servable import Servable

__all__ = ["Manager", "ManagerOptions", "StateListener"]

log = logging.getLogger(__name__)

StateListener = Callable[[ServableState], None]


@dataclass(frozen=True, slots=True)
class ManagerOptions:
    """How the manager loads.

    ``max_num_load_retries`` and ``load_retry_interval_seconds``: TensorFlow Serving's
    ``--max_num_load_retries`` (5) and ``--load_retry_interval_micros`` (one minute).
    ``num_load_threads``: versions loading at once.
    """

    num_load_threads: int = 2
    max_num_load_retries: int = 5
    load_retry_interval_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class _ModelView:
    versions: Mapping[int, Harness]  # the AVAILABLE ones
    latest: Harness | None
    labels: Mapping[str, int] = field(default_factory=dict)


class Manager:
    """Owns every version's harness. Thread-safe; ``acquire`` is the only call on the request path."""

    def __init__(
        self,
        loader_factory: Callable[[AspiredVersion], Loader],
        options: ManagerOptions | None = None,
        listeners: Sequence[StateListener] = (),
    ) -> None:
        self._factory = loader_factory
        self._options = options or ManagerOptions()
        self._listeners = list(listeners)
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._aspired: dict[str, dict[int, AspiredVersion]] = {}
        self._live: dict[str, dict[int, Harness]] = {}
        self._states: dict[str, dict[int, ServableState]] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._snapshot: dict[str, _ModelView] = {}
        self._busy = 0  # loads and unloads under way
        self._loads = ThreadPoolExecutor(
            max(1, self._options.num_load_threads), thread_name_prefix="shiba-load"
        )
        self._unloads = ThreadPoolExecutor(2, thread_name_prefix="shiba-unload")

    # -- the source's side ------------------------------------------------------------------

    def set_aspired_versions(self, model_name: str, versions: Sequence[AspiredVersion]) -> None:
        """A source's full aspired set for one model (an empty one unloads the model)."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._aspired[model_name] = {a.id.version: a for a in versions}
            self._reconcile(model_name)

    def set_version_labels(self, model_name: str, labels: Mapping[str, int]) -> None:
        with self._lock:
            self._labels[model_name] = dict(labels)
            self._publish_snapshot(model_name)

    # -- the request path -------------------------------------------------------------------

    def acquire(self, spec: ModelSpec) -> Handle:
        """A handle on the version ``spec`` names; raises NotFound when there is none available."""
        for _ in range(8):  # a version retired between reading the snapshot and taking a reference
            view = self._snapshot.get(spec.name)
            harness: Harness | None
            if view is None:
                harness = None
            elif spec.version is not None:
                harness = view.versions.get(spec.version)
            elif spec.label is not None:
                version = view.labels.get(spec.label)
                if version is None:
                    raise InvalidArgument(f"Unrecognized servable version label: {spec.label}")
                harness = view.versions.get(version)
            else:
                harness = view.latest
            if harness is None:
                raise NotFound(f"Servable not found for request: {spec.describe()}")
            handle = harness.acquire()
            if handle is not None:
                return handle
        raise NotFound(f"Servable not found for request: {spec.describe()}")

    # -- status -----------------------------------------------------------------------------

    def model_states(self, model_name: str) -> list[ServableState]:
        """Every version's latest state, newest version first (TensorFlow Serving's order)."""
        with self._lock:
            states = self._states.get(model_name, {})
            return [states[v] for v in sorted(states, reverse=True)]

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(set(self._states) | set(self._aspired))

    def labels(self, model_name: str) -> dict[str, int]:
        with self._lock:
            return dict(self._labels.get(model_name, {}))

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Blocks until no load or unload is under way; False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    # -- the lifecycle ----------------------------------------------------------------------

    def _reconcile(self, model_name: str) -> None:
        """Applies the transition policy to one model. Call with the lock held."""
        aspired = self._aspired.get(model_name, {})
        live = self._live.setdefault(model_name, {})
        actions = next_actions(aspired.keys(), {v: h.state for v, h in live.items()})
        for version in actions.forget:
            del live[version]
        for version in sorted(actions.load):
            wanted = aspired[version]
            try:
                loader = self._factory(wanted)
            except Exception as exc:  # a factory should not raise; keep the server up if it does
                log.exception("making a loader for %s failed", wanted.id)
                harness = Harness(wanted.id, wanted.path, _FailedLoader(exc))
            else:
                harness = Harness(wanted.id, wanted.path, loader)
            live[version] = harness
            self._publish_state(harness)
            self._busy += 1
            self._loads.submit(self._load, harness)
        for version in sorted(actions.unload):
            harness = live[version]
            harness.move_to(ManagerState.UNLOADING)
            self._publish_state(harness)
            self._busy += 1
            self._unloads.submit(self._unload, harness)
        if actions.unload or actions.forget:
            self._publish_snapshot(model_name)

    def _still_aspired(self, harness: Harness) -> bool:
        with self._lock:
            return harness.id.version in self._aspired.get(harness.id.name, {})

    def _load(self, harness: Harness) -> None:
        with self._lock:
            harness.move_to(ManagerState.LOADING)
            self._publish_state(harness)
        attempts = 1 + max(0, self._options.max_num_load_retries)
        error: BaseException | None = None
        for attempt in range(attempts):
            if attempt:
                log.info(
                    "retrying to load %s (attempt %d of %d)", harness.id, attempt + 1, attempts
                )
                if self._stopping.wait(self._options.load_retry_interval_seconds):
                    break
                if not self._still_aspired(harness):
                    break
            try:
                servable = harness.loader.load()
            except Exception as exc:
                error = exc
                log.warning("loading %s from %s failed: %s", harness.id, harness.path, exc)
                continue
            with self._lock:
                harness.servable = servable
                harness.move_to(ManagerState.AVAILABLE)
                self._publish_state(harness)
                self._publish_snapshot(harness.id.name)
                self._done_and_reconcile(harness.id.name)
            return
        code = error.code if isinstance(error, ShibaError) else Code.UNKNOWN
        message = str(error) if error is not None else "loading was cancelled"
        with self._lock:
            harness.move_to(ManagerState.END, code, message)
            self._publish_state(harness)
            self._done_and_reconcile(harness.id.name)

    def _unload(self, harness: Harness) -> None:
        harness.retire_and_wait()
        code, message = Code.OK, ""
        try:
            harness.loader.unload()
        except Exception as exc:
            log.exception("unloading %s failed", harness.id)
            code = exc.code if isinstance(exc, ShibaError) else Code.UNKNOWN
            message = f"unloading failed: {exc}"
        harness.servable = None
        with self._lock:
            harness.move_to(ManagerState.END, code, message)
            self._publish_state(harness)
            self._done_and_reconcile(harness.id.name)

    def _done_and_reconcile(self, model_name: str) -> None:
        self._busy -= 1
        if not self._stopping.is_set():
            self._reconcile(model_name)
        self._idle.notify_all()

    def _publish_state(self, harness: Harness) -> None:
        state = harness.snapshot()
        self._states.setdefault(harness.id.name, {})[harness.id.version] = state
        for listener in self._listeners:
            try:
                listener(state)
            except Exception:
                log.exception("a servable state listener failed")

    def _publish_snapshot(self, model_name: str) -> None:
        live = self._live.get(model_name, {})
        available = {v: h for v, h in live.items() if h.state is ManagerState.AVAILABLE}
        snapshot = dict(self._snapshot)
        if available or model_name in self._labels:
            latest = available[max(available)] if available else None
            snapshot[model_name] = _ModelView(available, latest, self._labels.get(model_name, {}))
        else:
            snapshot.pop(model_name, None)
        self._snapshot = snapshot

    def close(self) -> None:
        """Stops loading, then unloads every version once its in-flight requests have finished."""
        with self._lock:
            self._stopping.set()
            self._aspired.clear()
        self._loads.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._snapshot = {}
            harnesses = [
                h
                for live in self._live.values()
                for h in live.values()
                if h.state is ManagerState.AVAILABLE
            ]
            for harness in harnesses:
                harness.move_to(ManagerState.UNLOADING)
                self._publish_state(harness)
                self._busy += 1
                self._unloads.submit(self._unload, harness)
        self._unloads.shutdown(wait=True)


class _FailedLoader:
    def __init__(self, error: BaseException) -> None:
        self._error = error

    def load(self) -> Servable:
        raise self._error

    def unload(self) -> None:
        pass
