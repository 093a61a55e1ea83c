from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from shiba.core.lifecycle.source import AspiredVersion, FileSystemSource, ModelConfig
from shiba.core.lifecycle.version_policy import All


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []

    def __call__(self, model_name: str, versions: Sequence[AspiredVersion]) -> None:
        self.calls.append((model_name, [v.id.version for v in versions]))

    @property
    def last(self) -> tuple[str, list[int]]:
        return self.calls[-1]


def make_version(base: Path, name: str, content: str = "x") -> Path:
    folder = base / name
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_text(content)
    return folder


def test_numeric_folders_latest_by_default(tmp_path: Path) -> None:
    make_version(tmp_path, "00000123")
    make_version(tmp_path, "7")
    make_version(tmp_path, "not-a-version")
    (tmp_path / "500").write_text("a file, not a folder")
    rec = Recorder()
    FileSystemSource([ModelConfig("m", tmp_path)], rec, poll_seconds=0).poll_once()
    assert rec.last == ("m", [123])


def test_policy_all(tmp_path: Path) -> None:
    make_version(tmp_path, "1")
    make_version(tmp_path, "2")
    rec = Recorder()
    FileSystemSource(
        [ModelConfig("m", tmp_path, version_policy=All())], rec, poll_seconds=0
    ).poll_once()
    assert rec.last == ("m", [1, 2])


def test_new_folder_waits_until_its_listing_is_stable(tmp_path: Path) -> None:
    make_version(tmp_path, "1")
    rec = Recorder()
    source = FileSystemSource([ModelConfig("m", tmp_path)], rec, poll_seconds=0)
    source.poll_once()
    assert rec.last == ("m", [1])
    folder = make_version(tmp_path, "2")
    source.poll_once()
    assert rec.last == ("m", [1])  # seen once: maybe still being copied
    (folder / "variables.index").write_text("more")
    source.poll_once()
    assert rec.last == ("m", [1])  # changed since: still copying
    source.poll_once()
    assert rec.last == ("m", [2])  # unchanged across two polls: complete
    (folder / "variables.index").write_text("touched later")
    source.poll_once()
    assert rec.last == ("m", [2])  # once complete, stays complete


def test_empty_folder_is_not_a_version(tmp_path: Path) -> None:
    (tmp_path / "3").mkdir()
    rec = Recorder()
    source = FileSystemSource([ModelConfig("m", tmp_path)], rec, poll_seconds=0)
    source.poll_once()
    source.poll_once()
    assert rec.last == ("m", [])


def test_missing_base_path_and_removed_models(tmp_path: Path) -> None:
    rec = Recorder()
    source = FileSystemSource([ModelConfig("m", tmp_path / "nope")], rec, poll_seconds=0)
    source.poll_once()
    assert rec.last == ("m", [])
    source.set_models([])
    source.poll_once()
    assert rec.calls[-1] == ("m", [])


def test_removed_version_leaves_the_aspired_set(tmp_path: Path) -> None:
    make_version(tmp_path, "1")
    v2 = make_version(tmp_path, "2")
    rec = Recorder()
    source = FileSystemSource([ModelConfig("m", tmp_path)], rec, poll_seconds=0)
    source.poll_once()
    assert rec.last == ("m", [2])
    for child in v2.iterdir():
        child.unlink()
    v2.rmdir()
    source.poll_once()
    source.poll_once()
    assert rec.last == ("m", [1])


def test_aspired_versions_carry_the_models_platform_and_engine(tmp_path: Path) -> None:
    make_version(tmp_path, "1")
    seen: list[AspiredVersion] = []

    def record(model_name: str, versions: Sequence[AspiredVersion]) -> None:
        seen.extend(versions)

    model = ModelConfig("m", tmp_path, platform="tensorflow", engine="openvino")
    FileSystemSource([model], record, poll_seconds=0).poll_once()
    assert [(v.platform, v.engine) for v in seen] == [("tensorflow", "openvino")]


def test_a_model_added_back_takes_its_folders_as_they_are(tmp_path: Path) -> None:
    make_version(tmp_path, "1")
    rec = Recorder()
    model = ModelConfig("m", tmp_path)
    source = FileSystemSource([model], rec, poll_seconds=0)
    source.poll_once()
    source.set_models([])
    source.poll_once()
    assert rec.last == ("m", [])
    source.set_models([model])
    source.poll_once()
    assert rec.last == ("m", [1])  # at once, as when it was first polled
