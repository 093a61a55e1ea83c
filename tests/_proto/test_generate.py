"""The committed generated code is what the ``.proto`` files give (``make protos`` rewrites it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shiba._proto.generate import PACKAGE, SOURCE_ROOT, generated_files, stale

pytest.importorskip("grpc_tools.protoc")


def test_the_committed_code_matches_the_proto_files() -> None:
    problems = stale()
    assert problems == [], "\n".join(problems)


def test_every_proto_file_has_its_code_committed() -> None:
    protos = {p.relative_to(SOURCE_ROOT).with_suffix("") for p in PACKAGE.rglob("*.proto")}
    stems = {
        p.with_name(p.name.removesuffix("_pb2.py").removesuffix("_pb2.pyi"))
        for p in generated_files()
    }
    assert protos == stems and protos


def test_stale_names_each_file_that_differs(tmp_path: Path) -> None:
    for path in generated_files():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOURCE_ROOT / path, tmp_path / path)
    package = tmp_path / "shiba" / "_proto"
    edited = package / "tfserving" / "apis_pb2.py"
    edited.write_text(edited.read_text() + "# edited by hand\n")
    (package / "v2" / "model_config_pb2.pyi").unlink()
    (package / "v2" / "old_pb2.py").write_text("")
    assert stale(tmp_path) == [
        "shiba/_proto/v2/model_config_pb2.pyi: missing (run make protos)",
        "shiba/_proto/tfserving/apis_pb2.py: differs from its .proto file (run make protos)",
        "shiba/_proto/v2/old_pb2.py: no .proto file generates it (delete it)",
    ]
