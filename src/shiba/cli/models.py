"""``shiba models`` and ``shiba metadata MODEL``: what a server serves, as tables.

With ``--protocol tfserving`` (the default) ``models`` reads shiba's own REST route and
``metadata`` TensorFlow Serving's model metadata; with ``--protocol v2`` ``models`` reads the Open
Inference Protocol's repository index (the model_repository extension, which Triton and shiba
offer) and ``metadata`` the protocol's model metadata, over REST or gRPC."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.table import Table

from shiba.cli._common import (
    EXIT_OK,
    UsageError,
    add_protocol_option,
    add_server_options,
    connect,
    connect_v2,
    console,
    run,
)
from shiba.cli._v2 import without_repository
from shiba.client import Client, ServerError

__all__ = ["models_main", "metadata_main"]


def models_main(argv: Sequence[str], prog: str = "shiba models") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="List every model a shiba server serves: versions, states, engines, labels "
        "(shiba's own REST route /shiba/v1/models); with --protocol v2, the models of any Open "
        "Inference Protocol server's repository, with their states.",
    )
    add_protocol_option(parser, "the list (v2: the model_repository extension's index)")
    add_server_options(parser)
    args = parser.parse_args(argv)

    def command() -> int:
        if args.protocol == "v2":
            return _models_v2(args)
        with connect(args) as client:
            if not isinstance(client, Client):
                raise UsageError("`shiba models` needs the REST API (an http:// --server)")
            models = client.models()
        table = Table(title=f"models at {args.server}")
        for column in ("model", "version", "state", "engines", "labels"):
            table.add_column(column)
        for name, versions in models.items():
            if not versions:
                table.add_row(name, "-", "no versions found yet", "", "")
            for version in versions:
                state = version.state
                if version.error_code != "OK":
                    state += f" ({version.error_code}: {version.error_message})"
                engines = ", ".join(f"{sig}: {engine}" for sig, engine in version.engines)
                labels = f"{len(version.labels)} classes" if version.labels else ""
                table.add_row(name, str(version.version), state, engines, labels)
        console.print(table)
        return EXIT_OK

    return run(command)


def _models_v2(args: argparse.Namespace) -> int:
    with connect_v2(args) as client:
        try:
            index = client.repository_index()
        except ServerError as exc:
            raise without_repository(exc, args.server) from None
    table = Table(title=f"models at {args.server}")
    for column in ("model", "version", "state", "reason"):
        table.add_column(column)
    for row in index:
        table.add_row(row.name, row.version or "-", row.state or "-", row.reason)
    console.print(table if index else f"no models in the repository of {args.server}")
    return EXIT_OK


def metadata_main(argv: Sequence[str], prog: str = "shiba metadata") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Show a model's signatures: each input and output's type and shape."
    )
    parser.add_argument("model", help="the model's name")
    parser.add_argument("--version", type=int, help="a version number (default: the latest)")
    parser.add_argument("--label", help="a version label, instead of --version")
    add_protocol_option(parser, "the metadata")
    add_server_options(parser)
    args = parser.parse_args(argv)

    def command() -> int:
        if args.protocol == "v2":
            return _metadata_v2(args)
        with connect(args) as client:
            metadata = client.metadata(args.model, version=args.version, label=args.label)
        console.print(f"[bold]{metadata.name}[/] version {metadata.version}")
        for signature in metadata.signatures.values():
            table = Table(title=f"{signature.name} ({signature.method})", title_justify="left")
            for column in ("", "name", "dtype", "shape"):
                table.add_column(column)
            for kind, tensors in (("input", signature.inputs), ("output", signature.outputs)):
                for info in tensors.values():
                    shape = "unknown rank" if info.shape is None else str(list(info.shape))
                    table.add_row(kind, info.name, info.dtype.name, shape)
            console.print(table)
        return EXIT_OK

    return run(command)


def _metadata_v2(args: argparse.Namespace) -> int:
    if args.label is not None:
        raise UsageError(
            "the Open Inference Protocol has no version labels: give --version, or use "
            "--protocol tfserving"
        )
    with connect_v2(args) as client:
        metadata = client.model_metadata(args.model, version=args.version)
    versions = ", ".join(metadata.versions) or "-"
    console.print(
        f"[bold]{metadata.name}[/] versions {versions}, platform {metadata.platform or '-'}"
    )
    table = Table(title="inputs and outputs", title_justify="left")
    for column in ("", "name", "datatype", "shape"):
        table.add_column(column)
    for kind, tensors in (("input", metadata.inputs), ("output", metadata.outputs)):
        for tensor in tensors:
            table.add_row(kind, tensor.name, tensor.datatype, str(list(tensor.shape)))
    console.print(table)
    return EXIT_OK
