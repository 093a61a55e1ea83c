"""Class names of model versions: a version folder's ``assets.extra/labels.txt``, one name a line.

Line ``i`` names class ``i``: the ``i``-th entry of the last axis of a classifier's scores. The
file is read when the version loads (a version loaded without it has none); the server shows the
names through shiba's own REST route (``GET /shiba/v1/models[/{name}]``), never in TensorFlow
Serving's answers. A file that cannot be read as UTF-8 text is logged and ignored: the version is
served without names rather than not served.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from shiba.core.ids import ServableId
from shiba.core.loader import Loader
from shiba.core.servable import Servable

__all__ = ["LABELS_FILE", "MAX_LABELS_BYTES", "ClassLabels", "parse_labels", "read_labels"]

log = logging.getLogger("shiba.labels")

#: Where a version's class names are, relative to its folder.
LABELS_FILE = "assets.extra/labels.txt"
#: A bigger file is not a list of class names; it is ignored (with a warning).
MAX_LABELS_BYTES = 16 * 1024 * 1024


def read_labels(version_path: Path) -> tuple[str, ...]:
    """The names in ``version_path/assets.extra/labels.txt`` (line ends and trailing blank lines
    dropped); empty when there is no such file or it cannot be used (logged)."""
    path = version_path / LABELS_FILE
    try:
        if not path.is_file():
            return ()
        if path.stat().st_size > MAX_LABELS_BYTES:
            log.warning("%s is over %d bytes; serving without class names", path, MAX_LABELS_BYTES)
            return ()
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cannot read class names from %s (%s); serving without them", path, exc)
        return ()
    return parse_labels(text)


def parse_labels(text: str) -> tuple[str, ...]:
    """The class names of a labels file's text: one a line, line ends (``\n`` or ``\r\n``) and
    trailing blank lines dropped. ``shiba predict --labels`` reads its file with it too."""
    names = [line.rstrip("\r") for line in text.split("\n")]
    while names and not names[-1].strip():
        names.pop()
    return tuple(names)


class ClassLabels:
    """ServableId -> class names, for every loaded version that has them. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[ServableId, tuple[str, ...]] = {}

    def get(self, servable_id: ServableId) -> tuple[str, ...]:
        """The loaded version's class names (empty when it has none or is not loaded)."""
        with self._lock:
            return self._by_id.get(servable_id, ())

    def tracked(self, loader: Loader, servable_id: ServableId, version_path: Path) -> Loader:
        """``loader``, recording the version's names after each successful ``load`` and
        forgetting them at ``unload`` (before the inner unload)."""
        return _LabelledLoader(loader, servable_id, version_path, self)

    def _record(self, servable_id: ServableId, names: tuple[str, ...]) -> None:
        with self._lock:
            if names:
                self._by_id[servable_id] = names

    def _forget(self, servable_id: ServableId) -> None:
        with self._lock:
            self._by_id.pop(servable_id, None)


class _LabelledLoader:
    def __init__(
        self, inner: Loader, servable_id: ServableId, path: Path, labels: ClassLabels
    ) -> None:
        self._inner = inner
        self._id = servable_id
        self._path = path
        self._labels = labels

    def load(self) -> Servable:
        servable = self._inner.load()
        self._labels._record(self._id, read_labels(self._path))
        return servable

    def unload(self) -> None:
        self._labels._forget(self._id)
        self._inner.unload()
