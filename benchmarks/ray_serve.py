"""The Ray hop: W1 through ``shiba serve --ray`` with 1 and 2 replicas beside plain shiba, one run.

    .venv/bin/python benchmarks/ray_serve.py [--duration 5] [--model_base_path build/models/ViT]

Starts a local Ray cluster (one head node, ``--ray-cpus`` CPUs) in a temporary folder, then on the
demo ViT (OpenVINO engine, batching as ``batching_w1.txt``) measures with ``wrk -t1``, at 1 and 64
connections: plain ``shiba serve``; ``shiba serve --ray --num_replicas 1``; ``--num_replicas 2``.
Prints one table, the ratios to plain shiba, and what the hop costs a request: the p50 latency
added at concurrency 1, and the CPU each request took at concurrency 64 in the server-side
processes (every process below this script but wrk: the server, Ray's and the replicas), over
plain shiba's. On a 2-core machine two replicas share the cores with
the front end, Ray and wrk: the second replica adds no CPU, so this measures the hop, not scaling.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import REPO, VIT, Load, check_answer, free_port, server, shiba_args, w1_body, wrk


def _tree_cpu_seconds() -> float:
    """CPU seconds so far of every live process below this one (the servers, Ray's processes and
    replicas): the machine is shared, so its own counters would count other people's work."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    below: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - below
        below |= frontier
    return sum(cpu[pid] for pid in below)


def rows(url: str, body_file: Path, seconds: float) -> dict[int, tuple[Load, float]]:
    """wrk at c=1 and c=64 after a warm-up: each Load with the machine's CPU µs per request."""
    check_answer(url, body_file.read_bytes())
    wrk(url, body_file, 64, min(3.0, seconds))
    measured: dict[int, tuple[Load, float]] = {}
    for c in (1, 64):
        before = _tree_cpu_seconds()
        load = wrk(url, body_file, c, seconds)
        measured[c] = (load, (_tree_cpu_seconds() - before) * 1e6 / max(1, load.requests))
    return measured


@contextmanager
def ray_cluster(cpus: int) -> Iterator[str]:
    """A Ray head node in a temporary folder; shut down (and its folder removed) at the end."""
    temp = Path(tempfile.mkdtemp(prefix="shiba-ray-"))
    os.environ["RAY_TMPDIR"] = str(temp)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # nothing leaves this machine
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": cpus, "include_dashboard": False},
    )
    try:
        yield str(cluster.address)
    finally:
        cluster.shutdown()  # type: ignore[no-untyped-call]
        time.sleep(1)
        shutil.rmtree(temp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--model_base_path", type=Path, default=VIT)
    parser.add_argument("--ray-cpus", type=int, default=2, help="CPUs the Ray head declares")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    if not (args.model_base_path / "1" / "saved_model.pb").exists():
        print(f"no demo ViT at {args.model_base_path}: run make demo-model", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="shiba-bench-"))
    body_file = work / "w1.json"
    body_file.write_bytes(w1_body())
    common = [
        f"--model_base_path={args.model_base_path.resolve()}",
        "--enable_batching",
        f"--batching_parameters_file={REPO / 'benchmarks' / 'batching_w1.txt'}",
        "--port=0",
    ]
    results: dict[str, dict[int, tuple[Load, float]]] = {}
    port = free_port()
    print("measuring plain shiba ...", file=sys.stderr)
    with server(shiba_args(port, "openvino", *common), port, "/v1/models/ViT") as (url, _):
        results["plain shiba"] = rows(url + "/v1/models/ViT:predict", body_file, args.duration)
    with ray_cluster(args.ray_cpus) as address:
        for replicas in (1, 2):
            print(f"measuring shiba on Ray Serve, {replicas} replica(s) ...", file=sys.stderr)
            port = free_port()
            ray_args = ["--ray", f"--ray_address={address}", f"--num_replicas={replicas}"]
            with server(
                shiba_args(port, "openvino", *common, *ray_args), port, "/v1/models/ViT"
            ) as (url, _):
                results[f"Ray Serve, {replicas} replica(s)"] = rows(
                    url + "/v1/models/ViT:predict", body_file, args.duration
                )

    print()
    print(
        "| W1 (one 32x32x3 image per request), OpenVINO, batching on | c | req/s | p50 | p99 "
        "| failed | server-side CPU per request |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, measured in results.items():
        for c, (load, cpu_us) in measured.items():
            print(
                f"| {label} | {c} | {load.requests_per_s:,.0f} | {load.p50_ms:.2f} ms "
                f"| {load.p99_ms:.2f} ms | {load.failures} of {load.requests} | {cpu_us:.0f} µs |"
            )
    plain = results["plain shiba"]
    for label, measured in results.items():
        if label == "plain shiba":
            continue
        for c in (1, 64):
            ratio = measured[c][0].requests_per_s / plain[c][0].requests_per_s
            print(f"| ratio: {label} / plain shiba, c={c} | {ratio:.2f} |")
        added_ms = measured[1][0].p50_ms - plain[1][0].p50_ms
        added_cpu = measured[64][1] - plain[64][1]
        print(
            f"| the Ray hop, {label}: p50 added at c=1 {added_ms:.2f} ms; server-side CPU added per"
            f" request at c=64 {added_cpu:.0f} µs |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
