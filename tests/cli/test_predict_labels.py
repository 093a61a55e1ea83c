"""Where ``shiba predict --top`` finds class names: ``--labels FILE``, else shiba's REST route,
and none (not an error) from a server that has no such route."""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
import pytest

from shiba.cli import predict
from shiba.cli._common import UsageError
from shiba.client import Client


def test_labels_file_as_the_server_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes(b"cat\r\ndog\n\nbird\n\n\n")
    assert predict._read_labels(path) == ["cat", "dog", "", "bird"]
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(UsageError, match="not UTF-8 text"):
        predict._read_labels(path)
    with pytest.raises(UsageError, match=r"missing\.txt"):
        predict._read_labels(tmp_path / "missing.txt")


def test_a_server_without_shibas_route_has_no_labels() -> None:
    """TensorFlow Serving (or Triton) answers 404 to ``/shiba/v1/models/{m}``: numbered classes."""
    seen: list[str] = []

    def tf_serving(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(404, json={"error": "Not Found"})

    args = argparse.Namespace(model="ViT", version=None)
    with Client("http://tfs:8501", transport=httpx.MockTransport(tf_serving)) as client:
        assert predict._server_labels(client, args) == []
    assert seen == ["/shiba/v1/models/ViT"]
