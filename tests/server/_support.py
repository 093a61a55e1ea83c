"""Helpers of the server tests: model folders of fake versions, and a config applier over a real
manager and source whose loaders are fakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shiba.core.lifecycle.manager import Manager, ManagerOptions
from shiba.core.lifecycle.source import AspiredVersion, FileSystemSource
from shiba.core.loader import Loader
from shiba.server.reload import ConfigApplier

__all__ = ["fake_applier", "model_folder"]


def model_folder(root: Path, name: str, *versions: int) -> Path:
    """``root/name``, holding a numbered folder (with one file) per version."""
    folder = root / name
    folder.mkdir(parents=True)
    for version in versions:
        (folder / str(version)).mkdir()
        (folder / str(version) / "model.bin").write_bytes(b"x")
    return folder


def fake_applier(make: Callable[[AspiredVersion], Loader]) -> tuple[Manager, ConfigApplier]:
    """A manager loading with ``make`` (no retries) and an applier over it and a source that
    polls only when told; the caller closes the manager."""
    manager = Manager(make, ManagerOptions(max_num_load_retries=0))
    source = FileSystemSource((), manager.set_aspired_versions, poll_seconds=0)
    return manager, ConfigApplier(source, manager)
