"""A Python model that spans several files: ``model.py`` importing its version folder's modules."""

from __future__ import annotations

import pickle
import py_compile
import sys
import textwrap
import threading
import types
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest

from shiba.core.errors import FailedPrecondition
from shiba.core.ids import ServableId
from shiba.core.tensors import DEFAULT_SIGNATURE
from shiba.runtimes._python_package import VersionPackage
from shiba.runtimes.base import RuntimeOptions
from shiba.runtimes.python import PythonLoader

OPTIONS = RuntimeOptions()
PREFIX = "shiba_python_model_"

#: ``y = x * scale()``, ``scale`` coming from whatever ``IMPORTS`` brings in.
MODEL = """
{imports}


class Model:
    signature = {{
        "inputs": {{"x": {{"dtype": "float32", "shape": [-1]}}}},
        "outputs": {{"y": {{"dtype": "float32", "shape": [-1]}}}},
    }}

    def load(self, path):
        pass

    def predict(self, inputs):
        return {{"y": inputs["x"] * scale()}}
"""


def folder(base: Path, files: Mapping[str, str], imports: str) -> Path:
    """A version folder holding ``model.py`` (importing with ``imports``) and ``files``."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "model.py").write_text(MODEL.format(imports=imports))
    for name, code in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(textwrap.dedent(code))
    return base


def answer(loader: PythonLoader) -> float:
    got = loader.load().run(DEFAULT_SIGNATURE, {"x": np.ones(1, np.float32)})
    return float(got["y"][0])


def ours() -> list[str]:
    return [name for name in sys.modules if name.startswith(PREFIX)]


@pytest.fixture
def loaders() -> Iterator[list[PythonLoader]]:
    made: list[PythonLoader] = []
    yield made
    for loader in made:
        loader.unload()
    assert not ours()


def loader_of(
    made: list[PythonLoader], version_dir: Path, name: str = "py", v: int = 1
) -> PythonLoader:
    loader = PythonLoader(ServableId(name, v), version_dir, OPTIONS)
    made.append(loader)
    return loader


@pytest.mark.parametrize(
    ("files", "imports"),
    [
        (
            {"preprocess.py": "def scale():\n    return 3.0\n"},
            "import importlib\nscale = importlib.import_module('.preprocess', __package__).scale",
        ),
        ({"preprocess.py": "def scale():\n    return 3.0\n"}, "from preprocess import scale"),
        (
            {"preprocess.py": "def scale():\n    return 3.0\n"},
            "import preprocess\nscale = preprocess.scale",
        ),
        ({"preprocess.py": "def scale():\n    return 3.0\n"}, "from .preprocess import scale"),
        (
            {"preprocess.py": "def scale():\n    return 3.0\n"},
            "from . import preprocess\nscale = preprocess.scale",
        ),
        (
            {"mypkg/__init__.py": "", "mypkg/sub.py": "def scale():\n    return 3.0\n"},
            "import mypkg.sub\nscale = mypkg.sub.scale",
        ),
        (
            {"mypkg/__init__.py": "", "mypkg/sub.py": "def scale():\n    return 3.0\n"},
            "from mypkg import sub\nscale = sub.scale",
        ),
        (
            {"mypkg/__init__.py": "", "mypkg/sub.py": "def scale():\n    return 3.0\n"},
            "import mypkg.sub as s\nscale = s.scale",
        ),
        (
            # A subpackage importing relatively upwards and sideways.
            {
                "helpers.py": "FACTOR = 3.0\n",
                "mypkg/__init__.py": "from .sub import scale\n",
                "mypkg/sub.py": "from ..helpers import FACTOR\n\ndef scale():\n    return FACTOR\n",
            },
            "from mypkg import scale",
        ),
        (
            # A subpackage importing a sibling of model.py absolutely.
            {
                "helpers.py": "FACTOR = 3.0\n",
                "mypkg/__init__.py": "",
                "mypkg/sub.py": "import helpers\n\ndef scale():\n    return helpers.FACTOR\n",
            },
            "from mypkg.sub import scale",
        ),
        (
            # A package folder without __init__.py: a namespace package.
            {"tokenizers_here/sub.py": "def scale():\n    return 3.0\n"},
            "from tokenizers_here.sub import scale",
        ),
        (
            # Imported when predict runs, not at import time.
            {"preprocess.py": "def scale():\n    return 3.0\n"},
            "def scale():\n    import preprocess\n    return preprocess.scale()",
        ),
    ],
    ids=[
        "import-module",
        "from-sibling",
        "import-sibling",
        "relative",
        "from-dot",
        "subpackage",
        "from-package",
        "import-as",
        "subpackage-relative",
        "subpackage-absolute",
        "namespace",
        "lazy",
    ],
)
def test_model_py_imports_the_folders_files(
    tmp_path: Path, loaders: list[PythonLoader], files: dict[str, str], imports: str
) -> None:
    loader = loader_of(loaders, folder(tmp_path / "1", files, imports))
    assert answer(loader) == 3.0
    loader.unload()
    assert not ours()
    assert not list(tmp_path.rglob("__pycache__"))  # the model folder is never written


def test_the_folders_modules_are_invisible_outside_it(
    tmp_path: Path, loaders: list[PythonLoader]
) -> None:
    path_before = list(sys.path)
    version_dir = folder(
        tmp_path / "1",
        {"preprocess_xyz.py": "def scale():\n    return 3.0\n"},
        "from preprocess_xyz import scale",
    )
    assert answer(loader_of(loaders, version_dir)) == 3.0
    assert sys.path == path_before
    assert "preprocess_xyz" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        __import__("preprocess_xyz")


def test_a_folder_module_wins_over_an_installed_one_only_inside_the_folder(
    tmp_path: Path, loaders: list[PythonLoader]
) -> None:
    # As with the folder first on sys.path: the folder's "json" for the model, the real one elsewhere.
    version_dir = folder(
        tmp_path / "1", {"json.py": "def scale():\n    return 3.0\n"}, "from json import scale"
    )
    assert answer(loader_of(loaders, version_dir)) == 3.0
    import json

    assert json.dumps([1]) == "[1]"
    # A folder without __init__.py does not hide an installed package of that name.
    (version_dir / "numpy").mkdir()
    (version_dir / "model.py").write_text(
        MODEL.format(imports="import numpy\nscale = lambda: numpy.float32(2.0)")
    )
    assert answer(loader_of(loaders, version_dir, v=2)) == 2.0


SCALER = "class Scaler:\n    def __init__(self, factor):\n        self.factor = factor\n"

UNPICKLE = """
import os
import pickle


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "scaler_here":
            module = __package__ + "." + module
        return super().find_class(module, name)


with open(os.path.join(os.path.dirname(__file__), "scaler.pkl"), "rb") as f:
    _SCALER = _Unpickler(f).load()
scale = lambda: _SCALER.factor
"""


def test_a_pickle_of_a_folder_class_reads_with_the_documented_unpickler(
    tmp_path: Path, loaders: list[PythonLoader]
) -> None:
    made = types.ModuleType("scaler_here")  # as the class was pickled where it was written
    exec(SCALER, made.__dict__)
    sys.modules["scaler_here"] = made
    try:
        data = pickle.dumps(made.Scaler(3.0))
    finally:
        del sys.modules["scaler_here"]
    version_dir = folder(tmp_path / "1", {"scaler_here.py": SCALER}, UNPICKLE)
    (version_dir / "scaler.pkl").write_bytes(data)
    assert answer(loader_of(loaders, version_dir)) == 3.0


def test_two_versions_with_different_helpers_loaded_at_once(
    tmp_path: Path, loaders: list[PythonLoader]
) -> None:
    imports = "import helpers\nfrom .scaling import scale"
    scaling = (
        "import helpers\n\ndef scale():\n    import helpers as again\n"
        "    assert again is helpers\n    return helpers.FACTOR\n"
    )
    one = loader_of(
        loaders,
        folder(tmp_path / "1", {"helpers.py": "FACTOR = 1.0\n", "scaling.py": scaling}, imports),
        v=1,
    )
    two = loader_of(
        loaders,
        folder(tmp_path / "2", {"helpers.py": "FACTOR = 2.0\n", "scaling.py": scaling}, imports),
        v=2,
    )
    barrier = threading.Barrier(2)
    got: dict[int, list[float]] = {1: [], 2: []}

    def run(version: int, loader: PythonLoader) -> None:
        barrier.wait()
        loader.load()
        for _ in range(20):
            got[version].append(answer(loader))

    threads = [threading.Thread(target=run, args=(v, ld)) for v, ld in ((1, one), (2, two))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == {1: [1.0] * 20, 2: [2.0] * 20}
    one.unload()
    assert answer(two) == 2.0  # unloading version 1 took none of version 2's modules
    two.unload()
    assert not ours()


def test_two_models_with_the_same_module_name(tmp_path: Path, loaders: list[PythonLoader]) -> None:
    a = loader_of(
        loaders,
        folder(
            tmp_path / "a" / "1",
            {"utils.py": "def scale():\n    return 5.0\n"},
            "from utils import scale",
        ),
        name="a",
    )
    b = loader_of(
        loaders,
        folder(
            tmp_path / "b" / "1",
            {"utils.py": "def scale():\n    return 7.0\n"},
            "from utils import scale",
        ),
        name="b",
    )
    assert (answer(a), answer(b), answer(a)) == (5.0, 7.0, 5.0)


def test_a_reload_sees_the_changed_file(tmp_path: Path, loaders: list[PythonLoader]) -> None:
    version_dir = folder(
        tmp_path / "1",
        {"helpers.py": "FACTOR = 1.0\n"},
        "from helpers import FACTOR\nscale = lambda: FACTOR",
    )
    loader = loader_of(loaders, version_dir)
    assert answer(loader) == 1.0
    loader.unload()
    # Same size, same second: nothing cached may hide the change.
    (version_dir / "helpers.py").write_text("FACTOR = 4.0\n")
    assert answer(loader) == 4.0
    loader.unload()
    (version_dir / "extra.py").write_text("FACTOR = 6.0\n")  # a file that was not there before
    (version_dir / "model.py").write_text(
        MODEL.format(imports="from extra import FACTOR\nscale = lambda: FACTOR")
    )
    assert answer(loader) == 6.0


@pytest.mark.parametrize(
    ("files", "imports", "message"),
    [
        (
            {"helpers.py": "import numpy\n\nFACTOR = 1 / 0\n"},
            "import helpers",
            r"model\.py failed to import: ZeroDivisionError: division by zero \(helpers\.py line 3\)",
        ),
        (
            {"mypkg/__init__.py": "", "mypkg/sub.py": "x = 1\ny = (\n"},
            "from mypkg.sub import x",
            r"model\.py failed to import: SyntaxError: .* \(mypkg/sub\.py line 2\)",
        ),
        (
            {"mypkg/__init__.py": "from . import nothing_here\n"},
            "import mypkg",
            r"ImportError: cannot import name 'nothing_here' from .*'mypkg' .*"
            r"\(mypkg/__init__\.py line 1\)",
        ),
        (
            {"mypkg/__init__.py": ""},
            "import mypkg.nothing_here",
            r"ModuleNotFoundError: No module named 'mypkg\.nothing_here' in .*/1 \(model\.py line 2\)",
        ),
        (
            {"helpers.py": "def scale():\n    raise OSError('weights.bin is missing')\n"},
            "from helpers import scale\nscale()",
            r"OSError: weights\.bin is missing \(helpers\.py line 2\)",
        ),
        (
            {},
            "from . import nothing_here",
            r"ImportError: cannot import name 'nothing_here' from '[^']*/1' .*\(model\.py line 2\)",
        ),
    ],
    ids=["raises", "syntax", "relative-missing", "package-missing", "deep", "dot-missing"],
)
def test_an_error_in_a_folder_file_names_that_file_and_line(
    tmp_path: Path, loaders: list[PythonLoader], files: dict[str, str], imports: str, message: str
) -> None:
    loader = loader_of(loaders, folder(tmp_path / "1", files, imports))
    with pytest.raises(FailedPrecondition, match=message) as info:
        loader.load()
    assert PREFIX not in info.value.message
    assert not ours()


def test_a_package_name_must_be_free(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a free top-level module name"):
        VersionPackage("sys", tmp_path)
    with pytest.raises(ValueError, match="not a free top-level module name"):
        VersionPackage("a.b", tmp_path)


def test_only_source_files_are_the_folders_modules(
    tmp_path: Path, loaders: list[PythonLoader]
) -> None:
    """A compiled ``helpers.pyc`` beside ``model.py`` is not imported (by no finder after the
    package's), and the folder never enters ``sys.path_importer_cache``."""
    version_dir = folder(tmp_path / "1", {"helpers.py": "def scale():\n    return 3.0\n"}, "")
    py_compile.compile(str(version_dir / "helpers.py"), cfile=str(version_dir / "helpers.pyc"))
    (version_dir / "helpers.py").unlink()
    (version_dir / "model.py").write_text(MODEL.format(imports="from .helpers import scale"))
    loader = loader_of(loaders, version_dir)
    with pytest.raises(
        FailedPrecondition,
        match=r"ModuleNotFoundError: No module named 'helpers' \(model\.py line 2\)",
    ):
        loader.load()
    assert str(version_dir.absolute()) not in sys.path_importer_cache
