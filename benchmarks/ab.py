"""A/B of two source trees of shiba on W1: did a change slow the REST or gRPC rows?

    .venv/bin/python benchmarks/ab.py BEFORE_SRC [AFTER_SRC] [--rounds 3] [--duration 5]

``BEFORE_SRC`` and ``AFTER_SRC`` are ``src`` folders (default AFTER: this checkout's), e.g. of a
worktree at the commit to compare with (``git worktree add --detach /tmp/base <rev>``; copy the
built ``src/shiba/codecs/_fastjson*.so`` into it). Both servers run from this venv with
``PYTHONPATH`` set to their tree, serve the demo ViT (OpenVINO, batching on, as run.py's best
rows) side by side, and are loaded in turns, ``--rounds`` times: REST with ``wrk -t1`` at c=64 and
c=1, TF Serving gRPC and v2 gRPC with ``grpc_load.py`` at c=64. A change is a slowdown only if its
side loses in every round: the machine is shared and one run's noise is ±5%.

Prints per round and side: req/s, the event loop's and the whole server's CPU per request (REST
c=64; the whole server's for gRPC), and the REST c=1 p50. Needs ``wrk`` and ``make demo-model``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import run  # benchmarks/run.py: the server, the body, wrk and the CPU counters, as the suite uses them


@contextlib.contextmanager
def serving(src: Path, batching: Path) -> Iterator[tuple[str, int, int]]:
    """``shiba serve`` from the tree ``src``: yields (REST URL, gRPC port, pid)."""
    port, grpc_port = run.free_port(), run.free_port()
    args = run.shiba_args(port, "openvino", f"--port={grpc_port}", "--enable_batching")
    args.append(f"--batching_parameters_file={batching}")
    # run.server starts the process with os.environ: give it this tree's sources.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src)
    try:
        with run.server(args, port, "/v1/models/ViT") as (url, pid):
            yield url, grpc_port, pid
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def grpc_load(grpc_port: int, protocol: str, seconds: float, pid: int) -> tuple[float, float]:
    """(req/s, whole server CPU µs per request) of one run.py gRPC row at c=64."""
    before = run._cpu_seconds(f"/proc/{pid}/stat")
    load = run.grpc_rows(f"127.0.0.1:{grpc_port}", seconds, levels=(64,), protocol=protocol)[64]
    cpu = run._cpu_seconds(f"/proc/{pid}/stat") - before
    return load.requests_per_s, cpu * 1e6 / max(1, load.requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="the src folder of the tree to compare with")
    parser.add_argument("after", type=Path, nargs="?", default=run.REPO / "src")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load run")
    args = parser.parse_args()
    for src in (args.before, args.after):
        if not (src / "shiba" / "__init__.py").exists():
            parser.error(f"{src} is not a src folder holding the package shiba")
    work = Path(tempfile.mkdtemp(prefix="shiba-ab-"))
    body_file = work / "w1.json"
    body_file.write_bytes(run.w1_body())
    batching = run.REPO / "benchmarks" / "batching_w1.txt"
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(serving(src, batching)) for name, src in sides.items()}
        for url, _, _ in servers.values():  # warm up: threads, caches, batch sizes
            run.wrk(url + "/v1/models/ViT:predict", body_file, 64, 3.0)
        print("| round | side | REST c=64 req/s | loop / server µs | REST c=1 p50 ms "
              "| gRPC c=64 req/s (µs) | v2 gRPC c=64 req/s (µs) |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for round_ in range(1, args.rounds + 1):
            for name, (url, grpc_port, pid) in servers.items():
                predict = url + "/v1/models/ViT:predict"
                many = run.wrk(predict, body_file, 64, args.duration, pid)
                one = run.wrk(predict, body_file, 1, min(3.0, args.duration))
                tfs = grpc_load(grpc_port, "tfserving", args.duration, pid)
                v2 = grpc_load(grpc_port, "v2", args.duration, pid)
                print(
                    f"| {round_} | {name} | {many.requests_per_s:,.0f} "
                    f"| {many.loop_us or 0:.0f} / {many.server_us or 0:.0f} | {one.p50_ms:.2f} "
                    f"| {tfs[0]:,.0f} ({tfs[1]:.0f}) | {v2[0]:,.0f} ({v2[1]:.0f}) |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
