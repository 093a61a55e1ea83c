"""One version's lifecycle: its loader, its state and the references requests hold on it."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

from shiba.core.errors import Code
from shiba.core.ids import ServableId
from shiba.core.lifecycle.states import TRANSITIONS, ManagerState, ServableState
from shiba.core.loader import Loader
from shiba.core.servable import Servable

__all__ = ["Harness", "Handle"]


class Harness:
    """Holds one version through START -> LOADING -> AVAILABLE -> UNLOADING -> END.

    The manager owns it and changes its state under the manager's lock; requests touch only
    ``acquire``/``release``, which take the harness's own small lock. ``retire_and_wait`` (called by
    the manager, off the request path) stops new references and waits for the last one to go.
    """

    __slots__ = (
        "_cond",
        "_refs",
        "_retired",
        "error_code",
        "error_message",
        "id",
        "loader",
        "path",
        "servable",
        "state",
    )

    def __init__(self, servable_id: ServableId, path: Path, loader: Loader) -> None:
        self.id = servable_id
        self.path = path
        self.loader = loader
        self.servable: Servable | None = None
        self.state = ManagerState.START
        self.error_code = Code.OK
        self.error_message = ""
        self._cond = threading.Condition(threading.Lock())
        self._refs = 0
        self._retired = False

    def move_to(self, state: ManagerState, error_code: Code = Code.OK, message: str = "") -> None:
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(
                f"servable {self.id}: illegal transition {self.state.name} -> {state.name}"
            )
        self.state = state
        if error_code is not Code.OK:
            self.error_code = error_code
            self.error_message = message

    def snapshot(self) -> ServableState:
        return ServableState(self.id, self.state, self.error_code, self.error_message)

    def acquire(self) -> Handle | None:
        """A reference for one request, or ``None`` if the version is being unloaded."""
        with self._cond:
            if self._retired or self.servable is None:
                return None
            self._refs += 1
        return Handle(self.id, self.servable, self)

    def release(self) -> None:
        with self._cond:
            self._refs -= 1
            if self._refs == 0 and self._retired:
                self._cond.notify_all()

    def retire_and_wait(self) -> None:
        """Refuses new references, then blocks until every request holding one has released it."""
        with self._cond:
            self._retired = True
            while self._refs:
                self._cond.wait()


class Handle:
    """One request's reference to a loaded version; release it exactly once (``with`` does)."""

    __slots__ = ("_harness", "id", "servable")

    def __init__(self, servable_id: ServableId, servable: Servable, harness: Harness) -> None:
        self.id = servable_id
        self.servable = servable
        self._harness: Harness | None = harness

    def release(self) -> None:
        harness, self._harness = self._harness, None
        if harness is not None:
            harness.release()

    def __enter__(self) -> Handle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
