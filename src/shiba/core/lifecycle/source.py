"""Sources say which versions of each model should be loaded; the file-system source polls folders.

A model's versions are the numeric subfolders of its base path (``00000123`` is version 123; other
names are ignored). The version policy picks among the complete ones, and the source hands the
manager the full aspired set of each model on every poll (an empty set means: unload it all).

When is a version folder complete? A version is offered to the manager only once it holds at least
one file and its listing -- every file's relative path, size and modification time -- is the same in
two consecutive polls, so a folder still being copied is not served half-loaded. Folders already
present when a model is first polled (at start-up, or when a config reload adds it) are taken as
they are, so that a server starts at once. A
complete folder that holds no model its runtime recognises is still offered: its load fails, and the
model's status says why (as TensorFlow Serving does). The safest way to publish a version remains
TensorFlow Serving's advice: write it elsewhere, then rename it into the base path.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shiba.core.ids import ServableId
from shiba.core.lifecycle.version_policy import Latest, VersionPolicy

__all__ = ["ModelConfig", "AspiredVersion", "AspiredVersionsCallback", "FileSystemSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """One served model: TensorFlow Serving's ``ModelConfig``.

    ``platform`` ``None`` lets the runtime be detected from each version folder's contents.
    ``version_labels`` maps a label (``stable``) to a version. ``engine`` (shiba's own
    ``tensorflow_engine``: "auto", "tensorflow" or "openvino") overrides the server's
    ``--tensorflow_engine`` for this model's SavedModels; ``None`` keeps the server's.
    """

    name: str
    base_path: Path
    platform: str | None = None
    version_policy: VersionPolicy = field(default_factory=Latest)
    version_labels: Mapping[str, int] = field(default_factory=dict)
    engine: str | None = None


@dataclass(frozen=True, slots=True)
class AspiredVersion:
    """A version a source wants loaded: its id, its folder, and the model's platform and engine
    (if given; see ``ModelConfig``)."""

    id: ServableId
    path: Path
    platform: str | None = None
    engine: str | None = None


class AspiredVersionsCallback(Protocol):
    """Receives a model's full aspired set; an empty sequence means every version should go."""

    def __call__(self, model_name: str, versions: Sequence[AspiredVersion]) -> None: ...


_Listing = tuple[tuple[str, int, int], ...]


def _listing(folder: Path) -> _Listing:
    entries: list[tuple[str, int, int]] = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:  # vanished while we looked: the folder is still changing
                entries.append((full, -1, -1))
                continue
            entries.append((os.path.relpath(full, folder), st.st_size, st.st_mtime_ns))
    entries.sort()
    return tuple(entries)


def _numbered_folders(base: Path) -> dict[int, Path]:
    found: dict[int, Path] = {}
    try:
        children = list(os.scandir(base))
    except OSError:
        return found
    for child in children:
        if child.name.isdigit() and child.is_dir():
            found[int(child.name)] = Path(child.path)
    return found


class FileSystemSource:
    """Polls each model's base path and emits its aspired versions.

    Threads: ``poll_once`` may be called from any thread (polls run one at a time); ``start`` runs it on a
    daemon thread every ``poll_seconds`` (0: poll once and stop). ``set_models`` swaps the model list
    (a config reload); models that disappear are emitted with an empty aspired set.
    """

    def __init__(
        self,
        models: Sequence[ModelConfig],
        callback: AspiredVersionsCallback,
        *,
        poll_seconds: float,
    ) -> None:
        self._models: dict[str, ModelConfig] = {m.name: m for m in models}
        self._callback = callback
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()  # one poll at a time: the loop's, or a config reload's
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scanned: set[tuple[str, Path]] = set()  # (model, base path) polled at least once
        self._previous: dict[Path, _Listing] = {}
        # Once complete, a folder stays complete while it exists: touching its files later must not
        # make a serving version look half-copied and get it unloaded.
        self._complete: set[Path] = set()
        self._removed: set[str] = set()
        self._warned_missing: set[Path] = set()

    def set_models(self, models: Sequence[ModelConfig]) -> None:
        with self._lock:
            new = {m.name: m for m in models}
            self._removed |= set(self._models) - set(new)
            self._removed -= set(new)
            self._models = new

    def poll_once(self) -> None:
        with self._poll_lock:
            self._poll_once()

    def _poll_once(self) -> None:
        with self._lock:
            models = list(self._models.values())
            removed, self._removed = self._removed, set()
        for name in sorted(removed):
            self._callback(name, [])
        # A model added back later is new again: its folders are taken as they are.
        self._scanned = {key for key in self._scanned if key[0] not in removed}
        current: dict[Path, _Listing] = {}
        seen: set[Path] = set()
        for model in models:
            key = (model.name, model.base_path)
            first = key not in self._scanned
            self._scanned.add(key)
            self._callback(model.name, self._aspired(model, first, current, seen))
        self._previous = current
        self._complete &= seen

    def _aspired(
        self, model: ModelConfig, first: bool, current: dict[Path, _Listing], seen: set[Path]
    ) -> list[AspiredVersion]:
        base = model.base_path
        if not base.is_dir():
            if base not in self._warned_missing:
                log.warning(
                    "model %s: base path %s is not a folder; nothing to serve", model.name, base
                )
                self._warned_missing.add(base)
            return []
        self._warned_missing.discard(base)
        complete: dict[int, Path] = {}
        for version, folder in _numbered_folders(base).items():
            seen.add(folder)
            if folder in self._complete:
                complete[version] = folder
                continue
            listing = _listing(folder)
            current[folder] = listing
            if not listing:
                continue
            if first or self._previous.get(folder) == listing:
                complete[version] = folder
                self._complete.add(folder)
        chosen = model.version_policy.select(complete)
        return [
            AspiredVersion(ServableId(model.name, v), complete[v], model.platform, model.engine)
            for v in sorted(chosen)
        ]

    def start(self) -> None:
        """Polls once now (so start-up sees the models at once), then on a thread if periodic."""
        self.poll_once()
        if self._poll_seconds > 0:
            self._thread = threading.Thread(target=self._loop, name="shiba-fs-source", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.poll_once()
            except Exception:
                log.exception("polling the model folders failed; trying again next time")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
