"""Models for the runtime tests, built once per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shiba.core.engine_choice import CandidateBuilder, EngineChoiceLoader
from shiba.core.loader import Loader
from shiba.core.servable import Servable
from shiba.runtimes import openvino
from shiba.runtimes.tensorflow import ExecutionMode, SavedModelLoader
from tests.models import (
    build_onnx_model,
    build_onnx_string_model,
    build_onnx_vit,
    build_tf_string_model,
)
from tests.runtimes._saved_models import OPTIONS, SID, LoadFn

#: Marks a test that needs the openvino package.
needs_openvino = pytest.mark.skipif(not openvino.available(), reason="openvino is not installed")

#: ``engine_choice(reference_loader, build_candidate, **EngineChoiceLoader options)``.
EngineChoiceFn = Callable[..., EngineChoiceLoader]


@pytest.fixture
def engine_choice() -> Iterator[EngineChoiceFn]:
    """Engine-choice loaders, as the composition root builds them (the candidate engine is
    OpenVINO unless told); every one made is unloaded at the end of the test."""
    loaders: list[EngineChoiceLoader] = []

    def make(inner: Loader, build_candidate: CandidateBuilder, **kwargs: Any) -> EngineChoiceLoader:
        kwargs.setdefault("candidate_engine", openvino.ENGINE)
        loader = EngineChoiceLoader(inner, build_candidate, **kwargs)
        loaders.append(loader)
        return loader

    yield make
    for loader in loaders:
        loader.unload()


@pytest.fixture(scope="session")
def onnx_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The version folder of ``build_onnx_model``."""
    return build_onnx_model(tmp_path_factory.mktemp("onnx_half_plus_two"))


@pytest.fixture(scope="session")
def onnx_string_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The version folder of ``build_onnx_string_model``."""
    return build_onnx_string_model(tmp_path_factory.mktemp("onnx_echo"))


@pytest.fixture(scope="session")
def onnx_vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The version folder of ``build_onnx_vit`` (the demo ViT's shape, untrained)."""
    return build_onnx_vit(tmp_path_factory.mktemp("onnx_vit"))


@pytest.fixture(scope="session")
def tf_string_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The version folder of ``build_tf_string_model`` (imports TensorFlow)."""
    return build_tf_string_model(tmp_path_factory.mktemp("tf_strings"))


@pytest.fixture(scope="module")
def load_saved_model(tfserving_testdata: Path) -> Iterator[LoadFn]:
    """``load_saved_model(relative_dir, mode="auto")``: a servable of a TF Serving test model.

    One per folder and mode for the test module, unloaded at its end.
    """
    loaders: dict[tuple[str, str], SavedModelLoader] = {}

    def load(relative: str, mode: ExecutionMode = "auto") -> Servable:
        key = (relative, mode)
        if key not in loaders:
            loaders[key] = SavedModelLoader(SID, tfserving_testdata / relative, OPTIONS, mode=mode)
        return loaders[key].load()

    yield load
    for loader in loaders.values():
        loader.unload()


@pytest.fixture(scope="session")
def torch_script_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The version folder of ``build_torch_script`` (``model.pt`` + ``signature.json``)."""
    from tests.torch_models import build_torch_script

    return build_torch_script(tmp_path_factory.mktemp("torch_script"))


@pytest.fixture(scope="session")
def torch_export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The version folder of ``build_torch_export`` (``model.pt2``)."""
    from tests.torch_models import build_torch_export

    return build_torch_export(tmp_path_factory.mktemp("torch_export"))
