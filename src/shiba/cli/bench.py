"""``shiba bench MODEL``: load a server with one request, print throughput and latency
percentiles, save a latency histogram and a throughput-over-time plot as PNG.

The request comes from ``--image``, ``--npy`` or ``--json`` as for ``shiba predict`` (or, over
REST, ``--body``: a file sent byte for byte, as ``wrk -s`` would); the transport from ``--server``
(``http://`` or ``https://`` REST, ``grpc://`` or ``grpcs://`` gRPC; ``--ca``, ``--cert``,
``--key`` and ``--token`` as ``shiba predict`` takes them) and the API from ``--protocol`` (TF
Serving's predict, or the Open Inference Protocol's infer). The load itself is ``_load.py``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shiba import _proto
from shiba.cli import _load
from shiba.cli._common import (
    EXIT_OK,
    EXIT_SERVER,
    UsageError,
    add_input_options,
    add_protocol_option,
    add_server_options,
    check_server,
    connect,
    connect_v2,
    console,
    errors,
    grpc_address,
    grpc_credentials,
    read_file,
    run,
    ssl_context,
)
from shiba.cli._v2 import no_signature
from shiba.cli.predict import read_inputs, v2_arrays
from shiba.client import Client, ModelRef, V2Client
from shiba.client import _v2_core as v2_core
from shiba.client._rest_core import Call, predict_call, predict_path
from shiba.client.grpc import predict_request
from shiba.client.v2_grpc import infer_request

__all__ = ["bench_main", "percentiles", "save_plots"]

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
_PREDICT = f"/{_proto.PREDICTION_SERVICE}/Predict"
#: The Open Inference Protocol's gRPC method (its proto package is ``inference``).
_MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"


def percentiles(latencies: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9, mean and max of ``latencies``, in milliseconds."""
    values = np.asarray(latencies, dtype=np.float64) * 1000.0
    if values.size == 0:
        return {}
    summary = {f"p{p:g}": float(np.percentile(values, p)) for p in PERCENTILES}
    summary["mean"] = float(values.mean())
    summary["max"] = float(values.max())
    return summary


def save_plots(result: _load.LoadResult, out: Path, title: str) -> list[Path]:
    """Writes ``latency.png`` (a histogram, log-spaced bins) and ``throughput.png`` (answers a
    second, in tenths of a second) into ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    latencies = np.asarray(result.latencies) * 1000.0
    paths = [out / "latency.png", out / "throughput.png"]

    figure, axes = plt.subplots(figsize=(8, 4.5))
    low, high = max(latencies.min(), 1e-3), max(latencies.max(), 1e-3) * 1.01
    bins: Any = np.geomspace(low, high, 60) if high > low * 1.01 else 20
    axes.hist(latencies, bins=bins, color="#3a6ea5")
    axes.set_xscale("log")
    for name, value in percentiles(result.latencies).items():
        if name in ("p50", "p99"):
            axes.axvline(value, color="#c0392b", linestyle="--", linewidth=1)
            axes.text(value, axes.get_ylim()[1] * 0.95, f" {name} {value:.2f} ms", fontsize=8)
    axes.set_xlabel("latency (ms, log scale)")
    axes.set_ylabel("answers")
    axes.set_title(f"latency: {title}", fontsize=10)
    figure.tight_layout()
    figure.savefig(paths[0], dpi=100)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(8, 4.5))
    step = 0.1
    full = int(result.seconds / step)  # the last, partial tenth would read as a drop
    edges = np.arange(full + 1) * step
    counts = np.histogram(result.finished, bins=edges)[0] if len(edges) > 1 else np.zeros(0)
    axes.plot(edges[: len(counts)] + step, counts / step, color="#3a6ea5")
    axes.set_xlabel("seconds")
    axes.set_ylabel("answers per second")
    axes.set_ylim(bottom=0)
    axes.set_title(f"throughput: {title}", fontsize=10)
    figure.tight_layout()
    figure.savefig(paths[1], dpi=100)
    plt.close(figure)
    return paths


def _target(args: argparse.Namespace) -> _load.Target:
    model = ModelRef(args.model, args.version)
    if args.body is not None:
        if check_server(args) not in ("http", "https"):
            raise UsageError("--body is sent over REST: give an http:// or https:// --server")
        body = read_file(args.body)
        if args.protocol == "v2":
            return _rest(args, v2_core.infer_path(args.model, args.version), body)
        return _rest(args, predict_path(model), body)
    if args.protocol == "v2":  # the v2 metadata: the server may speak nothing else
        no_signature(args.signature)
        with connect_v2(args) as v2_client:
            arrays = v2_arrays(args, v2_client)
        return _v2_target(args, arrays, rest=isinstance(v2_client, V2Client))
    try:
        with connect(args) as client:
            signature = client.signature(args.model, args.signature, version=args.version)
            inputs = read_inputs(args, signature)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    if isinstance(client, Client):
        return _rest_call(args, predict_call(model, signature, inputs))
    request = predict_request(model, signature, inputs)
    return _grpc(args, _PREDICT, request)


def _rest(args: argparse.Namespace, path: str, body: bytes) -> _load.Target:
    """REST load to ``--server`` (with its TLS files for ``https://``) and ``--token``."""
    tls = ssl_context(args) if args.server.startswith("https://") else None
    return _load.rest_target(args.server, path, body, args.token, tls)


def _rest_call(args: argparse.Namespace, call: Call[Any]) -> _load.Target:
    """REST load of ``call``'s request (the one the client would send), as :func:`_rest`."""
    assert call.body is not None  # predict and infer calls carry a body
    return _rest(args, call.path, call.body)


def _grpc(args: argparse.Namespace, method: str, request: Any) -> _load.Target:
    """gRPC load to ``--server`` (secure with its TLS files for ``grpcs://``) and ``--token``."""
    credentials = grpc_credentials(args) if args.server.startswith("grpcs://") else None
    return _load.grpc_target(grpc_address(args), method, request, args.token, credentials)


def _v2_target(
    args: argparse.Namespace, arrays: dict[str, npt.NDArray[Any]], *, rest: bool
) -> _load.Target:
    """The Open Inference Protocol's infer request for ``arrays`` (``v2_arrays``'s)."""
    if rest:
        return _rest_call(args, v2_core.infer_call(args.model, args.version, arrays))
    request = infer_request(args.model, args.version, arrays)
    return _grpc(args, _MODEL_INFER, request)


def bench_main(argv: Sequence[str], prog: str = "shiba bench") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Load a server with one predict request from many connections; print "
        "throughput and latency percentiles; save latency.png and throughput.png.",
    )
    add_input_options(parser, body="a :predict body sent byte for byte, as wrk would (REST only)")
    add_protocol_option(parser, "the request (v2 runs the model's serving_default)")
    parser.add_argument("-c", "--concurrency", type=int, default=16, help="connections (16)")
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("-d", "--duration", type=float, help="seconds to measure (default 10)")
    amount.add_argument("-n", "--requests", type=int, help="answers to measure, instead")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds not measured (1)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="PNG folder")
    add_server_options(parser)
    args = parser.parse_args(argv)
    if args.concurrency < 1 or (args.requests is not None and args.requests < 1):
        parser.error("--concurrency and --requests need a number of at least 1")
    if args.duration is None and args.requests is None:
        args.duration = 10.0

    def command() -> int:
        target = _target(args)
        total = args.duration if args.duration is not None else float(args.requests)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[rate]:>9.0f} req/s  {task.fields[errors]} errors"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("bench", total=total, rate=0.0, errors=0)

            def tick(result: _load.LoadResult, elapsed: float) -> None:
                done = len(result.latencies)
                rate = done / elapsed if elapsed > 0 else 0.0
                value = elapsed if args.duration is not None else float(done)
                progress.update(task, completed=min(value, total), rate=rate, errors=result.errors)

            with _event_loop() as loop:
                result = loop.run_until_complete(
                    _load.run_load(
                        target,
                        concurrency=args.concurrency,
                        duration=args.duration,
                        requests=args.requests,
                        warmup=args.warmup,
                        on_tick=tick,
                    )
                )
        return _report(args, target, result)

    return run(command)


@contextlib.contextmanager
def _event_loop() -> Any:
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


def _report(args: argparse.Namespace, target: _load.Target, result: _load.LoadResult) -> int:
    answered = len(result.latencies)
    table = Table(
        title=f"{target.description}, {args.concurrency} connections", title_justify="left"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("answers", str(answered))
    table.add_row("errors", str(result.errors))
    table.add_row("seconds", f"{result.seconds:.2f}")
    table.add_row("throughput (req/s)", f"{answered / result.seconds:.1f}")
    for name, value in percentiles(result.latencies).items():
        table.add_row(f"latency {name} (ms)", f"{value:.3f}")
    if answered:
        cost = result.cpu_seconds / answered * 1e6
        table.add_row("bench CPU per request (µs)", f"{cost:.1f}")
    console.print(table)
    if result.first_error:
        errors.print(f"[red]first error:[/] {result.first_error}")
    if not answered:
        errors.print("[red]error:[/] no request was answered; no plots written")
        return EXIT_SERVER
    for path in save_plots(result, args.out, f"{args.model}, {target.description}"):
        console.print(f"wrote {path}")
    return EXIT_SERVER if result.errors else EXIT_OK
