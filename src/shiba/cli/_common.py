"""What every client sub-command shares: the server options, the client they make, exit codes.

Exit codes (the README lists them): 0 done; 1 the server answered with an error (its message is
printed); 2 a bad command line or an input file that cannot be used; 3 no server answered (nothing
listening, a timeout).
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import grpc
from rich.console import Console

from shiba.client import (
    Client,
    ClientError,
    GrpcClient,
    ServerError,
    V2Client,
    V2GrpcClient,
)
from shiba.client._grpc_shell import SyncGrpc
from shiba.client.rest import SyncHttp, client_ssl_context
from shiba.core.tensors import DEFAULT_SIGNATURE

__all__ = [
    "EXIT_OK",
    "EXIT_SERVER",
    "EXIT_USAGE",
    "EXIT_UNREACHABLE",
    "DEFAULT_SERVER",
    "UsageError",
    "add_server_options",
    "add_protocol_option",
    "add_input_options",
    "read_file",
    "read_text",
    "check_server",
    "ssl_context",
    "grpc_credentials",
    "grpc_address",
    "connect",
    "connect_v2",
    "run",
    "console",
    "errors",
]

EXIT_OK, EXIT_SERVER, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_SERVER = "http://localhost:8501"

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


class UsageError(Exception):
    """A command line or input file that cannot be used; the message says what to change."""


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """``--server``, ``--token``, ``--timeout`` (defaults from SHIBA_SERVER and SHIBA_TOKEN), and
    ``--ca``, ``--cert`` and ``--key`` for an ``https://`` or ``grpcs://`` server."""
    parser.add_argument(
        "--server",
        default=os.environ.get("SHIBA_SERVER", DEFAULT_SERVER),
        help="http(s)://host:port of the REST API, or grpc(s)://host:port of the gRPC API "
        f"(default: $SHIBA_SERVER or {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("SHIBA_TOKEN"),
        help="bearer token sent with every request (default: $SHIBA_TOKEN)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per request (default: 30)"
    )
    parser.add_argument(
        "--ca",
        type=Path,
        metavar="FILE",
        help="PEM CA certificate(s) to trust (default: certifi's bundle over REST, gRPC's own "
        "roots over gRPC)",
    )
    parser.add_argument(
        "--cert",
        type=Path,
        metavar="FILE",
        help="PEM client certificate, for mutual TLS (with --key)",
    )
    parser.add_argument("--key", type=Path, metavar="FILE", help="PEM key of --cert")


def add_protocol_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--protocol tfserving|v2``: which API ``what`` uses (the same choice for every command)."""
    parser.add_argument(
        "--protocol",
        choices=("tfserving", "v2"),
        default="tfserving",
        help=f"TensorFlow Serving's API (default) or the Open Inference Protocol's (KServe v2: "
        f"Triton, MLServer, OpenVINO Model Server, KServe) for {what}",
    )


def add_input_options(parser: argparse.ArgumentParser, *, body: str | None = None) -> None:
    """``MODEL``, one of ``--image``/``--npy``/``--json`` (as ``read_inputs`` reads them) or, when
    ``body`` (its help) is given, ``--body FILE`` (a request body sent as it is), then
    ``--signature`` and ``--version``."""
    parser.add_argument("model", help="the model's name")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=Path, help="an image file, laid out as the input wants")
    source.add_argument("--npy", type=Path, help="a .npy array (one input) or .npz (by name)")
    source.add_argument("--json", metavar="FILE|-", help="a JSON request body or value; - is stdin")
    if body is not None:
        source.add_argument("--body", type=Path, help=body)
    parser.add_argument("--signature", default=DEFAULT_SIGNATURE, help="default: serving_default")
    parser.add_argument("--version", type=int, help="a version number (default: the latest)")


def read_file(path: Path) -> bytes:
    """The bytes of ``path``; ``UsageError`` naming it when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def read_text(path: Path, what: str = "text") -> str:
    """The UTF-8 text of ``path``; ``UsageError`` naming it when it cannot be read or is not
    UTF-8 (``PATH: not UTF-8 {what} (...)``)."""
    try:
        return read_file(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 {what} ({exc})") from None


def check_server(args: argparse.Namespace) -> str:
    """``--server``'s scheme (``http``, ``https``, ``grpc`` or ``grpcs``), after checking that
    ``--ca``/``--cert``/``--key`` go with it (TLS files need a TLS scheme; ``--cert`` and
    ``--key`` go together); ``UsageError`` otherwise."""
    server: str = args.server
    if (args.cert is None) != (args.key is None):
        raise UsageError("--cert and --key go together (the client certificate and its key)")
    scheme = server.split("://", 1)[0] if "://" in server else ""
    if scheme not in ("http", "https", "grpc", "grpcs"):
        raise UsageError(f"--server {server!r}: give http://, https://, grpc:// or grpcs://")
    if scheme in ("http", "grpc") and (args.ca or args.cert):
        article = "an" if scheme == "http" else "a"
        raise UsageError(
            f"--ca, --cert and --key are for TLS: give {article} {scheme}s:// --server"
        )
    return scheme


def _verify(args: argparse.Namespace) -> bool | str:
    """What the REST client's ``verify`` takes for ``--ca``: its path, else True (the default
    CAs)."""
    return str(args.ca) if args.ca else True


def _cert(args: argparse.Namespace) -> tuple[str, str] | None:
    """The REST client's ``cert`` pair from ``--cert`` and ``--key``."""
    return (str(args.cert), str(args.key)) if args.cert else None


def ssl_context(args: argparse.Namespace) -> ssl.SSLContext:
    """A client TLS context for an ``https://`` ``--server``, trusting and presenting what
    ``shiba predict``'s REST client would (``--ca``, ``--cert``/``--key``) and speaking
    HTTP/1.1; ``UsageError`` naming the files when they cannot be used."""
    try:
        context = client_ssl_context(_verify(args), _cert(args))
    except ClientError as exc:
        raise UsageError(exc.message) from None
    context.set_alpn_protocols(["http/1.1"])
    return context


def grpc_address(args: argparse.Namespace) -> str:
    """The channel target of a ``grpc://`` or ``grpcs://`` ``--server`` (its host:port)."""
    server: str = args.server
    return server.split("://", 1)[1].rstrip("/")


def _grpc_files(args: argparse.Namespace) -> tuple[bytes | None, bytes | None, bytes | None]:
    """``--ca``, ``--key`` and ``--cert``'s bytes (None for those not given), in the order
    ``grpc.ssl_channel_credentials`` takes them."""
    ca, key, cert = (read_file(f) if f else None for f in (args.ca, args.key, args.cert))
    return ca, key, cert


def grpc_credentials(args: argparse.Namespace) -> grpc.ChannelCredentials:
    """Channel credentials for a ``grpcs://`` ``--server``, from ``--ca``, ``--cert``, ``--key``."""
    return grpc.ssl_channel_credentials(*_grpc_files(args))


_Rest = TypeVar("_Rest", bound=SyncHttp)
_Grpc = TypeVar("_Grpc", bound=SyncGrpc)


def _open(args: argparse.Namespace, rest: type[_Rest], grpc_class: type[_Grpc]) -> _Rest | _Grpc:
    server: str = args.server
    scheme = check_server(args)
    if scheme in ("grpc", "grpcs"):
        root_certificates, private_key, certificate_chain = _grpc_files(args)
        return grpc_class(
            grpc_address(args),
            timeout=args.timeout,
            token=args.token,
            tls=scheme == "grpcs",
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
        )
    try:
        return rest(
            server, timeout=args.timeout, token=args.token, verify=_verify(args), cert=_cert(args)
        )
    except ClientError as exc:
        raise UsageError(exc.message) from None


def connect(args: argparse.Namespace) -> Client | GrpcClient:
    """The TensorFlow Serving client for ``--server``: gRPC for ``grpc://`` (``grpcs://``: with
    TLS), else REST; ``--ca``, ``--cert`` and ``--key`` for TLS (a file that cannot be used is a
    usage error)."""
    return _open(args, Client, GrpcClient)


def connect_v2(args: argparse.Namespace) -> V2Client | V2GrpcClient:
    """The Open Inference Protocol client for ``--server``, as :func:`connect` chooses."""
    return _open(args, V2Client, V2GrpcClient)


def run(command: Callable[[], int]) -> int:
    """Runs ``command`` and turns the client's errors into a message and an exit code."""
    try:
        return command()
    except UsageError as exc:
        errors.print(f"[red]error:[/] {exc}")
        return EXIT_USAGE
    except ServerError as exc:
        errors.print(f"[red]error from the server[/] ({exc.code.name}): {exc.message}")
        return EXIT_SERVER
    except ClientError as exc:
        errors.print(f"[red]error:[/] {exc.message}")
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
