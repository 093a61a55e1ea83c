"""Generates shiba's protobuf code from its ``.proto`` files (development only: ``make protos``).

    python src/shiba/_proto/generate.py          # rewrites the committed *_pb2.py / *_pb2.pyi
    python src/shiba/_proto/generate.py --check  # exit 1, naming each file, if they differ

Run it as a file, not as ``-m shiba._proto.generate``: importing the package imports the
generated code, which may be the code that is broken or stale.

Every ``*.proto`` under ``src/shiba/_proto/`` is compiled by ``grpcio-tools``' bundled ``protoc``
into a ``*_pb2.py`` beside it, and typed by ``mypy-protobuf``'s ``protoc-gen-mypy`` into a
``*_pb2.pyi``. Both are committed, so installing or running shiba needs no ``protoc``; both
generators are pinned in the ``dev`` extra, because their versions show in the generated text
(``protoc``'s is also the oldest ``protobuf`` runtime the code runs on). :func:`stale` is what
``tests/_proto/test_generate.py`` runs in ``make test``.

Imports ``grpc_tools``, which only the ``dev`` extra installs; nothing at run time imports this.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

__all__ = [
    "GenerationError",
    "PACKAGE",
    "SOURCE_ROOT",
    "generate",
    "generated_files",
    "proto_files",
    "stale",
]

#: This package's folder, which holds the ``.proto`` files and the generated code beside them.
PACKAGE = Path(__file__).resolve().parent
#: The import root (``src/``): ``.proto`` files import each other by paths relative to it, and
#: protobuf registers each file under that path (``shiba/_proto/tfserving/apis.proto``).
SOURCE_ROOT = PACKAGE.parents[1]
_PACKAGE_PATH = PACKAGE.relative_to(SOURCE_ROOT)

_SUFFIXES = ("_pb2.py", "_pb2.pyi")


class GenerationError(RuntimeError):
    """``protoc`` or its ``mypy`` plugin failed or is missing; the message says which and why."""


def proto_files(root: Path = SOURCE_ROOT) -> list[Path]:
    """The ``.proto`` files under ``root``'s ``shiba/_proto/``, relative to ``root``, sorted."""
    return sorted(p.relative_to(root) for p in (root / _PACKAGE_PATH).rglob("*.proto"))


def generated_files(root: Path = SOURCE_ROOT) -> list[Path]:
    """The generated files under ``root``'s ``shiba/_proto/``, relative to ``root``, sorted."""
    found = (p for p in (root / _PACKAGE_PATH).rglob("*_pb2.py*") if p.name.endswith(_SUFFIXES))
    return sorted(p.relative_to(root) for p in found)


def _mypy_plugin() -> str:
    beside = Path(sys.executable).parent / "protoc-gen-mypy"
    found = str(beside) if beside.exists() else shutil.which("protoc-gen-mypy")
    if found is None:
        raise GenerationError(
            "protoc-gen-mypy was not found: install the dev extra (pip install -e '.[dev]')"
        )
    return found


def generate(out: Path, root: Path = SOURCE_ROOT) -> list[Path]:
    """Compiles every ``.proto`` file under ``root`` (laid out as ``src/``) into ``out``, laid out
    the same way; the files written, relative to ``out``.

    Raises :class:`GenerationError` when a generator is missing or ``protoc`` rejects a file (its
    own messages, with file and line, are on standard error).
    """
    if importlib.util.find_spec("grpc_tools") is None:
        raise GenerationError(
            "grpcio-tools is not installed: install the dev extra (pip install -e '.[dev]')"
        ) from None
    well_known = resources.files("grpc_tools") / "_proto"
    sources = [str(path) for path in proto_files(root)]
    out.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={root}",
        f"--proto_path={well_known}",
        f"--plugin=protoc-gen-mypy={_mypy_plugin()}",
        f"--python_out={out}",
        f"--mypy_out=quiet:{out}",
        *sources,
    ]
    # In a process of its own: grpc_tools' protoc and TensorFlow each bundle libprotobuf, and
    # running protoc in a process that has imported TensorFlow crashes it.
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GenerationError(
            f"protoc failed on the .proto files under {root / _PACKAGE_PATH}:\n{done.stderr}"
        )
    return generated_files(out)


def stale(root: Path = SOURCE_ROOT) -> list[str]:
    """Why the generated files under ``root`` differ from what its ``.proto`` files give; [] if not.

    One line per file: changed, missing, or left over with no ``.proto`` file. Raises
    :class:`GenerationError` as :func:`generate` does.
    """
    with tempfile.TemporaryDirectory(prefix="shiba-protos-") as tmp:
        fresh = set(generate(Path(tmp), root))
        committed = set(generated_files(root))
        problems = [f"{path}: missing (run make protos)" for path in sorted(fresh - committed)]
        problems += [
            f"{path}: differs from its .proto file (run make protos)"
            for path in sorted(fresh & committed)
            if not filecmp.cmp(Path(tmp) / path, root / path, shallow=False)
        ]
        problems += [
            f"{path}: no .proto file generates it (delete it)" for path in sorted(committed - fresh)
        ]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if the code is stale"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale()
            for line in problems:
                print(line, file=sys.stderr)
            return 1 if problems else 0
        for path in generate(SOURCE_ROOT):
            print(path)
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
