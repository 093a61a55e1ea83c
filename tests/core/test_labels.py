"""Class names from a version folder's assets.extra/labels.txt."""

from __future__ import annotations

from pathlib import Path

import pytest

from shiba.core.ids import ServableId
from shiba.core.labels import ClassLabels, read_labels
from tests.fakes import FakeLoader, FakeServable


def write(version: Path, data: bytes) -> None:
    (version / "assets.extra").mkdir(parents=True)
    (version / "assets.extra" / "labels.txt").write_bytes(data)


def test_one_name_a_line(tmp_path: Path) -> None:
    write(tmp_path, b"cat\r\ndog\n\nbig bird\n\n\n")
    assert read_labels(tmp_path) == ("cat", "dog", "", "big bird")
    assert read_labels(tmp_path / "missing") == ()


def test_unreadable_file_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, b"\xff\xfe not utf-8")
    assert read_labels(tmp_path) == ()
    assert "cannot read class names" in caplog.text


def test_recorded_while_loaded(tmp_path: Path) -> None:
    write(tmp_path, b"a\nb\n")
    labels, sid = ClassLabels(), ServableId("m", 1)
    loader = labels.tracked(FakeLoader(FakeServable), sid, tmp_path)
    assert labels.get(sid) == ()
    loader.load()
    assert labels.get(sid) == ("a", "b")
    loader.unload()
    assert labels.get(sid) == ()
