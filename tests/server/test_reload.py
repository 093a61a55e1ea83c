"""``ConfigFilePoller``: a re-read of ``--model_config_file`` that fails keeps the config."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from shiba.core.lifecycle.source import AspiredVersion
from shiba.core.loader import Loader
from shiba.server.reload import ConfigApplier, ConfigFilePoller
from tests.fakes import FakeLoader, FakeServable
from tests.server._support import fake_applier, model_folder


@pytest.fixture
def applier() -> Iterator[ConfigApplier]:
    def make(wanted: AspiredVersion) -> Loader:
        return FakeLoader(FakeServable)

    manager, applier = fake_applier(make)
    yield applier
    manager.close()


def test_a_re_read_that_is_not_utf8_is_logged_and_keeps_the_config(
    tmp_path: Path, applier: ConfigApplier, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "models.config"
    a = model_folder(tmp_path, "a", 1)
    path.write_text(f'model_config_list {{ config {{ name: "a" base_path: "{a}" }} }}\n')
    poller = ConfigFilePoller(path, applier, poll_seconds=0)
    poller.poll_once()
    assert [m.name for m in applier.models] == ["a"]

    good = path.read_bytes()
    path.write_bytes(good.replace(b'"a"', b'"caf\xe9"'))  # Latin-1
    with caplog.at_level(logging.ERROR, logger="shiba.server"):
        poller.poll_once()
        poller.poll_once()  # the same fault is logged once
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"{path}: line 1: not UTF-8 text at byte 39 (0xe9); save --model_config_file as UTF-8;"
        " keeping the current config"
    ]
    assert [m.name for m in applier.models] == ["a"]

    path.write_bytes(good.replace(b'"a"', b'"b"').replace(b"/a", b"/b"))
    model_folder(tmp_path, "b", 1)
    poller.poll_once()
    assert [m.name for m in applier.models] == ["b"]
