"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def tfserving_testdata() -> Path:
    """``shared/testdata/tfserving``: TensorFlow Serving's own test models (read-only)."""
    return TFSERVING_TESTDATA
