"""The runtime registry: lazy imports, detection, and loaders that fail in ``load`` instead of here."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shiba.core.errors import FailedPrecondition, NotFound, ShibaError
from shiba.core.ids import ServableId
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.onnx import OnnxLoader, OnnxRuntime
from shiba.runtimes.python import PythonLoader, PythonRuntime
from shiba.runtimes.registry import (
    RUNTIMES,
    FailingLoader,
    detect_platform,
    get_runtime,
    make_loader,
)
from shiba.runtimes.tensorflow import SavedModelLoader, SavedModelRuntime
from shiba.runtimes.torch import TorchLoader, TorchRuntime

SID = ServableId("m", 1)
OPTIONS = RuntimeOptions()


def test_runtimes_resolve_to_their_platform() -> None:
    assert dict(RUNTIMES) == {
        "python": "shiba.runtimes.python:PythonRuntime",
        "tensorflow": "shiba.runtimes.tensorflow:SavedModelRuntime",
        "onnx": "shiba.runtimes.onnx:OnnxRuntime",
        "pytorch": "shiba.runtimes.torch:TorchRuntime",
    }
    assert isinstance(get_runtime("tensorflow"), SavedModelRuntime)
    assert isinstance(get_runtime("onnx"), OnnxRuntime)
    assert isinstance(get_runtime("pytorch"), TorchRuntime)
    assert isinstance(get_runtime("python"), PythonRuntime)
    for platform in RUNTIMES:
        runtime = get_runtime(platform)
        assert runtime.platform == platform
        assert get_runtime(platform) is runtime


def test_each_runtime_declares_its_framework_extra_and_files() -> None:
    declared = {
        platform: (runtime.framework, runtime.extra, runtime.model_files)
        for platform, runtime in ((p, get_runtime(p)) for p in RUNTIMES)
    }
    assert declared == {
        "python": (None, None, ("model.py",)),
        "tensorflow": ("tensorflow", "tensorflow", ("saved_model.pb", "saved_model.pbtxt")),
        "onnx": ("onnxruntime", "onnx", ("model.onnx",)),
        "pytorch": ("torch", "torch", ("model.pt", "model.pt2")),
    }


def test_get_runtime_rejects_an_unknown_platform() -> None:
    with pytest.raises(
        FailedPrecondition, match="unknown platform 'caffe': shiba serves onnx, python, pytorch"
    ):
        get_runtime("caffe")


def test_importing_the_runtimes_imports_no_framework(tfserving_testdata: Path) -> None:
    """Registry, runtime modules, detection and loader construction stay framework-free."""
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from shiba.core.ids import ServableId
        from shiba.runtimes.base import RuntimeOptions
        from shiba.runtimes import registry
        import shiba.runtimes.tensorflow, shiba.runtimes.onnx, shiba.runtimes.torch
        import shiba.runtimes.python, shiba.runtimes.openvino
        import shiba.runtimes.tensorflow.signatures, shiba.runtimes.tensorflow.session
        import shiba.runtimes.tensorflow.saved_model
        version_dir = Path({str(tfserving_testdata / "saved_model_half_plus_two_cpu" / "00000123")!r})
        assert registry.detect_platform(version_dir) == "tensorflow"
        for platform in (None, "tensorflow", "onnx", "pytorch", "python"):
            registry.make_loader(platform, ServableId("m", 1), version_dir, RuntimeOptions())
        heavy = ("tensorflow", "onnxruntime", "onnx", "torch", "openvino")
        heavy = sorted(m for m in heavy if m in sys.modules)
        assert not heavy, heavy
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr


def test_detect_platform_by_file_names(tfserving_testdata: Path, tmp_path: Path) -> None:
    assert detect_platform(tfserving_testdata / "saved_model_half_plus_two_cpu" / "00000123") == (
        "tensorflow"
    )
    assert detect_platform(tfserving_testdata / "matrix_half_plus_two" / "1") == "tensorflow"
    # A legacy SessionBundle export and a TFLite model are no SavedModel.
    assert detect_platform(tfserving_testdata / "bad_half_plus_two" / "00000123") is None
    assert detect_platform(
        tfserving_testdata / "saved_model_half_plus_two_tflite" / "00000123"
    ) is (None)
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "saved_model.pbtxt").write_text("")
    assert detect_platform(tmp_path / "text") == "tensorflow"
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"")
    assert detect_platform(tmp_path / "onnx") == "onnx"
    for name in ("model.pt", "model.pt2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / name).write_bytes(b"")
        assert detect_platform(tmp_path / name) == "pytorch"
    # A Python model's folder may hold the model it wraps: model.py wins.
    (tmp_path / "onnx" / "model.py").write_text("")
    assert detect_platform(tmp_path / "onnx") == "python"
    assert detect_platform(tmp_path) is None
    assert detect_platform(tmp_path / "missing") is None


def test_make_loader_picks_the_runtime(tfserving_testdata: Path, tmp_path: Path) -> None:
    saved_model = tfserving_testdata / "saved_model_half_plus_two_cpu" / "00000123"
    assert isinstance(make_loader(None, SID, saved_model, OPTIONS), SavedModelLoader)
    assert isinstance(make_loader("tensorflow", SID, saved_model, OPTIONS), SavedModelLoader)
    assert isinstance(make_loader("onnx", SID, tmp_path, OPTIONS), OnnxLoader)
    assert isinstance(make_loader("pytorch", SID, tmp_path, OPTIONS), TorchLoader)
    assert isinstance(make_loader("python", SID, tmp_path, OPTIONS), PythonLoader)


def test_an_unknown_platform_gives_a_failing_loader(tmp_path: Path) -> None:
    loader = make_loader("caffe", SID, tmp_path, OPTIONS)
    assert isinstance(loader, FailingLoader)
    for _ in range(2):  # a fresh error on every attempt (the manager retries loads)
        with pytest.raises(FailedPrecondition, match=r"unknown platform 'caffe': shiba serves "):
            loader.load()
    loader.unload()


def test_an_empty_folder_gives_a_failing_loader(tmp_path: Path) -> None:
    loader = make_loader(None, SID, tmp_path, OPTIONS)
    with pytest.raises(NotFound) as caught:
        loader.load()
    assert caught.value.message == (
        f"no model found in {tmp_path}: expected model.py, saved_model.pb, saved_model.pbtxt, "
        "model.onnx, model.pt or model.pt2"
    )


def test_a_missing_framework_gives_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A None entry in sys.modules makes a package unimportable and unfindable, as if not installed.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    loader = make_loader("onnx", SID, tmp_path, OPTIONS)
    with pytest.raises(FailedPrecondition) as caught:
        loader.load()
    assert caught.value.message == (
        "the onnx runtime needs the onnxruntime package, which is not installed: "
        "install it with: pip install 'shiba[onnx]'"
    )
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(FailedPrecondition, match=r"pip install 'shiba\[tensorflow\]'"):
        make_loader("tensorflow", SID, tmp_path, OPTIONS).load()
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(FailedPrecondition, match=r"pytorch runtime needs the torch package"):
        make_loader("pytorch", SID, tmp_path, OPTIONS).load()


def test_runtime_loaders_report_a_missing_framework_too(
    monkeypatch: pytest.MonkeyPatch, tfserving_testdata: Path, tmp_path: Path
) -> None:
    """The runtimes' own loaders say what to install when the registry's check was skipped."""
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    saved_model = tfserving_testdata / "saved_model_half_plus_two_cpu" / "00000123"
    with pytest.raises(FailedPrecondition, match=r"pip install 'shiba\[tensorflow\]'"):
        SavedModelLoader(SID, saved_model, OPTIONS).load()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(FailedPrecondition, match=r"pip install 'shiba\[onnx\]'"):
        OnnxLoader(SID, tmp_path, OPTIONS).load()


def test_failing_loader_keeps_the_error_code() -> None:
    loader = FailingLoader(ShibaError("quota", code=FailedPrecondition.code))
    with pytest.raises(ShibaError) as caught:
        loader.load()
    assert caught.value.code is FailedPrecondition.code
    assert caught.value.message == "quota"
