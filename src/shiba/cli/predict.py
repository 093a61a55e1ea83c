"""``shiba predict MODEL (--image FILE | --npy FILE | --json FILE|-)``: one request, its answer.

``--image`` lays the file out as the signature's image input wants it (``shiba.client.image``);
``--npy`` reads a ``.npy`` array (the one input) or a ``.npz`` (arrays by input name); ``--json``
reads a TF Serving request body (``{"inputs": ...}`` or ``{"instances": ...}``) or a bare value
(an array, or arrays by input name). ``--protocol v2`` sends the Open Inference Protocol's infer
instead, each input in the model's v2 datatype (from its v2 metadata); ``--json`` then also reads
a v2 request body (``{"inputs": [{"name", "shape", "datatype", "data"}]}``, as ``tritonclient``
writes it). ``--top K`` prints the K best classes of each example, with class names from
``--labels FILE`` or, over REST, from the server when it is shiba (``assets.extra/labels.txt``,
read by shiba's own route); otherwise every output is printed whole.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.table import Table

from shiba.cli._common import (
    EXIT_OK,
    UsageError,
    add_input_options,
    add_protocol_option,
    add_server_options,
    connect,
    connect_v2,
    console,
    read_text,
    run,
)
from shiba.cli._v2 import is_v2_inputs, no_signature, signature_of, v2_inputs
from shiba.client import (
    Client,
    GrpcClient,
    ServerError,
    SignatureInfo,
    V2Client,
    V2GrpcClient,
    image_layout,
    load_image,
)
from shiba.client._rest_core import as_arrays
from shiba.core.labels import parse_labels

__all__ = ["predict_main", "read_inputs", "v2_arrays", "top_classes", "scores_output"]


def _json_inputs(text: str, where: str) -> Any:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not JSON ({exc})") from None
    if isinstance(body, dict) and "inputs" in body:
        if is_v2_inputs(body["inputs"]):
            return v2_inputs(body["inputs"], where)
        return body["inputs"]
    if isinstance(body, dict) and "instances" in body:
        rows = body["instances"]
        if rows and all(isinstance(row, dict) for row in rows):
            return {name: [row[name] for row in rows] for name in rows[0]}
        return rows
    return body


def read_inputs(args: argparse.Namespace, signature: SignatureInfo) -> Any:
    """The request's inputs from ``--image``, ``--npy`` or ``--json``; ``UsageError`` if unusable."""
    if args.image is not None:
        images = [info for info in signature.inputs.values() if image_layout(info)]
        if len(images) != 1 or len(signature.inputs) != 1:
            described = ", ".join(
                f"{i.name} {i.dtype.name} {list(i.shape or [])}" for i in signature.inputs.values()
            )
            raise UsageError(
                f"--image needs a signature with one image input ([-1, H, W, C] or "
                f"[-1, C, H, W]); {signature.name} has: {described}. Use --npy or --json."
            )
        try:
            return load_image(args.image, images[0])
        except (ValueError, OSError) as exc:
            raise UsageError(str(exc)) from None
    if args.npy is not None:
        try:
            loaded = np.load(args.npy, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise UsageError(f"{args.npy}: cannot read a .npy or .npz file ({exc})") from None
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return {name: loaded[name] for name in loaded.files}
        return loaded
    source = args.json
    if source != "-":
        return _json_inputs(read_text(Path(source)), source)
    try:
        text = sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"standard input: {exc}") from None
    return _json_inputs(text, "standard input")


def scores_output(
    outputs: Mapping[str, npt.NDArray[Any]], labels: Sequence[str]
) -> tuple[str, npt.NDArray[Any]] | None:
    """The output holding class scores: ``[batch, classes]`` numbers, the one whose class count is
    the number of labels when several are; ``None`` when no output looks like scores."""
    candidates = [
        (name, array)
        for name, array in outputs.items()
        if array.ndim == 2 and array.dtype.kind in "fiu"
    ]
    for name, array in candidates:
        if labels and array.shape[1] == len(labels):
            return name, array
    return candidates[0] if candidates else None


def top_classes(scores: npt.NDArray[Any], k: int) -> list[list[tuple[int, float]]]:
    """The ``k`` best (class, score) of each row, best first (ties: the lower class first)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [
        [(int(c), float(row[c])) for c in best] for row, best in zip(scores, order, strict=True)
    ]


def predict_main(argv: Sequence[str], prog: str = "shiba predict") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Send one predict request and print the answer: every output, or with "
        "--top K the K best classes (named when the model has labels).",
    )
    add_input_options(parser)
    add_protocol_option(parser, "the request (v2 runs the model's serving_default)")
    parser.add_argument("--top", type=int, metavar="K", help="print the K best classes")
    parser.add_argument(
        "--labels",
        type=Path,
        metavar="FILE",
        help="class names for --top, one a line (as assets.extra/labels.txt); default: over "
        "REST, the server's when it is shiba",
    )
    add_server_options(parser)
    args = parser.parse_args(argv)
    if args.top is not None and args.top < 1:
        parser.error("--top needs a number of classes of at least 1")

    def command() -> int:
        if args.protocol == "v2":
            no_signature(args.signature)
        given = _read_labels(args.labels) if args.labels is not None else None
        try:
            if args.protocol == "v2":
                outputs, seconds, labels = _infer_v2(args)
            else:
                outputs, seconds, labels = _predict(args)
        except KeyError as exc:  # no such signature: the message names those there are
            raise UsageError(str(exc.args[0])) from None
        if args.top:
            _print_top(outputs, labels if given is None else given, args.top)
        else:
            for name, array in outputs.items():
                console.print(f"[bold]{name}[/] {array.dtype} {list(array.shape)}")
                console.print(np.array2string(array, threshold=200, precision=6), markup=False)
        console.print(f"[dim]{seconds * 1000:.1f} ms[/]")
        return EXIT_OK

    return run(command)


_Answer = tuple[dict[str, npt.NDArray[Any]], float, list[str]]


def _predict(args: argparse.Namespace) -> _Answer:
    """TensorFlow Serving's predict: the outputs, the seconds it took, the server's labels when
    ``--top`` wants them and the server can tell (shiba's REST route)."""
    with connect(args) as client:
        signature = client.signature(args.model, args.signature, version=args.version)
        inputs = read_inputs(args, signature)
        start = time.perf_counter()
        outputs = client.predict(args.model, inputs, signature=args.signature, version=args.version)
        seconds = time.perf_counter() - start
        labels = _server_labels(client, args) if args.top and args.labels is None else []
    return outputs, seconds, labels


def _infer_v2(args: argparse.Namespace) -> _Answer:
    """The Open Inference Protocol's infer, each input in the model's v2 datatype; over REST,
    the labels of shiba's own route when ``--top`` wants them and the server is shiba."""
    with connect_v2(args) as client:
        arrays = v2_arrays(args, client)
        start = time.perf_counter()
        outputs = client.infer(args.model, arrays, version=args.version)
        seconds = time.perf_counter() - start
    labels: list[str] = []
    if isinstance(client, V2Client) and args.top and args.labels is None:
        with connect(args) as same_server:  # REST too, with the same TLS files and token
            labels = _server_labels(same_server, args)
    return outputs, seconds, labels


def v2_arrays(
    args: argparse.Namespace, client: V2Client | V2GrpcClient
) -> dict[str, npt.NDArray[Any]]:
    """The model's inputs from ``--image``, ``--npy`` or ``--json``, read against its v2 metadata
    and cast to its v2 datatypes (what ``--protocol v2`` sends); ``UsageError`` when they do not
    fit it."""
    signature = signature_of(client.model_metadata(args.model, version=args.version))
    try:
        return as_arrays(signature, read_inputs(args, signature))
    except ValueError as exc:  # one array for a model of several inputs
        raise UsageError(str(exc)) from None


def _server_labels(client: Client | GrpcClient, args: argparse.Namespace) -> list[str]:
    """The model's class names from shiba's REST route; none over gRPC, or when the server is
    not shiba (its model answered, so an error here means it has no such route)."""
    if not isinstance(client, Client):
        return []
    try:
        return client.labels(args.model, version=args.version)
    except ServerError:
        return []


def _read_labels(path: Path) -> list[str]:
    """The class names in ``path``, one a line (line ends and trailing blank lines dropped, as
    the server reads ``assets.extra/labels.txt``); ``UsageError`` when it is not text."""
    return list(parse_labels(read_text(path, "text of class names")))


def _print_top(outputs: Mapping[str, npt.NDArray[Any]], labels: Sequence[str], k: int) -> None:
    found = scores_output(outputs, labels)
    if found is None:
        shapes = ", ".join(f"{n} {list(a.shape)}" for n, a in outputs.items())
        raise UsageError(f"--top needs an output of [batch, classes] scores; got {shapes}")
    name, scores = found
    for example, best in enumerate(top_classes(scores, k)):
        table = Table(title=f"{name}, example {example}", title_justify="left")
        for column in ("rank", "class", "label", "score"):
            table.add_column(column)
        for rank, (klass, score) in enumerate(best, 1):
            label = labels[klass] if klass < len(labels) else ""
            table.add_row(str(rank), str(klass), label, f"{score:.6g}")
        console.print(table)
