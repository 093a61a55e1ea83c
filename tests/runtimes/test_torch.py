"""The PyTorch runtime on the conv nets of ``tests/torch_models.py``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from shiba.core.errors import FailedPrecondition, Internal, InvalidArgument, NotFound
from shiba.core.ids import ServableId
from shiba.core.tensors import DEFAULT_SIGNATURE, PREDICT_METHOD, DType, TensorSpec
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.torch import TorchLoader, TorchRuntime, TorchServable
from tests.torch_models import IMAGE_SHAPE, torch_answer

SID = ServableId("torch", 1)
OPTIONS = RuntimeOptions()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["script", "export"])
def loaded(
    request: pytest.FixtureRequest, torch_script_dir: Path, torch_export_dir: Path
) -> Iterator[tuple[Path, TorchServable]]:
    version_dir = torch_script_dir if request.param == "script" else torch_export_dir
    loader = TorchLoader(SID, version_dir, OPTIONS)
    yield version_dir, loader.load()
    loader.unload()


def test_detect(torch_script_dir: Path, torch_export_dir: Path, tmp_path: Path) -> None:
    assert TorchRuntime.detect(torch_script_dir)
    assert TorchRuntime.detect(torch_export_dir)
    assert not TorchRuntime.detect(tmp_path)
    assert isinstance(TorchRuntime().loader(SID, tmp_path, OPTIONS), TorchLoader)


def test_a_folder_without_model_fails_to_load(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"no model\.pt or model\.pt2 in"):
        TorchLoader(SID, tmp_path, OPTIONS).load()


def test_a_missing_torch_gives_an_install_hint(
    torch_script_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(FailedPrecondition, match=r"pip install 'shiba\[torch\]'"):
        TorchLoader(SID, torch_script_dir, OPTIONS).load()


def test_exported_programs_load_on_several_threads_at_once(torch_export_dir: Path) -> None:
    """torch.export.load alone fails when two run at once; the runtime takes turns."""
    loaders = [TorchLoader(ServableId("torch", v), torch_export_dir, OPTIONS) for v in range(4)]
    with ThreadPoolExecutor(4) as pool:
        servables = list(pool.map(lambda loader: loader.load(), loaders))
    assert all(DEFAULT_SIGNATURE in s.signatures for s in servables)
    for loader in loaders:
        loader.unload()


def test_a_corrupt_model_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"not a model")
    with pytest.raises(FailedPrecondition, match="torch cannot load"):
        TorchLoader(SID, tmp_path, OPTIONS).load()


def test_signature_from_the_file_or_signature_json(
    loaded: tuple[Path, TorchServable],
) -> None:
    _, servable = loaded
    signature = servable.signatures[DEFAULT_SIGNATURE]
    assert list(servable.signatures) == [DEFAULT_SIGNATURE]
    assert signature.method_name == PREDICT_METHOD
    assert dict(signature.inputs) == {
        "image": TensorSpec(DType.DT_FLOAT, (-1, *IMAGE_SHAPE), "image")
    }
    assert dict(signature.outputs) == {"output_0": TensorSpec(DType.DT_FLOAT, (-1, 10), "output_0")}


def test_answers_equal_torch_in_process(loaded: tuple[Path, TorchServable]) -> None:
    version_dir, servable = loaded
    image = np.random.default_rng(0).random((5, *IMAGE_SHAPE), dtype=np.float32)
    got = servable.run(DEFAULT_SIGNATURE, {"image": image})
    assert list(got) == ["output_0"]
    np.testing.assert_allclose(got["output_0"], torch_answer(version_dir, image), atol=1e-5)
    # A read-only input (gRPC's view of a request's bytes) is copied, not refused.
    image.flags.writeable = False
    again = servable.run(DEFAULT_SIGNATURE, {"image": image}, ["output_0"])
    np.testing.assert_array_equal(again["output_0"], got["output_0"])


def test_a_wrong_shape_is_invalid_argument(loaded: tuple[Path, TorchServable]) -> None:
    _, servable = loaded
    with pytest.raises(InvalidArgument, match=r"expects shape \[-1,3,32,32\] but got \[2, 3, 8\]"):
        servable.run(DEFAULT_SIGNATURE, {"image": np.zeros((2, 3, 8), np.float32)})


def test_an_unknown_signature_fails(loaded: tuple[Path, TorchServable]) -> None:
    _, servable = loaded
    with pytest.raises(FailedPrecondition, match='"other" not found'):
        servable.run("other", {"image": np.zeros((1, *IMAGE_SHAPE), np.float32)})


def test_without_signature_json_inputs_are_float32_of_any_shape(tmp_path: Path) -> None:
    from tests.torch_models import build_torch_script

    version_dir = build_torch_script(tmp_path, signature=False)
    loader = TorchLoader(SID, version_dir, OPTIONS)
    signature = loader.load().signatures[DEFAULT_SIGNATURE]
    assert dict(signature.inputs) == {"image": TensorSpec(DType.DT_FLOAT, None, "image")}
    assert dict(signature.outputs) == {"output_0": TensorSpec(DType.DT_FLOAT, None, "output_0")}
    # torch's own shape error, in its last line, is the client's error.
    with pytest.raises(InvalidArgument, match=r"torch cannot run the model on this input: .+"):
        loader.load().run(DEFAULT_SIGNATURE, {"image": np.zeros((1, 5, 4, 4), np.float32)})
    loader.unload()


def test_dict_outputs_and_tuples(tmp_path: Path) -> None:
    import torch

    class Pair(torch.nn.Module):  # type: ignore[misc]  # torch is Any to mypy
        def forward(self, x: torch.Tensor, k: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"sum": x + k, "count": (x > 0).sum(dim=1)}

    scripted = torch.jit.script(Pair())
    scripted.save(str(tmp_path / "model.pt"))
    with pytest.raises(FailedPrecondition, match=r"declare the outputs in .*signature\.json"):
        TorchLoader(SID, tmp_path, OPTIONS).load()
    (tmp_path / "signature.json").write_text(
        json.dumps(
            {
                "inputs": {"k": {"shape": [-1, 2]}, "x": {"shape": [-1, 2]}},
                "outputs": {"sum": {}, "count": {"dtype": "int64", "shape": [-1]}},
            }
        )
    )
    loader = TorchLoader(SID, tmp_path, OPTIONS)
    servable = loader.load()
    assert list(servable.signatures[DEFAULT_SIGNATURE].inputs) == ["x", "k"]
    x = np.array([[1.0, -1.0]], np.float32)
    got = servable.run(DEFAULT_SIGNATURE, {"x": x, "k": np.ones((1, 2), np.float32)})
    assert list(got) == ["sum", "count"]
    np.testing.assert_array_equal(got["sum"], [[2.0, 0.0]])
    np.testing.assert_array_equal(got["count"], [1])
    assert servable.run(DEFAULT_SIGNATURE, {"x": x, "k": x}, ["count"]).keys() == {"count"}
    loader.unload()


def test_signature_json_must_match_forward(tmp_path: Path) -> None:
    from tests.torch_models import build_torch_script

    version_dir = build_torch_script(tmp_path, signature=False)
    (version_dir / "signature.json").write_text('{"inputs": {"x": {}}}')
    with pytest.raises(FailedPrecondition, match=r"declares inputs \['x'\], but forward takes"):
        TorchLoader(SID, version_dir, OPTIONS).load()
    (version_dir / "signature.json").write_text('{"outputs": {"a": {}, "b": {}}}')
    with pytest.raises(FailedPrecondition, match="declares 2 outputs, but forward returns"):
        TorchLoader(SID, version_dir, OPTIONS).load()


def test_a_model_returning_fewer_outputs_than_declared_is_internal(
    torch_script_dir: Path,
) -> None:
    loader = TorchLoader(SID, torch_script_dir, OPTIONS)
    servable = loader.load()
    # Swap in a module with another answer: the servable checks what it got.
    servable._module = lambda image: (image, image)
    with pytest.raises(Internal, match="returned 2 outputs, its signature has 1"):
        servable.run(DEFAULT_SIGNATURE, {"image": np.zeros((1, *IMAGE_SHAPE), np.float32)})
    loader.unload()
    with pytest.raises(FailedPrecondition, match="closed"):
        servable.run(DEFAULT_SIGNATURE, {"image": np.zeros((1, *IMAGE_SHAPE), np.float32)})
