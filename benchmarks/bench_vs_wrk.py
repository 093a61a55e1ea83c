"""``shiba bench`` against ``wrk`` on the seed's workload: can the load generator load a server?

    .venv/bin/python benchmarks/bench_vs_wrk.py [--duration 10]

Serves the demo ViT (OpenVINO engine, batching on, as run.py's best REST row) and loads it with
W1 (one 32x32x3 integer image per request as JSON ``instances``, the same bytes from both) at
concurrency 1 and 64, first from ``wrk -t1``, then from ``shiba bench --body``. Prints each one's
throughput and p50/p99, the ratio shiba bench / wrk, and the CPU each generator spent per request
(wrk's from the children's rusage; shiba bench's as it reports it, over the measured part), which
says how much of the
machine's two cores the generator took from the server. The machine is shared and noisy, so the
two generators take turns, ``--rounds`` times, and each one's best run is compared. Needs ``wrk``
(``make bench`` installs it).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import run  # benchmarks/run.py: the server, the body and wrk, as the suite runs them

BIN = Path(sys.executable).parent


def shiba_bench(url: str, body: Path, connections: int, seconds: float, out: Path) -> run.Load:
    done = subprocess.run(
        [
            str(BIN / "shiba"), "bench", "ViT", "--body", str(body), "--server", url,
            "-c", str(connections), "-d", f"{seconds:g}", "--warmup", "1", "--out", str(out),
        ],
        capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip

    def row(name: str) -> float:
        found = re.search(rf"{re.escape(name)}\s*│\s*([\d.]+)", done.stdout)
        if found is None:
            raise RuntimeError(f"no {name!r} in shiba bench's output:\n{done.stdout}")
        return float(found.group(1))

    answered = int(row("answers"))
    load = run.Load(row("throughput (req/s)"), row("latency p50 (ms)"), row("latency p99 (ms)"),
                    int(row("errors")), answered)  # fmt: skip
    load.wrk_us = row("bench CPU per request (µs)")  # while measuring: no start-up, no warm-up
    return load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each generator (best kept)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-vs-wrk-"))
    body = folder / "w1.json"
    body.write_bytes(run.w1_body())
    port = run.free_port()
    serve = run.shiba_args(port, "openvino", "--port=0", "--enable_batching",
                           f"--batching_parameters_file={run.REPO / 'benchmarks' / 'batching_w1.txt'}")  # fmt: skip
    with run.server(serve, port, "/v1/models/ViT") as (url, _pid):
        predict = url + "/v1/models/ViT:predict"
        run.check_answer(predict, body.read_bytes())
        run.wrk(predict, body, 64, min(3.0, args.duration))  # warm up the server
        print(f"{'generator':<12} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'errors':>6} {'gen CPU µs/req':>15}")  # fmt: skip
        for connections in (1, 64):
            wrk_runs: list[run.Load] = []
            bench_runs: list[run.Load] = []
            for turn in range(max(args.rounds, 1)):  # the generators take turns
                before = run.children_cpu_seconds()
                load = run.wrk(predict, body, connections, args.duration)
                load.wrk_us = (run.children_cpu_seconds() - before) / max(load.requests, 1) * 1e6
                wrk_runs.append(load)
                out = folder / f"c{connections}-{turn}"
                bench_runs.append(shiba_bench(url, body, connections, args.duration, out))
            by_wrk = max(wrk_runs, key=lambda load: load.requests_per_s)
            by_shiba = max(bench_runs, key=lambda load: load.requests_per_s)
            for name, load in (("wrk -t1", by_wrk), ("shiba bench", by_shiba)):
                print(f"{name:<12} {connections:>3} {load.requests_per_s:>9.0f} {load.p50_ms:>8.2f} "
                      f"{load.p99_ms:>8.2f} {load.failures:>6} {load.wrk_us or 0:>15.1f}")  # fmt: skip
            ratio = by_shiba.requests_per_s / by_wrk.requests_per_s
            print(f"{'':<12} {connections:>3} shiba bench / wrk throughput: {ratio:.2f}")
    print(f"plots: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
