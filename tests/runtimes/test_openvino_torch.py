"""The OpenVINO engine on PyTorch models, chosen against torch (the ``pytorch`` runtime)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shiba.core.engine_choice import EngineChoiceLoader, EngineChoiceServable
from shiba.core.errors import FailedPrecondition
from shiba.core.ids import ServableId
from shiba.core.tensors import DEFAULT_SIGNATURE
from shiba.runtimes import openvino, torch
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.openvino import _torch
from shiba.runtimes.torch import TorchLoader
from tests.runtimes.conftest import EngineChoiceFn, needs_openvino
from tests.torch_models import IMAGE_SHAPE, build_torch_script, torch_answer

SID = ServableId("torch", 1)
OPTIONS = RuntimeOptions()


@pytest.fixture
def choose(engine_choice: EngineChoiceFn) -> Callable[..., EngineChoiceLoader]:
    """An engine-choice loader over the ``pytorch`` runtime, as the composition root builds it."""

    def make(version_dir: Path, **kwargs: Any) -> EngineChoiceLoader:
        return engine_choice(
            TorchLoader(SID, version_dir, OPTIONS),
            functools.partial(openvino.build_torch_candidate, version_dir, options=OPTIONS),
            servable_id=SID,
            reference_engine="torch",
            **kwargs,
        )

    return make


def test_the_model_files_are_the_torch_runtimes() -> None:
    assert set(_torch.TORCH_MODEL_FILES) == {torch.SCRIPT_FILE, torch.EXPORT_FILE}
    assert _torch.TORCH_MODEL_FILES[0] == torch.EXPORT_FILE  # served first when both are there


def test_without_openvino_the_error_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(FailedPrecondition, match=r"pip install 'shiba\[openvino\]'"):
        openvino.build_torch_candidate(Path("/nonexistent"), {}, OPTIONS)


@needs_openvino
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["script", "export"])
def test_a_conv_net_runs_on_openvino_once_verified(
    kind: str,
    choose: Callable[..., EngineChoiceLoader],
    torch_script_dir: Path,
    torch_export_dir: Path,
) -> None:
    version_dir = torch_script_dir if kind == "script" else torch_export_dir
    loader = choose(version_dir)
    servable = loader.load()
    assert isinstance(servable, EngineChoiceServable)
    decision = loader.decisions[DEFAULT_SIGNATURE]
    assert decision.engine == "openvino", decision.reason
    assert decision.reason.startswith("verified")
    image = np.random.default_rng(3).random((6, *IMAGE_SHAPE), dtype=np.float32)
    got = servable.run(DEFAULT_SIGNATURE, {"image": image})
    np.testing.assert_allclose(got["output_0"], torch_answer(version_dir, image), atol=1e-5)


@needs_openvino
@pytest.mark.slow
def test_loads_and_conversions_on_several_threads_at_once(
    choose: Callable[..., EngineChoiceLoader], torch_script_dir: Path, torch_export_dir: Path
) -> None:
    """As the manager's load threads do: PyTorch's loading and OpenVINO's conversion of it are
    not thread-safe on their own (see shiba.runtimes._torch_files)."""
    loaders = [choose(d) for d in (torch_script_dir, torch_export_dir) * 2]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda loader: loader.load(), loaders))
    reasons = [loader.decisions[DEFAULT_SIGNATURE].reason for loader in loaders]
    assert all(reason.startswith("verified") for reason in reasons), reasons


@needs_openvino
@pytest.mark.slow
def test_an_output_dtype_openvino_does_not_give_stays_on_torch(
    choose: Callable[..., EngineChoiceLoader], tmp_path: Path
) -> None:
    """A signature.json that declares float64 keeps the model on torch, with the reason."""
    version_dir = build_torch_script(tmp_path)
    (version_dir / "signature.json").write_text(
        '{"inputs": {"image": {"dtype": "float64", "shape": [-1, 3, 32, 32]}}}'
    )
    loader = choose(version_dir)
    loader.load()
    decision = loader.decisions[DEFAULT_SIGNATURE]
    assert decision.engine == "torch"
    assert "DT_DOUBLE" in decision.reason
