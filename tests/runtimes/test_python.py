"""The Python runtime: the user's ``model.py`` loaded and called in the server's process."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from shiba.core.errors import FailedPrecondition, Internal, InvalidArgument, NotFound
from shiba.core.ids import ServableId
from shiba.core.tensors import DEFAULT_SIGNATURE, DType, TensorSpec
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.python import PythonLoader, PythonRuntime

SID = ServableId("py", 1)
OPTIONS = RuntimeOptions()

COUNTER = """
import numpy as np

calls = 0


class Counter:
    signature = {
        "inputs": {"x": {"dtype": "float32", "shape": [-1]}},
        "outputs": {"y": {"dtype": "float32", "shape": [-1]}, "calls": {"dtype": "int64"}},
    }

    def load(self, path):
        self.path = path
        self.closed = False

    def predict(self, inputs):
        global calls
        calls += 1
        if (inputs["x"] < 0).any():
            raise ValueError("x must not be negative")
        return {"y": inputs["x"] * 2.0, "calls": calls}  # float64 and a Python int: cast

    def close(self):
        self.closed = True
"""


def write(version_dir: Path, code: str) -> Path:
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / "model.py").write_text(textwrap.dedent(code))
    return version_dir


@pytest.fixture
def counter(tmp_path: Path) -> Iterator[PythonLoader]:
    loader = PythonLoader(SID, write(tmp_path / "1", COUNTER), OPTIONS)
    yield loader
    loader.unload()


def test_detect(tmp_path: Path) -> None:
    assert not PythonRuntime.detect(tmp_path)
    write(tmp_path, COUNTER)
    assert PythonRuntime.detect(tmp_path)
    assert isinstance(PythonRuntime().loader(SID, tmp_path, OPTIONS), PythonLoader)


def test_a_folder_without_model_py_fails_to_load(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"no model\.py in"):
        PythonLoader(SID, tmp_path, OPTIONS).load()


def test_predict_answers_with_the_declared_dtypes(counter: PythonLoader) -> None:
    servable = counter.load()
    signature = servable.signatures[DEFAULT_SIGNATURE]
    assert dict(signature.inputs) == {"x": TensorSpec(DType.DT_FLOAT, (-1,), "x")}
    assert list(signature.outputs) == ["y", "calls"]
    got = servable.run(DEFAULT_SIGNATURE, {"x": np.array([1.0, 2.5], np.float32)})
    assert got["y"].dtype == np.float32
    np.testing.assert_array_equal(got["y"], [2.0, 5.0])
    assert got["calls"].dtype == np.int64
    assert servable.run(DEFAULT_SIGNATURE, {"x": np.zeros(1, np.float32)}, ["calls"]) == {
        "calls": np.int64(2)
    }


def test_predict_raising_is_internal_with_its_message(counter: PythonLoader) -> None:
    servable = counter.load()
    with pytest.raises(Internal, match="predict raised ValueError: x must not be negative"):
        servable.run(DEFAULT_SIGNATURE, {"x": np.array([-1.0], np.float32)})
    # The servable keeps answering.
    assert servable.run(DEFAULT_SIGNATURE, {"x": np.ones(1, np.float32)})["y"][0] == 2.0


def test_a_wrong_shape_is_invalid_argument(counter: PythonLoader) -> None:
    with pytest.raises(InvalidArgument, match=r"input 'x' expects shape \[-1\] but got \[1, 1\]"):
        counter.load().run(DEFAULT_SIGNATURE, {"x": np.ones((1, 1), np.float32)})


def test_two_versions_share_no_module_state(tmp_path: Path) -> None:
    one = PythonLoader(ServableId("py", 1), write(tmp_path / "1", COUNTER), OPTIONS)
    two = PythonLoader(ServableId("py", 2), write(tmp_path / "2", COUNTER), OPTIONS)
    x = {"x": np.ones(1, np.float32)}
    for _ in range(3):
        one.load().run(DEFAULT_SIGNATURE, x)
    assert int(two.load().run(DEFAULT_SIGNATURE, x)["calls"]) == 1
    model = one.load()._model
    packages = [n for n in sys.modules if n.startswith("shiba_python_model_py_") and "." not in n]
    assert len(packages) == 2
    assert {f"{n}.model" for n in packages} <= set(sys.modules)
    one.unload()
    two.unload()
    assert model.closed
    assert not [n for n in sys.modules if n.startswith("shiba_python_model_py_")]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("x = (\n", r"model.py failed to import: SyntaxError: .*line 1"),
        (
            "import no_such_module_here\n",
            r"failed to import: ModuleNotFoundError: .* \(model.py line 1\)",
        ),
        ("class A:\n    pass\n", r"exactly one class with load\(self, path\).*found none"),
        (
            COUNTER.replace(
                "class Counter:",
                "class Other(object):\n    load = predict = print\n\n\nclass Counter:",
            ),
            "found Other, Counter",
        ),
        (
            COUNTER.replace("self.path = path", "raise OSError('weights.bin is missing')"),
            r"loading the model raised OSError: weights.bin is missing \(model.py line \d+\)",
        ),
        (
            COUNTER.replace(
                "    def load(self, path):",
                "    def __init__(self):\n        raise RuntimeError('no GPU here')\n\n"
                "    def load(self, path):",
            ),
            r"loading the model raised RuntimeError: no GPU here \(model.py line \d+\)",
        ),
        (
            COUNTER.replace("signature = {", "nothing = {"),
            "declares no signature: give its class a signature attribute or write signature.json",
        ),
        (
            COUNTER.replace(
                '"dtype": "float32", "shape": [-1]}, "calls"', '"dtype": "float33"}, "calls"'
            ),
            "outputs.y: unknown dtype 'float33'",
        ),
    ],
)
def test_load_errors_say_what_went_wrong(tmp_path: Path, code: str, message: str) -> None:
    loader = PythonLoader(SID, write(tmp_path, code), OPTIONS)
    with pytest.raises(FailedPrecondition, match=message):
        loader.load()
    assert not [n for n in sys.modules if n.startswith("shiba_python_model_py_")]


def test_signature_json_when_the_class_declares_none(tmp_path: Path) -> None:
    write(tmp_path, COUNTER.replace("signature = {", "nothing = {"))
    (tmp_path / "signature.json").write_text('{"inputs": {"x": {}}, "outputs": {"y": {}}}')
    loader = PythonLoader(SID, tmp_path, OPTIONS)
    assert list(loader.load().signatures[DEFAULT_SIGNATURE].outputs) == ["y"]
    loader.unload()
    (tmp_path / "signature.json").write_text('{"inputs": {"x": {}}}')
    with pytest.raises(FailedPrecondition, match="must declare both inputs and outputs"):
        PythonLoader(SID, tmp_path, OPTIONS).load()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("[1.0]", "predict returned list, not a dict of arrays"),
        ('{"calls": 1}', "predict's answer has no output 'y'"),
        ('{"y": "text", "calls": 1}', "predict's output 'y' is not DT_FLOAT"),
    ],
)
def test_a_bad_answer_is_internal(tmp_path: Path, answer: str, message: str) -> None:
    code = COUNTER.replace('return {"y": inputs["x"] * 2.0, "calls": calls}', f"return {answer}")
    loader = PythonLoader(SID, write(tmp_path, code), OPTIONS)
    with pytest.raises(Internal, match=message):
        loader.load().run(DEFAULT_SIGNATURE, {"x": np.ones(1, np.float32)})
    loader.unload()


@pytest.mark.slow
def test_pre_processing_around_torchscript_equals_torch(tmp_path: Path) -> None:
    from tests.torch_models import build_python_model, pixels_to_image, torch_answer

    version_dir = build_python_model(tmp_path)
    loader = PythonLoader(SID, version_dir, OPTIONS)
    servable = loader.load()
    pixels = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    got = servable.run(DEFAULT_SIGNATURE, {"pixels": pixels})
    want = torch_answer(version_dir, pixels_to_image(pixels))
    np.testing.assert_allclose(got["scores"], want, atol=1e-5)
    np.testing.assert_array_equal(got["label"], want.argmax(axis=1))
    loader.unload()
