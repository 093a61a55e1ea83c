"""Which ``max_batch_size`` suits each engine: W1 over REST at 64 connections, per batch size.

    .venv/bin/python benchmarks/batch_sizes.py [--duration 8] [--sizes 4,8,16,32,64]
        [--engines tensorflow,openvino]

For each engine and each size, starts ``shiba serve`` on the demo ViT with batching on
(``batch_timeout_micros`` 0, one batch thread, as ``batching_w1.txt``) and ``max_batch_size`` set
to the size, loads it with ``wrk -t1 -c64`` and prints req/s, p50 and p99, and the mean rows per
batch read from the server's own Prometheus histogram (``:tensorflow:serving:batching_session:
processed_batch_size``). Needs wrk and the demo model (``make bench`` provides both). The machine is
shared and noisy: compare rows of one run.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import Load, free_port, server, shiba_args, w1_body, wrk


def mean_batch(metrics_url: str) -> float:
    page = requests.get(metrics_url, timeout=30).text
    name = ":tensorflow:serving:batching_session:processed_batch_size"
    total = re.search(rf"^{re.escape(name)}_sum(?:\{{.*?\}})? ([\d.e+]+)", page, re.M)
    count = re.search(rf"^{re.escape(name)}_count(?:\{{.*?\}})? ([\d.e+]+)", page, re.M)
    if not total or not count or float(count.group(1)) == 0:
        return float("nan")
    return float(total.group(1)) / float(count.group(1))


def one(engine: str, size: int, body_file: Path, seconds: float, work: Path) -> tuple[Load, float]:
    params = work / f"batching_{size}.txt"
    params.write_text(
        f"max_batch_size {{ value: {size} }}\nbatch_timeout_micros {{ value: 0 }}\n"
        "max_enqueued_batches { value: 1000000 }\nnum_batch_threads { value: 1 }\n"
    )
    monitoring = work / "monitoring.txt"
    monitoring.write_text('prometheus_config { enable: true path: "/metrics" }\n')
    port = free_port()
    args = shiba_args(
        port,
        engine,
        "--port=0",
        "--enable_batching",
        f"--batching_parameters_file={params}",
        f"--monitoring_config_file={monitoring}",
    )
    with server(args, port, "/v1/models/ViT") as (url, _):
        predict = url + "/v1/models/ViT:predict"
        wrk(predict, body_file, 64, min(3.0, seconds))  # warm up
        load = wrk(predict, body_file, 64, seconds)
        return load, mean_batch(url + "/metrics")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--sizes", default="4,8,16,32,64")
    parser.add_argument("--engines", default="tensorflow,openvino")
    ns = parser.parse_args()
    sizes = [int(s) for s in ns.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="shiba-batch-sizes-") as tmp:
        work = Path(tmp)
        body_file = work / "w1.json"
        body_file.write_bytes(w1_body())
        print("| engine | max_batch_size | req/s | p50 ms | p99 ms | failed | mean batch |")
        print("|---|---|---|---|---|---|---|")
        for engine in ns.engines.split(","):
            for size in sizes:
                load, batch = one(engine, size, body_file, ns.duration, work)
                print(
                    f"| {engine} | {size} | {load.requests_per_s:,.0f} | {load.p50_ms:.2f} | "
                    f"{load.p99_ms:.2f} | {load.failures} | {batch:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
