"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._zoo import Zoo, start_zoo

REPO = Path(__file__).resolve().parents[1]


def _find_tfserving_testdata() -> Path:
    env = os.environ.get("SHIBA_TESTDATA")
    if env:
        return Path(env)
    for base in (REPO, *REPO.parents):
        candidate = base / "shared" / "testdata" / "tfserving"
        if candidate.is_dir():
            return candidate
    raise RuntimeError("cannot find shared/testdata/tfserving beside the repository")


TFSERVING_TESTDATA = _find_tfserving_testdata()
#: The signatures of saved_model_half_plus_two_tf2_cpu, in the order TF Serving lists them.
TF2_SIGNATURES = [
    "__saved_model_init_op",
    "classify_x2_to_y3",
    "classify_x_to_y",
    "regress_x2_to_y3",
    "regress_x_to_y",
    "regress_x_to_y2",
    "serving_default",
]


@pytest.fixture(scope="session")
def tfserving_testdata() -> Path:
    """``shared/testdata/tfserving``: TensorFlow Serving's own test models (read-only)."""
    return TFSERVING_TESTDATA


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    """A server with the demo ViT, ``half`` and ``echo`` (``tests/_zoo.py``), for the session."""
    running = start_zoo(tmp_path_factory.mktemp("zoo"))
    yield running
    running.server.stop()
