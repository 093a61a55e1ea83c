"""The states a model version goes through, as TensorFlow Serving reports them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shiba.core.errors import Code
from shiba.core.ids import ServableId

__all__ = ["ManagerState", "ServableState", "VersionStatus"]


class ManagerState(enum.Enum):
    """TensorFlow Serving's ``ServableState::ManagerState`` (the status API's ``state``)."""

    START = "START"
    LOADING = "LOADING"
    AVAILABLE = "AVAILABLE"
    UNLOADING = "UNLOADING"
    END = "END"


#: The legal moves between states; anything else is a bug and raises at once.
TRANSITIONS: dict[ManagerState, frozenset[ManagerState]] = {
    ManagerState.START: frozenset({ManagerState.LOADING, ManagerState.END}),
    ManagerState.LOADING: frozenset({ManagerState.AVAILABLE, ManagerState.END}),
    ManagerState.AVAILABLE: frozenset({ManagerState.UNLOADING}),
    ManagerState.UNLOADING: frozenset({ManagerState.END}),
    ManagerState.END: frozenset(),
}


@dataclass(frozen=True, slots=True)
class ServableState:
    """One version's state, published on every change.

    ``error_code`` is OK unless the version failed (to load, or while unloading); then
    ``error_message`` says why, in words a user can act on.
    """

    id: ServableId
    state: ManagerState
    error_code: Code = Code.OK
    error_message: str = ""


#: What the status API returns for one version (the same record; named for its use).
VersionStatus = ServableState
