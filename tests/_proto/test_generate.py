"""The committed generated code is what the ``.proto`` files give (``make protos`` rewrites it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shiba._proto.generate import (
    SOURCE_ROOT,
    GenerationError,
    generate,
    generated_files,
    proto_files,
    stale,
)

pytest.importorskip("grpc_tools.protoc")


def test_the_committed_code_matches_the_proto_files() -> None:
    problems = stale()
    assert problems == [], "\n".join(problems)


def test_every_proto_file_has_its_code_committed() -> None:
    protos = {path.with_suffix("") for path in proto_files()}
    stems = {
        path.with_name(path.name.removesuffix("_pb2.py").removesuffix("_pb2.pyi"))
        for path in generated_files()
    }
    assert protos == stems and protos


def _copy_tree(to: Path) -> Path:
    """A copy of the .proto files and the generated code under ``to``; its shiba/_proto folder."""
    for path in proto_files() + generated_files():
        (to / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOURCE_ROOT / path, to / path)
    return to / "shiba" / "_proto"


def test_stale_names_each_file_that_differs(tmp_path: Path) -> None:
    package = _copy_tree(tmp_path)
    assert stale(tmp_path) == []
    edited = package / "tfserving" / "apis_pb2.py"
    edited.write_text(edited.read_text() + "# edited by hand\n")
    (package / "v2" / "model_config_pb2.pyi").unlink()
    (package / "v2" / "old_pb2.py").write_text("")
    assert stale(tmp_path) == [
        "shiba/_proto/v2/model_config_pb2.pyi: missing (run make protos)",
        "shiba/_proto/tfserving/apis_pb2.py: differs from its .proto file (run make protos)",
        "shiba/_proto/v2/old_pb2.py: no .proto file generates it (delete it)",
    ]


def test_a_changed_proto_file_makes_its_code_stale(tmp_path: Path) -> None:
    proto = _copy_tree(tmp_path) / "v2" / "inference.proto"
    proto.write_text(
        proto.read_text().replace("bool live = 1;", "bool live = 1;\n  string why = 2;")
    )
    assert stale(tmp_path) == [
        "shiba/_proto/v2/inference_pb2.py: differs from its .proto file (run make protos)",
        "shiba/_proto/v2/inference_pb2.pyi: differs from its .proto file (run make protos)",
    ]


def test_a_broken_proto_file_is_an_error_naming_it(tmp_path: Path) -> None:
    proto = _copy_tree(tmp_path) / "tfserving" / "framework.proto"
    proto.write_text(proto.read_text().replace("bool unknown_rank = 3;", "bool unknown_rank = 2;"))
    with pytest.raises(GenerationError, match="protoc failed") as failed:
        generate(tmp_path / "out", tmp_path)
    assert "shiba/_proto/tfserving/framework.proto" in str(failed.value)
