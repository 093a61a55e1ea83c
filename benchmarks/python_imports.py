"""What an ``import`` statement costs in a Python model's code: a folder module's own
``__import__`` (``shiba.runtimes._python_package``) against the plain one with the folder on
``sys.path``, for an installed module (``numpy``) and a folder module (``helpers``).

    .venv/bin/python benchmarks/python_imports.py [--n 100000]

Prints microseconds per ``import numpy; import helpers`` pair for each, and their ratio (the best
of three runs). Matters only for imports inside ``predict``; module-level imports run once.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from shiba.runtimes._python_package import VersionPackage

MODEL = """
import time


def bench(n):
    start = time.perf_counter()
    for _ in range(n):
        import numpy
        import helpers
    return time.perf_counter() - start
"""


def _plain(folder: Path) -> ModuleType:
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("plain_model", folder / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="import pairs per run")
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "model.py").write_text(MODEL)
        (folder / "helpers.py").write_text("X = 1\n")
        package = VersionPackage("shiba_bench_python_imports", folder)
        try:
            inside = min(package.import_module("model").bench(n) for _ in range(3))
        finally:
            package.close()
        outside = min(_plain(folder).bench(n) for _ in range(3))
    print(
        f"per import pair: version package {inside / n * 1e6:.2f} us, "
        f"plain sys.path {outside / n * 1e6:.2f} us, ratio {inside / outside:.1f}x"
    )


if __name__ == "__main__":
    main()
