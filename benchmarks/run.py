"""shiba's benchmark suite: one command, one run, one table (issue 6's workloads).

    .venv/bin/python benchmarks/run.py [--duration 10] [--skip-flask]

Measures, on this machine, in one run:
  * the limit: the demo ViT's signature called in-process (shiba's TensorFlow runtime, no server)
    at batch 1 (latency), batch 64, batch 32 (what 64 connections form: one batch runs while the
    next forms) and its best batch size (images/s);
  * shiba REST on W1 (one 32x32x3 integer image per request as JSON ``instances``) at
    concurrency 1 and 64, batching off and on, load from ``wrk -t1`` on the same machine;
  * with batching on, the same image over the Open Inference Protocol (v2 REST ``/infer``, FP32
    tensor as JSON ``data`` and as binary tensor data), same server, same wrk;
  * the Flask way: a Flask route calling the same SavedModel per request, under gunicorn with two
    sync workers, same URL and body;
  * W2 decode (a 224x224x3 image as JSON ``instances``, integers and floats): shiba's codec against
    orjson + numpy, in MB/s;
  * TLS: the same W1 rows at c=64 over HTTPS (wrk) and TLS gRPC (``--ssl_config_file``, OpenVINO,
    batching on), beside the plain rows of that configuration;
  * the ratios: shiba to the limit, shiba to the Flask way, TLS to plain;
  * with torch installed, a small CNN as TorchScript on W1: torch in-process against shiba, on
    torch and on OpenVINO where verified (``benchmarks/torch_row.py``).
Needs ``wrk`` (Debian package) and, for the Flask row, flask and gunicorn (``make bench`` installs
them). The machine is shared and noisy: compare figures from one run only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc_load  # benchmarks/grpc_load.py: the W1 tensor the gRPC and v2 rows send
import numpy as np
import numpy.typing as npt
import requests

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "build" / "models"
VIT = MODELS / "ViT"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def w1_body(seed: int = 0) -> bytes:
    image = np.random.default_rng(seed).integers(0, 256, size=(1, 32, 32, 3), dtype=np.uint8)
    return json.dumps({"signature_name": "serving_default", "instances": image.tolist()}).encode()


def w2_bodies(seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    ints = rng.integers(0, 256, size=(1, 224, 224, 3), dtype=np.uint8)
    floats = rng.random(size=(1, 224, 224, 3), dtype=np.float32)
    return {
        "integers": json.dumps({"instances": ints.tolist()}).encode(),
        "floats": json.dumps({"instances": floats.astype(np.float64).tolist()}).encode(),
    }


# -- the limit ----------------------------------------------------------------------------------


def limit(engine: str, batch_sizes: list[int], seconds: float) -> dict[str, Any]:
    """Runs in a child process: the demo ViT's signature on one engine, in-process, no server."""
    from shiba.core.ids import ServableId
    from shiba.runtimes import openvino
    from shiba.runtimes.base import RuntimeOptions
    from shiba.runtimes.registry import make_loader

    loader = make_loader("tensorflow", ServableId("ViT", 1), VIT / "1", RuntimeOptions())
    servable = loader.load()
    if engine == "openvino":
        candidate = openvino.build_candidate(VIT / "1", servable.signatures, RuntimeOptions())
        assert "serving_default" not in candidate.rejected, candidate.rejected
        loader.unload()
        assert candidate.servable is not None
        servable = candidate.servable
    (name,) = servable.signatures["serving_default"].inputs
    medians = median_seconds(
        lambda x: servable.run("serving_default", {name: x}), batch_sizes, seconds
    )
    servable.close()
    result: dict[str, Any] = {"images_per_s": {b: b / m for b, m in medians.items()}}
    if 1 in medians:
        result["batch1_p50_ms"] = medians[1] * 1e3
    return result


def median_seconds(
    call: Callable[[npt.NDArray[np.float32]], object], batch_sizes: Iterable[int], seconds: float
) -> dict[int, float]:
    """The median seconds of ``call`` on a batch of W1's images (``[batch, 32, 32, 3]`` float32
    pixels 0-255) at each batch size: after 5 warm-up calls, calls for ``seconds`` (at least 20)."""
    rng = np.random.default_rng(0)
    medians: dict[int, float] = {}
    for batch in batch_sizes:
        x = rng.integers(0, 256, size=(batch, 32, 32, 3)).astype(np.float32)
        for _ in range(5):
            call(x)
        times: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(times) < 20:
            start = time.perf_counter()
            call(x)
            times.append(time.perf_counter() - start)
        medians[batch] = statistics.median(times)
    return medians


def measure_limit(engine: str, seconds: float) -> dict[str, Any]:
    here = str(Path(__file__).parent)
    sizes = [1, 8, 16, 32, 64, 128, 256]
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); import run; "
        f"print(json.dumps(run.limit({engine!r}, {sizes!r}, {seconds!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    data["images_per_s"] = {int(k): v for k, v in data["images_per_s"].items()}
    return data


# -- load with wrk ------------------------------------------------------------------------------


@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    failures: int
    requests: int
    #: CPU time per request (µs) of the server's event-loop thread, of the whole server process
    #: and of wrk, when measured (the c=64 runs of shiba).
    loop_us: float | None = None
    server_us: float | None = None
    wrk_us: float | None = None


def _cpu_seconds(stat_path: str) -> float:
    """utime + stime of a /proc/<pid>[/task/<tid>]/stat file, in seconds."""
    with open(stat_path) as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(
    url: str, body_file: Path, connections: int, seconds: float, pid: int | None = None
) -> Load:
    """One wrk run; with ``pid`` (the server's), also the CPU each request cost (Load.*_us)."""
    before = _cpu_sample(pid) if pid is not None else None
    load = _wrk(url, body_file, connections, seconds)
    if pid is not None and before is not None and load.requests:
        after = _cpu_sample(pid)
        load.loop_us, load.server_us, load.wrk_us = (
            (b - a) * 1e6 / load.requests for a, b in zip(before, after, strict=True)
        )
    return load


def _cpu_sample(pid: int) -> tuple[float, float, float]:
    """CPU seconds so far of the server's main (event-loop) thread, of the whole server, and of
    this process's finished children (the wrk runs)."""
    return (
        _cpu_seconds(f"/proc/{pid}/task/{pid}/stat"),
        _cpu_seconds(f"/proc/{pid}/stat"),
        children_cpu_seconds(),
    )


def children_cpu_seconds() -> float:
    """User + system CPU seconds so far of this process's finished children (wrk runs...)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wrk(url: str, body_file: Path, connections: int, seconds: float) -> Load:
    script = body_file.with_suffix(".lua")
    # A v2 binary body has its JSON length beside it (v2_bodies).
    length_file = body_file.with_suffix(".length")
    header = (
        f'wrk.headers["Inference-Header-Content-Length"] = "{length_file.read_text().strip()}"\n'
        if length_file.exists()
        else ""
    )
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"{header}"
        f'local f = io.open("{body_file}", "rb")\n'
        'wrk.body = f:read("*a")\n'
        "f:close()\n"
    )
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    failures = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        failures += int(non2xx.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        failures += sum(int(g) for g in errors.groups())
    return Load(rps, p50, p99, failures, total)


@contextmanager
def server(
    args: list[str], port: int, ready_path: str, ca_file: str | None = None
) -> Iterator[tuple[str, int]]:
    """Starts a server; yields its base URL and its pid once ``ready_path`` answers. With
    ``ca_file`` the server is reached over HTTPS, trusting that CA."""
    log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    url = f"{'https' if ca_file else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited; see {log.name}")
            try:
                requests.get(url + ready_path, timeout=5, verify=ca_file or True)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not ready; see {log.name}") from None
                time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def check_answer(url: str, body: bytes, ca_file: str | None = None) -> None:
    response = requests.post(
        url,
        data=body,
        headers={"content-type": "application/json"},
        timeout=60,
        verify=ca_file or True,
    )
    response.raise_for_status()
    predictions = response.json()["predictions"]
    assert len(predictions) == 1 and len(predictions[0]) == 10, predictions


def load_rows(url: str, body_file: Path, seconds: float, pid: int | None = None) -> dict[int, Load]:
    body = body_file.read_bytes()
    check_answer(url, body)
    wrk(url, body_file, 64, min(3.0, seconds))  # warm up: threads, caches, batch sizes
    return {c: wrk(url, body_file, c, seconds, pid if c == 64 else None) for c in (1, 64)}


def v2_bodies(work: Path, url: str) -> dict[str, Path]:
    """W1's image as a v2 inference request, FP32 as JSON ``data`` and as binary tensor data (the
    binary body's JSON length in a ``.length`` file beside it, for ``wrk``'s header)."""
    (tensor,) = requests.get(url + "/v2/models/ViT", timeout=30).json()["inputs"]
    image = grpc_load.w1_image()  # the same tensor as the gRPC rows send
    entry = {"name": tensor["name"], "shape": list(image.shape), "datatype": "FP32"}
    as_json = json.dumps({"inputs": [{**entry, "data": image.ravel().tolist()}]}).encode()
    raw = image.tobytes()
    header = json.dumps(
        {
            "inputs": [{**entry, "parameters": {"binary_data_size": len(raw)}}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    files = {"JSON": work / "v2-json.json", "binary": work / "v2-binary.bin"}
    files["JSON"].write_bytes(as_json)
    files["binary"].write_bytes(header + raw)
    files["binary"].with_suffix(".length").write_text(str(len(header)))
    for path in files.values():
        headers = (
            {"inference-header-content-length": str(len(header))} if path.suffix == ".bin" else {}
        )
        answer = requests.post(
            url + "/v2/models/ViT/infer", data=path.read_bytes(), headers=headers, timeout=60
        )
        answer.raise_for_status()
    return files


def v2_rows(url: str, work: Path, seconds: float, pid: int) -> dict[str, dict[int, Load]]:
    """W1 over v2 REST, JSON and binary, at c=1 and 64 (after a short warm-up each); at c=64
    also the CPU each request cost (as the TF Serving rows)."""
    rows: dict[str, dict[int, Load]] = {}
    for kind, body_file in v2_bodies(work, url).items():
        infer = url + "/v2/models/ViT/infer"
        wrk(infer, body_file, 64, min(3.0, seconds))
        rows[kind] = {
            c: wrk(infer, body_file, c, seconds, pid if c == 64 else None) for c in (1, 64)
        }
    return rows


def grpc_rows(
    target: str,
    seconds: float,
    ca_file: str | None = None,
    levels: tuple[int, ...] = (1, 64),
    protocol: str = "tfserving",
) -> dict[int, Load]:
    """W1 over gRPC Predict (tensor_content), or v2 ModelInfer (raw contents) with ``protocol``
    "v2", from benchmarks/grpc_load.py in a second process (over TLS trusting ``ca_file``)."""
    rows: dict[int, Load] = {}
    for c in levels:
        done = subprocess.run(
            [
                sys.executable,
                str(REPO / "benchmarks" / "grpc_load.py"),
                "--target",
                target,
                "-c",
                str(c),
                "-d",
                f"{seconds:g}",
                *(["--ca", ca_file] if ca_file else []),
                f"--protocol={protocol}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(done.stdout.strip().splitlines()[-1])
        rows[c] = Load(
            data["requests_per_s"],
            data["p50_ms"],
            data["p99_ms"],
            data["failures"],
            data["requests"],
        )
    return rows


def _v2_label(kind: str) -> str:
    """A v2 row's name: "gRPC" (Python grpc.aio client), else "REST JSON" / "REST binary"."""
    return "gRPC (Python grpc.aio client)" if kind == "gRPC" else f"REST {kind}"


def shiba_args(port: int, engine: str, *extra: str) -> list[str]:
    """``shiba serve`` on the demo ViT, REST on ``port``, quiet logs, one TensorFlow engine."""
    return [
        str(BIN / "shiba"),
        "serve",
        "--model_name=ViT",
        f"--model_base_path={VIT}",
        f"--rest_api_port={port}",
        "--rest_api_host=127.0.0.1",
        "--log_level=warning",
        f"--tensorflow_engine={engine}",
        *extra,
    ]


def shiba_rows(
    body_file: Path, seconds: float, batching: bool, engine: str
) -> tuple[dict[int, Load], dict[int, Load] | None, dict[str, dict[int, Load]] | None]:
    port = free_port()
    grpc_port = free_port()
    args = shiba_args(port, engine, f"--port={grpc_port}")
    if batching:
        args += [
            "--enable_batching",
            f"--batching_parameters_file={REPO / 'benchmarks' / 'batching_w1.txt'}",
        ]
    with server(args, port, "/v1/models/ViT") as (url, pid):
        rest = load_rows(url + "/v1/models/ViT:predict", body_file, seconds, pid)
        grpc = grpc_rows(f"127.0.0.1:{grpc_port}", seconds) if batching else None
        v2 = v2_rows(url, body_file.parent, seconds, pid) if batching else None
        if v2 is not None:
            v2["gRPC"] = grpc_rows(f"127.0.0.1:{grpc_port}", seconds, protocol="v2")
        return rest, grpc, v2


def tls_rows(work: Path, body_file: Path, seconds: float, engine: str) -> tuple[Load, Load]:
    """W1 at c=64 over HTTPS and over TLS gRPC, batching on, with a test CA's certificate."""
    sys.path.insert(0, str(REPO))
    from tests._tls import Authority, ssl_config_text

    ca = Authority("bench CA")
    ca_file = work / "ca.pem"
    ca_file.write_text(ca.cert)
    config = work / "ssl.conf"
    config.write_text(ssl_config_text(ca.issue("127.0.0.1", server=True)))
    port = free_port()
    grpc_port = free_port()
    args = shiba_args(
        port,
        engine,
        f"--port={grpc_port}",
        f"--ssl_config_file={config}",
        "--enable_batching",
        f"--batching_parameters_file={REPO / 'benchmarks' / 'batching_w1.txt'}",
    )
    with server(args, port, "/v1/models/ViT", str(ca_file)) as (url, pid):
        predict = url + "/v1/models/ViT:predict"
        check_answer(predict, body_file.read_bytes(), str(ca_file))
        wrk(predict, body_file, 64, min(3.0, seconds))  # warm up, as load_rows does
        rest = wrk(predict, body_file, 64, seconds, pid)
        grpc = grpc_rows(f"127.0.0.1:{grpc_port}", seconds, str(ca_file), (64,))[64]
    return rest, grpc


def flask_rows(body_file: Path, seconds: float) -> dict[int, Load] | None:
    gunicorn = BIN / "gunicorn"
    if not gunicorn.exists():
        return None
    port = free_port()
    args = [
        str(gunicorn),
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(REPO / "benchmarks"),
        "--env",
        f"MODEL_DIR={VIT / '1'}",
        "flask_app:app",
    ]
    with server(args, port, "/") as (url, _):
        return load_rows(url + "/v1/models/ViT:predict", body_file, seconds)


# -- W2 decode ----------------------------------------------------------------------------------


def decode_rates() -> dict[str, tuple[float, float]]:
    import orjson

    from shiba.codecs import tfs_json
    from shiba.core.tensors import DType, Signature, TensorSpec

    signature = Signature({"x": TensorSpec(DType.DT_FLOAT, (-1, 224, 224, 3))}, {})
    rates: dict[str, tuple[float, float]] = {}
    for kind, body in w2_bodies().items():

        def reference(b: bytes = body) -> Any:
            return np.asarray(orjson.loads(b)["instances"], dtype=np.float32)

        def shiba_codec(b: bytes = body) -> Any:
            return tfs_json.decode_predict(b, lambda _: signature).inputs["x"]

        np.testing.assert_array_equal(reference(), shiba_codec())
        rates[kind] = (_rate(reference, len(body)), _rate(shiba_codec, len(body)))
    return rates


def _rate(fn: Any, size: int) -> float:
    times = []
    for _ in range(7):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return size / statistics.median(times) / 1e6


# -- the table ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--skip-flask", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    if not (VIT / "1" / "saved_model.pb").exists():
        subprocess.run(
            [sys.executable, str(REPO / "demo" / "build_vit.py"), "--out", str(MODELS)], check=True
        )
    work = Path(tempfile.mkdtemp(prefix="shiba-bench-"))
    body_file = work / "w1.json"
    body_file.write_bytes(w1_body())

    engines = ("tensorflow", "openvino")
    limits: dict[str, dict[str, Any]] = {}
    shiba: dict[tuple[str, bool], dict[int, Load]] = {}
    shiba_grpc: dict[str, dict[int, Load]] = {}
    shiba_v2: dict[tuple[str, str], dict[int, Load]] = {}
    for engine in engines:
        print(f"measuring the in-process limit on {engine} ...", file=sys.stderr)
        limits[engine] = measure_limit(engine, min(3.0, args.duration))
    for engine in engines:
        for batching in (False, True):
            print(f"measuring shiba REST on {engine}, batching {batching} ...", file=sys.stderr)
            rest, grpc, v2 = shiba_rows(body_file, args.duration, batching, engine)
            shiba[engine, batching] = rest
            if grpc is not None:
                shiba_grpc[engine] = grpc
            for kind, v2_load in (v2 or {}).items():
                shiba_v2[engine, kind] = v2_load
    tls_engine = "openvino"
    print(f"measuring shiba over TLS on {tls_engine}, batching on ...", file=sys.stderr)
    tls_rest, tls_grpc = tls_rows(work, body_file, args.duration, tls_engine)
    flask = None
    if not args.skip_flask:
        print("measuring the Flask way ...", file=sys.stderr)
        flask = flask_rows(body_file, args.duration)
    print("measuring W2 decode ...", file=sys.stderr)
    rates = decode_rates()
    torch_lines: list[str] = []
    if importlib.util.find_spec("torch") is not None:
        import torch_row

        torch_lines = torch_row.rows(body_file, args.duration)

    print()
    print("| what | figure |")
    print("|---|---|")
    for engine, lim in limits.items():
        best_batch = max(lim["images_per_s"], key=lambda b: lim["images_per_s"][b])
        print(f"| limit, {engine}: in-process batch 1, p50 | {lim['batch1_p50_ms']:.2f} ms |")
        print(f"| limit, {engine}: in-process batch 32 | {lim['images_per_s'][32]:,.0f} img/s |")
        print(f"| limit, {engine}: in-process batch 64 | {lim['images_per_s'][64]:,.0f} img/s |")
        print(
            f"| limit, {engine}: in-process best batch ({best_batch}) "
            f"| {lim['images_per_s'][best_batch]:,.0f} img/s |"
        )
    rows = [
        (f"shiba REST on {engine}, batching {'on' if batching else 'off'}", result)
        for (engine, batching), result in shiba.items()
    ]
    rows += [
        (f"shiba gRPC on {engine}, batching on (Python grpc.aio client)", result)
        for engine, result in shiba_grpc.items()
    ]
    rows += [
        (f"shiba v2 {_v2_label(kind)} on {engine}, batching on", result)
        for (engine, kind), result in shiba_v2.items()
    ]
    rows.append((f"shiba HTTPS REST on {tls_engine}, batching on", {64: tls_rest}))
    rows.append(
        (f"shiba TLS gRPC on {tls_engine}, batching on (Python grpc.aio client)", {64: tls_grpc})
    )
    if flask is not None:
        rows.append(("Flask + gunicorn (2 sync workers), TensorFlow", flask))
    for label, result in rows:
        for c, load in result.items():
            print(
                f"| {label}, W1 c={c} | {load.requests_per_s:,.0f} req/s, p50 {load.p50_ms:.2f} ms, "
                f"p99 {load.p99_ms:.2f} ms, {load.failures} failed of {load.requests} |"
            )
            if load.loop_us is not None:
                print(
                    f"| ... CPU per request at c={c}: event loop {load.loop_us:.0f} µs, "
                    f"whole server {load.server_us:.0f} µs, wrk {load.wrk_us:.0f} µs "
                    f"(2 cores = {2e6 / load.requests_per_s:.0f} µs per request) |"
                )
    for kind, (ref, ours) in rates.items():
        print(f"| W2 decode, {kind}: orjson + numpy / shiba | {ref:.0f} MB/s / {ours:.0f} MB/s |")

    def best(engine: str, c: int) -> Load:
        return max((shiba[engine, b][c] for b in (False, True)), key=lambda x: x.requests_per_s)

    for engine in engines:
        served = best(engine, 64).requests_per_s
        for batch in (64, 32):
            ratio = served / limits[engine]["images_per_s"][batch]
            print(
                f"| ratio: shiba c=64 on {engine} (best) / {engine} limit at batch {batch} "
                f"| {ratio:.2f} |"
            )
        lat = min(shiba[engine, b][1].p50_ms for b in (False, True))
        own = limits[engine]["batch1_p50_ms"]
        print(
            f"| c=1: shiba p50 on {engine} - {engine} in-process batch-1 p50 | {lat - own:+.2f} ms |"
        )
        if engine != "tensorflow":
            tf1 = limits["tensorflow"]["batch1_p50_ms"]
            tf64 = limits["tensorflow"]["images_per_s"][64]
            print(
                f"| c=1: shiba p50 on {engine} - TensorFlow in-process batch-1 p50 "
                f"| {lat - tf1:+.2f} ms |"
            )
            print(
                f"| ratio: shiba c=64 on {engine} (best) / TensorFlow limit at batch 64 "
                f"| {served / tf64:.2f} |"
            )
    for (engine, kind), result in shiba_v2.items():
        # v2 gRPC against TF Serving's gRPC, the REST kinds against TF Serving's REST JSON.
        base, base_label = (
            (shiba_grpc[engine], "TF Serving gRPC")
            if kind == "gRPC"
            else (shiba[engine, True], "TF Serving REST JSON")
        )
        for c in (1, 64):
            ratio = result[c].requests_per_s / base[c].requests_per_s
            print(
                f"| ratio: v2 {_v2_label(kind)} / {base_label} on {engine}, batching on, c={c} "
                f"| {ratio:.2f} |"
            )
        # CPU per request is steadier than req/s on a shared machine.
        v2_cpu, tf_cpu = result[64].server_us, shiba[engine, True][64].server_us
        if v2_cpu and tf_cpu:
            print(
                f"| ratio: server CPU per request, TF Serving REST JSON / v2 REST {kind} on "
                f"{engine}, c=64 | {tf_cpu / v2_cpu:.2f} |"
            )
    plain_rest = shiba[tls_engine, True][64].requests_per_s
    plain_grpc = shiba_grpc[tls_engine][64].requests_per_s
    print(
        f"| ratio: HTTPS / HTTP REST c=64 on {tls_engine}, batching on "
        f"| {tls_rest.requests_per_s / plain_rest:.2f} |"
    )
    print(
        f"| ratio: TLS / plaintext gRPC c=64 on {tls_engine}, batching on "
        f"| {tls_grpc.requests_per_s / plain_grpc:.2f} |"
    )
    ov_tf = best("openvino", 64).requests_per_s / best("tensorflow", 64).requests_per_s
    print(f"| ratio: shiba c=64 on OpenVINO / on TensorFlow | {ov_tf:.2f} |")
    if flask is not None:
        ratio = max(best(e, 64).requests_per_s for e in engines) / flask[64].requests_per_s
        print(f"| ratio: shiba c=64 (best) / Flask c=64 | {ratio:.2f} |")
    for line in torch_lines:
        print(line)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
